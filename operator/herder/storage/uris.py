"""URI validation: which schemes we read from and which paths we refuse.

fsspec will happily open dozens of protocols (including chained ones such as ``simplecache::`` or ``zip://``)
and resolve ``..``; a server that takes its artifact location from configuration should accept only the few
it is meant to use, so a typo or a hostile value fails loudly at startup instead of reading something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from herder.storage.errors import UnsupportedURIError

ALLOWED_SCHEMES: frozenset[str] = frozenset({"file", "http", "https", "s3"})


@dataclass(frozen=True)
class ParsedURI:
    """A validated URI: its scheme ('file' for bare local paths) and the string to hand to fsspec."""

    scheme: str
    uri: str
    path: str

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"


def parse_uri(uri: str, allowed: frozenset[str] = ALLOWED_SCHEMES) -> ParsedURI:
    """Validate *uri* and return its scheme and fsspec form; raise UnsupportedURIError naming the problem."""
    if not uri or not uri.strip():
        raise UnsupportedURIError("empty URI")
    if "\x00" in uri:
        raise UnsupportedURIError("URI contains a NUL byte")
    if "::" in uri:
        raise UnsupportedURIError(f"chained fsspec URIs are not allowed: {uri!r}")
    if "://" in uri:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        path = parts.path
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise UnsupportedURIError(f"file URIs must not name a host: {uri!r}")
    elif ":" in uri.split("/", 1)[0] and not uri.startswith("/"):
        # "ftp:foo" or "c:..." style: a scheme without slashes is never what we want.
        raise UnsupportedURIError(f"unsupported URI {uri!r}: expected {sorted(allowed)} or a local path")
    else:
        scheme, path = "file", uri
    if scheme not in allowed:
        raise UnsupportedURIError(f"unsupported URI scheme {scheme!r} in {uri!r}: allowed {sorted(allowed)}")
    decoded = unquote(path)
    segments = decoded.replace("\\", "/").split("/")
    if ".." in segments:
        raise UnsupportedURIError(f"path traversal ('..') is not allowed in {uri!r}")
    if scheme in ("http", "https", "s3") and not urlsplit(uri).netloc:
        raise UnsupportedURIError(f"{scheme} URI has no host or bucket: {uri!r}")
    return ParsedURI(scheme=scheme, uri=uri, path=decoded if scheme == "file" else path)
