"""Which artifact of a ModelVersion a server runs, and what the ModelVersion's ``Compiled`` condition says.

A trained version has a skops artifact and, when the Pipeline converted and matched scikit-learn on the
holdout, an ONNX twin. ``runtime: Auto`` (the default) serves the twin when there is one -- onnxruntime, no
scikit-learn in the server, microseconds per row -- and skops otherwise; ``runtime: Skops`` always serves skops.
"""

from __future__ import annotations

from dataclasses import dataclass

from herder.api.modelversion import Artifact
from herder.policy.conditions import Cond


@dataclass(frozen=True)
class ServedArtifact:
    """The file a server loads: URI, sha256 digest (``sha256:...``) and format."""

    uri: str
    digest: str
    format: str


def served_artifact(artifact: Artifact, runtime: str = "Auto") -> ServedArtifact:
    """The ONNX twin under ``Auto`` when the version has one, else the primary artifact."""
    if runtime == "Auto" and artifact.onnx is not None:
        return ServedArtifact(artifact.onnx.uri, artifact.onnx.digest, "onnx")
    return ServedArtifact(artifact.uri, artifact.digest, artifact.format)


def compiled_condition(artifact: Artifact) -> Cond:
    """``Compiled``: True with the check's numbers, False with the reason, Unknown for external artifacts."""
    if artifact.onnx is not None:
        check = artifact.onnx.check
        detail = (f"; matched scikit-learn on {check.rows} holdout rows (0 label mismatches, max relative "
                  f"difference {check.max_rel_diff}, tolerance {check.tolerance}, estimator in "
                  f"{check.estimator_precision})") if check is not None else ""
        return Cond("Compiled", "True", "OnnxVerified", f"served by onnxruntime from {artifact.onnx.uri}{detail}")
    if artifact.onnx_failure:
        return Cond("Compiled", "False", "OnnxUnavailable", f"served from {artifact.format}: {artifact.onnx_failure}")
    return Cond("Compiled", "Unknown", "NoOnnxArtifact", f"no ONNX artifact recorded; served from {artifact.format}")
