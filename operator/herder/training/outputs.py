"""Writing results: files under a local path or an fsspec URI, written once, and the termination message.

Artifacts are immutable: a path that already holds *the same* bytes is fine (a retried pod that got as far as
writing before it died), different bytes are refused. Local files are written to a temporary name and renamed,
so a reader never sees half an artifact; s3 PUTs are atomic by nature. On S3 the check and the PUT are two
requests, so two writers of one key at the same moment could both pass the check; the keys are named by content
(snapshots) or by the TrainingJob's uid (artifacts), so such writers write the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import fsspec

from herder.storage.errors import StorageError
from herder.storage.uris import parse_uri
from herder.training.dataset import storage_options
from herder.training.errors import ArtifactConflictError, SpecError

TERMINATION_LIMIT = 3 * 1024


def join_uri(base: str, *parts: str) -> str:
    """Append path segments to a directory path or URI."""
    return "/".join([base.rstrip("/"), *parts])


def _local_path(uri: str) -> Path | None:
    try:
        parsed = parse_uri(uri)
    except StorageError as exc:
        raise SpecError(f"output location: {exc}") from exc
    if parsed.scheme in ("http", "https"):
        raise SpecError(f"output location {uri!r}: http(s) is read-only; use a path, file:// or s3://")
    return Path(parsed.path) if parsed.is_local else None


def write_once(uri: str, data: bytes) -> None:
    """Write *data* to *uri* unless the same bytes are already there; refuse to overwrite different bytes."""
    local = _local_path(uri)
    new_digest = hashlib.sha256(data).hexdigest()
    if local is not None:
        if local.exists():
            old = hashlib.sha256(local.read_bytes()).hexdigest()
            if old != new_digest:
                raise ArtifactConflictError(
                    f"{uri} already exists with sha256 {old}; refusing to overwrite it with {new_digest} "
                    "(artifacts are written once)"
                )
            return
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=local.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; the server may run as another user
            os.replace(tmp, local)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    fs, path = fsspec.core.url_to_fs(uri, **storage_options())
    if fs.exists(path):
        with fs.open(path, "rb") as handle:
            old = hashlib.sha256(handle.read()).hexdigest()
        if old != new_digest:
            raise ArtifactConflictError(
                f"{uri} already exists with sha256 {old}; refusing to overwrite it with {new_digest}"
            )
        return
    with fs.open(path, "wb") as handle:
        handle.write(data)


def write_replace(uri: str, data: bytes) -> None:
    """Write a result file that may legitimately be rewritten (validation results, trial scores)."""
    local = _local_path(uri)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=local.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, local)
        return
    fs, path = fsspec.core.url_to_fs(uri, **storage_options())
    with fs.open(path, "wb") as handle:
        handle.write(data)


def read_text(uri: str) -> str | None:
    """A small result file's text, or None when it does not exist."""
    local = _local_path(uri)
    if local is not None:
        return local.read_text() if local.exists() else None
    fs, path = fsspec.core.url_to_fs(uri, **storage_options())
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as handle:
        data: bytes = handle.read()
    return data.decode()


def truncate(text: str, limit: int = TERMINATION_LIMIT) -> str:
    """Cut *text* so its UTF-8 encoding fits in *limit* bytes."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "..."


def write_termination(path: str | None, text: str) -> None:
    """Kubernetes shows this file's content as the container's termination message (capped at ~3 KiB here).

    A failure to write it must never mask the real outcome, so errors are swallowed (the log still has it).
    """
    if not path:
        return
    with contextlib.suppress(OSError):
        Path(path).write_text(truncate(text))
