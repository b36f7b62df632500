"""The artifact formats the server understands, in a module that imports nothing heavy.

The server parses its configuration before it decides what to import: an ONNX server never loads scikit-learn,
skops or joblib, so the enum cannot live beside the deserialisers.
"""

from __future__ import annotations

from enum import StrEnum


class ArtifactFormat(StrEnum):
    """skops (safe, the default), ONNX (data, not code: run by onnxruntime), pickle/joblib (unsafe, opt-in)."""

    SKOPS = "skops"
    ONNX = "onnx"
    PICKLE = "pickle"
    JOBLIB = "joblib"
