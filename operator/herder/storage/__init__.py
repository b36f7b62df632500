"""Artifact storage: fetch by URI into a content-addressed cache, verify sha256, then load safely.

The order is the point: nothing is deserialised before its digest has been checked, and formats that can
execute code (pickle, joblib) are only opened when the operator explicitly allowed them *and* pinned a digest.
"""

from herder.storage.errors import (
    ArtifactTooLargeError,
    DigestMismatchError,
    DigestRequiredError,
    FetchError,
    MetadataError,
    StorageError,
    UnsafeFormatError,
    UnsupportedURIError,
    UntrustedTypesError,
)

__all__ = [
    "ArtifactTooLargeError",
    "DigestMismatchError",
    "DigestRequiredError",
    "FetchError",
    "MetadataError",
    "StorageError",
    "UnsafeFormatError",
    "UnsupportedURIError",
    "UntrustedTypesError",
]
