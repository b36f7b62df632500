"""Errors of the in-pod entrypoints, split by what the operator should do about them.

A ``PermanentError`` (exit code 2) means the input is wrong -- bad data, bad spec, wrong digest -- and running
the pod again cannot help, so the operator marks the resource Failed with the message. Anything else is an
unexpected error (exit code 1): the Job's backoff may retry it, and the message carries the exception type.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_PERMANENT = 2


class PermanentError(Exception):
    """Bad data or a bad request: retrying will not help. The message is shown to the user as is."""


class RequestError(PermanentError):
    """The request JSON is missing, unparseable or does not match the request model."""


class DataError(PermanentError):
    """The dataset cannot be read or breaks its schema / validation rules."""


class DigestMismatchError(DataError):
    """The dataset bytes do not hash to the pinned digest."""


class SpecError(PermanentError):
    """The training spec cannot be built: unknown column, wrong transform, estimator or parameter."""


class ArtifactConflictError(PermanentError):
    """An artifact already exists at the output path with different bytes (artifacts are written once)."""
