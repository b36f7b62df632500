"""Fetch an object by URI into a local, content-addressed cache, hashing while copying.

Why copy even local files: we verify the bytes we will load, not a path that could change between the check
and the load. The cache entry is named by the digest (never by anything from the URI), so no URI can make us
write outside the cache directory, and a second start with the same digest does not download again.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herder.storage.digest import CHUNK, normalise_sha256, sha256_file
from herder.storage.errors import (
    ArtifactTooLargeError,
    DigestMismatchError,
    DigestRequiredError,
    FetchError,
    StorageError,
)
from herder.storage.uris import ParsedURI, parse_uri

DEFAULT_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class FetchedArtifact:
    """A verified local copy: where it is, its digest, and whether that digest was pinned by configuration."""

    path: Path
    sha256: str
    uri: str
    pinned: bool


def _open_remote(parsed: ParsedURI, storage_options: dict[str, Any]) -> Any:
    options = storage_options if parsed.scheme == "s3" else {}
    target = parsed.path if parsed.is_local else parsed.uri
    try:
        if parsed.is_local:
            return Path(target).expanduser().open("rb")  # as fsspec's local filesystem did (it expands ~)
        import fsspec  # only for remote schemes: a local artifact does not pay its ~1 MiB and ~10 ms at start-up

        return fsspec.open(target, "rb", **options).open()
    except FileNotFoundError as exc:
        raise FetchError(f"not found: {parsed.uri}") from exc
    except PermissionError as exc:
        raise FetchError(f"permission denied reading {parsed.uri}") from exc
    except StorageError:
        raise
    except Exception as exc:
        raise FetchError(f"cannot open {parsed.uri}: {type(exc).__name__}: {exc}") from exc


def _copy_hashing(source: Any, dest: Any, max_bytes: int, uri: str) -> str:
    digest = hashlib.sha256()
    total = 0
    while True:
        try:
            chunk = source.read(CHUNK)
        except Exception as exc:
            raise FetchError(f"error while reading {uri}: {type(exc).__name__}: {exc}") from exc
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise ArtifactTooLargeError(f"{uri} is larger than the cap of {max_bytes} bytes")
        digest.update(chunk)
        dest.write(chunk)
    return digest.hexdigest()


def fetch_verified(
    uri: str,
    cache_dir: Path,
    expected_sha256: str | None,
    *,
    allow_unpinned_local: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    storage_options: dict[str, Any] | None = None,
) -> FetchedArtifact:
    """Copy *uri* into *cache_dir* and verify it against *expected_sha256* before returning its local path.

    Without an expected digest only a local file is accepted, and only when *allow_unpinned_local* is set
    (a development convenience): its digest is then computed and reported, never trusted from elsewhere.
    """
    parsed = parse_uri(uri)
    expected = None
    if expected_sha256:
        try:
            expected = normalise_sha256(expected_sha256)
        except ValueError as exc:
            raise DigestMismatchError(str(exc)) from exc
    elif not (parsed.is_local and allow_unpinned_local):
        hint = "" if parsed.is_local else " (only local files may be used unpinned, and only when allowed)"
        raise DigestRequiredError(f"no expected sha256 given for {uri}{hint}")

    cache_dir.mkdir(parents=True, exist_ok=True)
    if expected is not None:
        cached = cache_dir / expected
        if cached.is_file() and sha256_file(cached) == expected:
            return FetchedArtifact(path=cached, sha256=expected, uri=uri, pinned=True)

    source = _open_remote(parsed, storage_options or {})
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=cache_dir)
    tmp = Path(tmp_name)
    try:
        with source, os.fdopen(fd, "wb") as dest:
            actual = _copy_hashing(source, dest, max_bytes, uri)
        if expected is not None and actual != expected:
            raise DigestMismatchError(f"sha256 mismatch for {uri}: expected {expected}, got {actual}")
        final = cache_dir / actual
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FetchedArtifact(path=final, sha256=actual, uri=uri, pinned=expected is not None)


def read_small(
    uri: str,
    *,
    expected_sha256: str | None = None,
    max_bytes: int = 16 * 1024**2,
    storage_options: dict[str, Any] | None = None,
) -> bytes:
    """Read a small document (metadata.json) through the same URI rules, capped and optionally pinned.

    Unlike artifacts it may be unpinned: it is parsed as data (never executed) and cross-checked against the
    artifact's digest by the caller.
    """
    parsed = parse_uri(uri)
    buffer = io.BytesIO()
    with _open_remote(parsed, storage_options or {}) as source:
        actual = _copy_hashing(source, buffer, max_bytes, uri)
    if expected_sha256:
        try:
            expected = normalise_sha256(expected_sha256)
        except ValueError as exc:
            raise DigestMismatchError(str(exc)) from exc
        if actual != expected:
            raise DigestMismatchError(f"sha256 mismatch for {uri}: expected {expected}, got {actual}")
    return buffer.getvalue()
