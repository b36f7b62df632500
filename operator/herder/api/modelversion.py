"""ModelVersion: the immutable record of one trained (or externally registered) model -- artifact, digest,
lineage and metrics. Created by the operator when a TrainingJob succeeds, or by a user registering an artifact.
The spec can never change (CEL ``self == oldSelf``); what happens to the version lives on status."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from herder.api.common import (
    Conditions,
    DecimalMap,
    DecimalString,
    Digest,
    EvaluationMetric,
    LocalRef,
    Message,
    Name,
    Time,
    Uri,
    WireModel,
    rule,
    rules,
)
from herder.api.training import Estimator

ArtifactFormat = Literal["skops", "pickle", "joblib"]


class OnnxCheck(WireModel):
    """How the ONNX model compared with scikit-learn on the holdout when it was compiled."""

    rows: Annotated[int, Field(ge=1)]
    """Holdout rows compared."""
    label_mismatches: Annotated[int, Field(ge=0)]
    """Rows whose label differed (must be 0)."""
    max_abs_diff: DecimalString
    """Largest |onnx - scikit-learn| of a probability or regression value."""
    max_rel_diff: DecimalString
    """The same, relative to max(1, |value|); at most tolerance."""
    tolerance: DecimalString
    """Largest relative difference accepted."""
    estimator_precision: Literal["float64", "float32"]
    """Precision the estimator runs at (float32 for scikit-learn's trees, as in scikit-learn)."""


class OnnxArtifact(WireModel):
    """The compiled twin of the artifact, served by onnxruntime (no scikit-learn in the server)."""

    uri: Uri
    """Location of model.onnx."""
    digest: Digest
    """sha256 of model.onnx; the server refuses anything else."""
    check: OnnxCheck | None = None
    """The trainer's comparison with scikit-learn."""


class Artifact(WireModel):
    """The serialized model and what the server needs to load it safely."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!(has(self.onnx) && has(self.onnxFailure))", "an artifact has an ONNX twin or a reason it has none, "
             "not both", field_path=".onnxFailure"),
    ))

    uri: Uri
    """Location of the artifact file."""
    digest: Digest
    """sha256 of the artifact; the server refuses to load anything else."""
    format: ArtifactFormat = "skops"
    """Serialization: skops (safe, default), or pickle/joblib (only loaded when the server allows unsafe formats)."""
    metadata_uri: Uri | None = None
    """Location of metadata.json: feature names and dtypes, classes, and the baseline bins used for drift."""
    onnx: OnnxArtifact | None = None
    """The ONNX compilation of this artifact, when it converted and matched scikit-learn on the holdout."""
    onnx_failure: Message | None = None
    """Why there is no ONNX twin (a converter missing, a check that failed): the version serves from skops."""

    @model_validator(mode="after")
    def _one_onnx(self) -> Artifact:
        if self.onnx is not None and self.onnx_failure is not None:
            raise ValueError("an artifact has an ONNX twin or a reason it has none, not both")
        return self


class DatasetLineage(WireModel):
    """The data a version was trained on."""

    name: Name
    """Dataset name."""
    digest: Digest
    """Content digest trained on."""
    revision: Annotated[int, Field(ge=1)] | None = None
    """The Dataset revision trained on."""
    snapshot: Uri | None = None
    """Its content-addressed copy in the store: the training data can be read again after the source changed."""


class FeatureSetLineage(WireModel):
    """The feature transforms a version was trained with."""

    name: Name
    """FeatureSet name."""
    generation: Annotated[int, Field(ge=1)]
    """metadata.generation of the FeatureSet used."""


class Lineage(WireModel):
    """Where a version came from (absent for externally registered artifacts)."""

    training_job: Name | None = None
    """TrainingJob that produced it."""
    training_job_uid: Annotated[str, StringConstraints(max_length=64)] | None = None
    """uid of that TrainingJob (names can be reused)."""
    dataset: DatasetLineage | None = None
    """Dataset and digest."""
    feature_set: FeatureSetLineage | None = None
    """FeatureSet and generation."""
    estimator: Estimator | None = None
    """Estimator class and the final parameters (after search)."""
    libraries: Annotated[dict[str, Annotated[str, StringConstraints(max_length=64)]],
                         Field(max_length=32)] | None = None
    """Library versions at training time, e.g. {scikit-learn: 1.5.2, numpy: 2.1.0}."""
    image: Annotated[str, StringConstraints(max_length=512)] | None = None
    """Trainer image."""


class ModelVersionSpec(WireModel):
    """One immutable model version."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self == oldSelf", "spec is immutable: register a new ModelVersion instead", reason="FieldValueForbidden"),
    ))

    model_ref: LocalRef
    """Model this is a version of."""
    version: Annotated[int, Field(ge=1, le=1_000_000)]
    """Version number, unique per Model."""
    artifact: Artifact
    """The serialized model."""
    lineage: Lineage | None = None
    """Training provenance."""
    metrics: DecimalMap | None = None
    """Holdout metrics (decimal strings), e.g. {accuracy: "0.9667"}."""
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Free text, e.g. where an external artifact came from."""


# ---------------------------------------------------------------------------------------------- status
class GateResult(WireModel):
    """The promotion gate's verdict on this version, with the numbers."""

    metric: EvaluationMetric
    """Metric compared."""
    value: DecimalString | None = None
    """This version's value."""
    baseline: DecimalString | None = None
    """Production's value at the time (absent for the first version)."""
    relative_gain: DecimalString | None = None
    """(value - baseline) / |baseline|, direction-aware."""
    passed: bool
    """Whether the version passed."""
    evaluated_at: Time | None = None
    """When the gate ran."""
    message: Message | None = None
    """Explanation with the numbers."""


class ModelVersionStatus(WireModel):
    """What happened to this version."""

    observed_generation: int | None = None
    """metadata.generation the status was computed from."""
    conditions: Conditions | None = None
    """Ready (artifact verified) and Rejected (failed the gate or rolled back), with reasons."""
    gate: GateResult | None = None
    """Promotion gate result."""
    aliases: Annotated[list[Literal["production", "candidate"]], Field(max_length=2)] | None = None
    """Aliases currently pointing here."""
    deployed_by: Annotated[list[Name], Field(max_length=1000)] | None = None
    """ModelDeployments serving this version."""
    verified_at: Time | None = None
    """When the artifact digest was last verified."""
