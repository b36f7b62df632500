"""One error hierarchy for storage so that callers (the server's startup, the trainer) can report a single
clear line naming what was refused and why, instead of a traceback from deep inside fsspec or skops."""

from __future__ import annotations


class StorageError(Exception):
    """Base class: the artifact or its metadata could not be fetched, verified or loaded safely."""


class UnsupportedURIError(StorageError):
    """The URI's scheme is not one we fetch from, or its path tries to escape (``..`` segments)."""


class FetchError(StorageError):
    """The bytes could not be read from the URI (missing object, network refusal, permissions)."""


class ArtifactTooLargeError(StorageError):
    """The object is larger than the configured cap; we stop reading rather than fill the disk."""


class DigestRequiredError(StorageError):
    """No expected sha256 was given where one is mandatory (remote URIs, and always for pickle/joblib)."""


class DigestMismatchError(StorageError):
    """The bytes read do not hash to the expected sha256: the artifact is not the one that was approved."""


class UnsafeFormatError(StorageError):
    """A code-executing format (pickle/joblib) was requested without permission and a pinned digest."""


class UntrustedTypesError(StorageError):
    """A skops artifact references types that the server configuration does not trust."""


class MetadataError(StorageError):
    """metadata.json is not valid JSON, does not match the schema, or disagrees with the artifact."""
