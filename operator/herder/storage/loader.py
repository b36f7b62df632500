"""Deserialise a verified artifact: skops with trusted types from configuration; pickle/joblib on request.

The trusted-type list comes from the server's own configuration and never from the artifact: skops reports
the types an artifact references, and we refuse any that the configuration did not name. pickle and joblib can
run arbitrary code while loading, so they need both an explicit permission and a pinned digest (meaning a
person approved these exact bytes).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import Any

import joblib
import skops.io as sio

from herder.storage.errors import StorageError, UnsafeFormatError, UntrustedTypesError
from herder.storage.fetch import FetchedArtifact
from herder.storage.formats import ArtifactFormat

__all__ = ["ArtifactFormat", "check_loadable", "load_artifact", "untrusted_types"]


def check_loadable(fmt: ArtifactFormat, artifact: FetchedArtifact, allow_unsafe_pickle: bool) -> None:
    """Refuse a code-executing format unless explicitly allowed and digest-pinned (called before opening)."""
    if fmt is ArtifactFormat.SKOPS:
        return
    if not allow_unsafe_pickle:
        raise UnsafeFormatError(
            f"format {fmt.value!r} can execute code while loading; refusing without --allow-unsafe-pickle"
        )
    if not artifact.pinned:
        raise UnsafeFormatError(f"format {fmt.value!r} is only loaded with a pinned --sha256 digest")


def untrusted_types(artifact: FetchedArtifact, trusted: Iterable[str]) -> list[str]:
    """Types referenced by a skops artifact that are neither skops' defaults nor in *trusted*."""
    allowed = set(trusted)
    try:
        found: list[str] = sio.get_untrusted_types(file=str(artifact.path))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise StorageError(f"{artifact.uri} is not a readable skops file: {reason}") from exc
    return sorted(t for t in found if t not in allowed)


def _load_skops(artifact: FetchedArtifact, trusted: list[str]) -> Any:
    """One pass over the file: skops builds the tree, audits it against its defaults plus *trusted* and only
    then constructs objects. Only when that fails is the file read again, to name the untrusted types (or say
    it is not a skops file) -- the same checks as before, so the messages are unchanged."""
    try:
        return sio.load(str(artifact.path), trusted=trusted or None)
    except Exception as exc:
        load_error = exc
    refused = untrusted_types(artifact, trusted)
    if refused:
        raise UntrustedTypesError(
            f"{artifact.uri} references types not trusted by configuration: {', '.join(refused)} "
            "(add them with --trusted-type if you mean it)"
        )
    reason = f"{type(load_error).__name__}: {load_error}"
    raise StorageError(f"cannot load skops artifact {artifact.uri}: {reason}") from load_error


def load_artifact(
    artifact: FetchedArtifact,
    fmt: ArtifactFormat,
    *,
    trusted_types: Iterable[str] = (),
    allow_unsafe_pickle: bool = False,
) -> Any:
    """Load the verified artifact in *fmt*; raises a StorageError subclass with a one-line reason."""
    if fmt is ArtifactFormat.ONNX:
        raise StorageError("ONNX artifacts are loaded by herder.serving.onnx_model, not deserialised")
    check_loadable(fmt, artifact, allow_unsafe_pickle)
    trusted = list(trusted_types)
    if fmt is ArtifactFormat.SKOPS:
        return _load_skops(artifact, trusted)
    try:
        if fmt is ArtifactFormat.JOBLIB:
            return joblib.load(artifact.path)
        with artifact.path.open("rb") as handle:
            return pickle.load(handle)  # noqa: S301 - explicitly allowed and digest-pinned above
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise StorageError(f"cannot load {fmt.value} artifact {artifact.uri}: {reason}") from exc
