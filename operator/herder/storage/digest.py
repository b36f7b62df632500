"""sha256 helpers: the one notion of identity for artifacts (addressed by digest, never overwritten)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


def normalise_sha256(value: str) -> str:
    """Accept 'sha256:<hex>' or '<hex>' in any case; return lowercase hex or raise ValueError."""
    text = value.strip().lower().removeprefix("sha256:")
    if not SHA256_RE.match(text):
        raise ValueError(f"not a sha256 hex digest: {value!r}")
    return text


def sha256_file(path: Path) -> str:
    """Hash a file in chunks (artifacts can be large; never read them whole just to hash)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
