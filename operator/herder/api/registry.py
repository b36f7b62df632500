"""The one table of Herder's kinds: names, models, printer columns and object-level CEL rules. crdgen turns each
entry into a CustomResourceDefinition; controllers use it to parse bodies and to name plurals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from herder import API_GROUP, API_VERSION
from herder.api import objects
from herder.api.common import WireModel, rule
from herder.api.dataset import DatasetSpec, DatasetStatus
from herder.api.deployment import ModelDeploymentSpec, ModelDeploymentStatus
from herder.api.featureset import FeatureSetSpec, FeatureSetStatus
from herder.api.model import ModelSpec, ModelStatus
from herder.api.modelversion import ModelVersionSpec, ModelVersionStatus
from herder.api.training import TrainingJobSpec, TrainingJobStatus

CATEGORY = "herder"


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry of ``kubectl get``."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path,
                               "description": self.description}
        if self.priority:
            out["priority"] = self.priority
        return out


def condition_status(type_: str, name: str | None = None, priority: int = 0) -> PrinterColumn:
    """A column showing the status (True/False/Unknown) of condition ``type_``."""
    return PrinterColumn(name or type_.upper(), "string", f'.status.conditions[?(@.type=="{type_}")].status',
                         f"Status of the {type_} condition", priority)


def condition_reason(type_: str = "Ready", name: str = "STATUS", priority: int = 0) -> PrinterColumn:
    """A column showing the reason of condition ``type_`` (what it is doing or what is wrong)."""
    return PrinterColumn(name, "string", f'.status.conditions[?(@.type=="{type_}")].reason',
                         f"Reason of the {type_} condition", priority)


AGE = PrinterColumn("AGE", "date", ".metadata.creationTimestamp", "Time since creation")


@dataclass(frozen=True)
class KindInfo:
    """Everything generated code needs to know about one kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec_model: type[WireModel]
    status_model: type[WireModel]
    resource_model: type[objects.Resource[Any, Any]]
    printer_columns: tuple[PrinterColumn, ...]
    root_rules: tuple[dict[str, Any], ...] = field(default=())
    """CEL rules on the whole object (they can see metadata.name); rules on spec parts live on the models."""
    description: str = ""

    @property
    def group(self) -> str:
        return API_GROUP

    @property
    def version(self) -> str:
        return API_VERSION

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{API_GROUP}"


_SERVICE_NAME_RULE = rule(
    "size(self.metadata.name) <= 56 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    "metadata.name must be a DNS-1035 label of at most 56 characters (it names Services such as <name>-canary)",
    value="self.metadata.name", hint="e.g. iris-canary", reason="FieldValueInvalid", field_path=".metadata.name",
)
_JOB_NAME_RULE = rule(
    "size(self.metadata.name) <= 52",
    "metadata.name must be at most 52 characters (it names the Job and its pods)",
    value="self.metadata.name", hint="e.g. iris-v2", reason="FieldValueInvalid", field_path=".metadata.name",
)

KINDS: dict[str, KindInfo] = {
    "Dataset": KindInfo(
        "Dataset", "datasets", "dataset", ("dset",), DatasetSpec, DatasetStatus, objects.Dataset,
        (condition_status("Ready"), condition_reason(),
         PrinterColumn("FORMAT", "string", ".spec.source.format", "File format"),
         PrinterColumn("ROWS", "integer", ".status.rows", "Rows in the validated data"),
         PrinterColumn("DIGEST", "string", ".status.digest", "Content digest", priority=1), AGE),
        root_rules=(_JOB_NAME_RULE,),
        description="A tabular data source, validated and profiled by the operator.",
    ),
    "FeatureSet": KindInfo(
        "FeatureSet", "featuresets", "featureset", ("fset",), FeatureSetSpec, FeatureSetStatus, objects.FeatureSet,
        (condition_status("Ready"), condition_reason(),
         PrinterColumn("DATASET", "string", ".spec.datasetRef.name", "Dataset checked against"), AGE),
        description="Feature transforms per column group, shared by TrainingJobs.",
    ),
    "TrainingJob": KindInfo(
        "TrainingJob", "trainingjobs", "trainingjob", ("tj",), TrainingJobSpec, TrainingJobStatus,
        objects.TrainingJob,
        (PrinterColumn("MODEL", "string", ".spec.modelRef.name", "Model trained"),
         PrinterColumn("ESTIMATOR", "string", ".spec.estimator.class", "Estimator class"),
         condition_status("Ready"), condition_status("Succeeded"),
         PrinterColumn("VERSION", "integer", ".status.producedVersion", "ModelVersion produced"),
         condition_reason(), AGE),
        root_rules=(_JOB_NAME_RULE,),
        description="One training run of a Model, run by a batch/v1 Job.",
    ),
    "Model": KindInfo(
        "Model", "models", "model", ("mdl",), ModelSpec, ModelStatus, objects.Model,
        (PrinterColumn("TASK", "string", ".spec.task", "Classification or Regression"),
         PrinterColumn("LATEST", "integer", ".status.latestVersion", "Latest version"),
         PrinterColumn("PRODUCTION", "integer", ".status.aliases.production", "Version aliased production"),
         PrinterColumn("CANDIDATE", "integer", ".status.aliases.candidate", "Version aliased candidate"),
         condition_status("Ready"), condition_reason(priority=1), AGE),
        description="A model registry entry: versions, aliases, promotion gate, retraining and retention.",
    ),
    "ModelVersion": KindInfo(
        "ModelVersion", "modelversions", "modelversion", ("mv",), ModelVersionSpec, ModelVersionStatus,
        objects.ModelVersion,
        (PrinterColumn("MODEL", "string", ".spec.modelRef.name", "Model"),
         PrinterColumn("VERSION", "integer", ".spec.version", "Version number"),
         condition_status("Ready"), condition_status("Rejected"), condition_reason(priority=1),
         PrinterColumn("DIGEST", "string", ".spec.artifact.digest", "Artifact digest", priority=1), AGE),
        description="An immutable trained model: artifact, digest, lineage and metrics.",
    ),
    "ModelDeployment": KindInfo(
        "ModelDeployment", "modeldeployments", "modeldeployment", ("mdep",), ModelDeploymentSpec,
        ModelDeploymentStatus, objects.ModelDeployment,
        (PrinterColumn("MODEL", "string", ".spec.model.name", "Model served"),
         PrinterColumn("STABLE", "integer", ".status.stableVersion", "Version serving most traffic"),
         PrinterColumn("CANARY", "integer", ".status.canaryVersion", "Version being rolled out"),
         PrinterColumn("WEIGHT", "integer", ".status.canaryWeight", "Percent of traffic on the canary"),
         condition_status("Ready"),
         PrinterColumn("URL", "string", ".status.url", "Endpoint URL"),
         PrinterColumn("ALIAS", "string", ".spec.model.alias", "Alias followed", priority=1),
         PrinterColumn("STEP", "integer", ".status.currentStep", "Current canary step", priority=1),
         condition_reason(priority=1), AGE),
        root_rules=(_SERVICE_NAME_RULE,),
        description="A served model version with progressive rollout, analysis and automated rollback.",
    ),
}
"""kind -> KindInfo, in dependency order (data first, serving last)."""

BY_PLURAL: dict[str, KindInfo] = {k.plural: k for k in KINDS.values()}


def kind_info(kind_or_plural: str) -> KindInfo:
    """Look a kind up by kind, plural, singular or short name; KeyError names the choices."""
    for info in KINDS.values():
        if kind_or_plural in (info.kind, info.plural, info.singular, *info.short_names):
            return info
    raise KeyError(f"unknown Herder kind {kind_or_plural!r}; known: {', '.join(KINDS)}")
