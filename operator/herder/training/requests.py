"""The JSON requests that `herder validate` and `herder train` take: one document each, nothing else.

They are deliberately decoupled from the CRDs: the operator translates a Dataset / TrainingJob (plus the
FeatureSet and the pinned digest it resolved) into one of these, so the pod never talks to the API server and
can be run by hand with the same input. Field names are camelCase on the wire (like the CRDs), unknown fields
are rejected (a typo must not be silently ignored), and numbers that are thresholds are decimal *strings*
(the project rule: no floats in specs), parsed here once.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from herder.storage.digest import normalise_sha256

ColumnType = Literal["int", "float", "string", "bool", "category"]
NUMERIC_TYPES: frozenset[str] = frozenset({"int", "float"})
Task = Literal["classification", "regression"]
MetricName = Literal["accuracy", "f1", "roc_auc", "rmse", "mae", "r2"]
CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "f1", "roc_auc")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
ParamValue = str | int | bool | None


def parse_decimal(text: str, what: str) -> float:
    """A decimal string ("0.01", "1e-3") as float; ValueError naming *what* otherwise."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"{what}: expected a decimal string, got {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"{what}: must be finite, got {text!r}")
    return float(value)


DecimalText = Annotated[str, Field(min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, protected_namespaces=()
    )


# --------------------------------------------------------------------------------------------- data source


class SourceOptions(_Model):
    """Reader options; only what csv needs today (parquet is self-describing)."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: bool = True


class PartWindow(_Model):
    """Which partitions of a glob or prefix source to read (herder.policy.partitions.Window)."""

    newest: int | None = Field(default=None, ge=1)
    newer_than_seconds: float | None = Field(default=None, gt=0)


class DataSource(_Model):
    """Where the bytes are and how to parse them."""

    uri: str = Field(min_length=1, max_length=4096)
    format: Literal["csv", "parquet"] = "csv"
    options: SourceOptions = Field(default_factory=SourceOptions)
    window: PartWindow | None = None
    """For a glob or prefix URI (many parts)."""
    max_bytes: int | None = Field(default=None, ge=1)
    """Cap on the bytes read (all parts together); the pod's HERDER_MAX_DATASET_BYTES when lower or unset."""


class ColumnSpec(_Model):
    """One declared column: its type and the values it may hold."""

    name: str = Field(min_length=1, max_length=256)
    type: ColumnType
    nullable: bool = False
    min: DecimalText | None = None
    max: DecimalText | None = None
    categories: list[str | int | bool] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if (self.min is not None or self.max is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"column {self.name!r}: min/max only apply to int or float columns, not {self.type}")
        low = parse_decimal(self.min, f"column {self.name!r} min") if self.min is not None else None
        high = parse_decimal(self.max, f"column {self.name!r} max") if self.max is not None else None
        if low is not None and high is not None and low > high:
            raise ValueError(f"column {self.name!r}: min {self.min} is greater than max {self.max}")
        if self.categories is not None and self.type not in ("category", "string", "int"):
            raise ValueError(f"column {self.name!r}: categories only apply to category, string or int columns")
        if self.categories is not None and len({str(c) for c in self.categories}) != len(self.categories):
            raise ValueError(f"column {self.name!r}: categories must be unique")
        return self

    @property
    def min_value(self) -> float | None:
        return None if self.min is None else parse_decimal(self.min, "min")

    @property
    def max_value(self) -> float | None:
        return None if self.max is None else parse_decimal(self.max, "max")

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


class DatasetSchema(_Model):
    """The declared columns (in any order; the data may have extra columns) and the optional target."""

    columns: list[ColumnSpec] = Field(min_length=1)
    target: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSchema:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names: {duplicates}")
        if self.target is not None and self.target not in names:
            raise ValueError(f"target {self.target!r} is not one of the columns {names}")
        return self

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)


class ValidationRules(_Model):
    """Dataset-wide rules on top of the per-column schema."""

    max_null_fraction: DecimalText | None = None
    min_rows: int | None = Field(default=None, ge=0)
    max_duplicate_fraction: DecimalText | None = None

    @field_validator("max_null_fraction", "max_duplicate_fraction")
    @classmethod
    def _fraction(cls, value: str | None) -> str | None:
        if value is not None and not 0.0 <= parse_decimal(value, "fraction") <= 1.0:
            raise ValueError(f"must be a decimal string between 0 and 1, got {value!r}")
        return value


def _digest(value: str | None) -> str | None:
    return None if value is None else normalise_sha256(value)


class DriftReference(_Model):
    """An earlier revision's profile (as on Dataset status) to measure the new content's drift against."""

    revision: int = Field(ge=1)
    profile: list[dict[str, object]] = Field(max_length=512)
    """``status.profile`` of that revision: its bins (edges or categories) and counts."""


class SnapshotRetention(_Model):
    """The operator's marks for the sweep (herder.policy.snapshot_retention): snapshots to keep, and the age below
    which an unlisted one is kept anyway."""

    keep: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(max_length=2000)
    min_age_seconds: int = Field(ge=0)


class ValidateRequest(_Model):
    """Input of `herder validate`: check a dataset against its schema and profile it."""

    source: DataSource
    schema_: DatasetSchema = Field(alias="schema")
    validation: ValidationRules = Field(default_factory=ValidationRules)
    expected_digest: str | None = None
    bins: int = Field(default=10, ge=2, le=100)
    bin_strategy: Literal["quantile", "uniform"] = "quantile"
    output_path: str | None = None
    snapshot_dir: str | None = Field(default=None, max_length=4096)
    """Where valid content is copied once, named by its digest (``<dir>/sha256/<hex>.<format>``), so training
    reads these bytes even after the source changed."""
    references: list[DriftReference] = Field(default_factory=list, max_length=4)
    """Revisions to compare with (the current one, and those production versions were trained on): the new
    content is counted into each one's bins and its per-column PSI reported."""
    retention: SnapshotRetention | None = None
    """Delete the unreferenced snapshots in snapshotDir after this validation (none without it)."""

    _check_digest = field_validator("expected_digest")(_digest)


# ----------------------------------------------------------------------------------------------- features


class Impute(_Model):
    strategy: Literal["mean", "median", "most_frequent", "constant"] = "mean"
    fill_value: str | int | bool | None = None

    @model_validator(mode="after")
    def _fill(self) -> Impute:
        if self.strategy == "constant" and self.fill_value is None:
            raise ValueError("impute strategy 'constant' needs fillValue")
        return self


class Scale(_Model):
    method: Literal["standard", "minmax", "robust"] = "standard"


class OneHot(_Model):
    handle_unknown: Literal["ignore", "error"] = "ignore"
    max_categories: int | None = Field(default=None, ge=2)


class Bucketize(_Model):
    bins: int = Field(default=5, ge=2, le=1000)
    strategy: Literal["uniform", "quantile"] = "quantile"


class Transforms(_Model):
    """Applied in a fixed order: impute, then at most one of scale / oneHot / bucketize (or passthrough)."""

    impute: Impute | None = None
    scale: Scale | None = None
    one_hot: OneHot | None = None
    bucketize: Bucketize | None = None
    passthrough: bool = False

    @model_validator(mode="after")
    def _one_encoder(self) -> Transforms:
        chosen = [n for n, v in (("scale", self.scale), ("oneHot", self.one_hot), ("bucketize", self.bucketize)) if v]
        if len(chosen) > 1:
            raise ValueError(f"choose at most one of scale, oneHot, bucketize (got {', '.join(chosen)})")
        if self.passthrough and chosen:
            raise ValueError(f"passthrough cannot be combined with {chosen[0]}")
        return self


class FeatureGroup(_Model):
    """A named group of columns that share transforms (one ColumnTransformer entry)."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    columns: list[str] = Field(min_length=1)
    transforms: Transforms = Field(default_factory=Transforms)


# ---------------------------------------------------------------------------------------------- estimator


class EstimatorSpec(_Model):
    class_name: str = Field(min_length=1, max_length=200)
    params: dict[str, ParamValue] = Field(default_factory=dict)


class SearchSpec(_Model):
    """Hyper-parameter search; every candidate is scored by CV on the training split."""

    kind: Literal["grid", "random"] = "grid"
    space: dict[str, list[ParamValue]] = Field(min_length=1)
    trials: int | None = Field(default=None, ge=1, le=10_000)
    seed: int = 0
    scoring: MetricName | None = None

    @field_validator("space")
    @classmethod
    def _non_empty(cls, space: dict[str, list[ParamValue]]) -> dict[str, list[ParamValue]]:
        empty = [k for k, v in space.items() if not v]
        if empty:
            raise ValueError(f"search space has no values for {empty}")
        return space


class Evaluation(_Model):
    test_fraction: DecimalText = "0.2"
    folds: int = Field(default=5, ge=0, le=100)
    metrics: list[MetricName] | None = None
    seed: int = 0

    @field_validator("test_fraction")
    @classmethod
    def _fraction(cls, value: str) -> str:
        if not 0.0 <= parse_decimal(value, "testFraction") < 1.0:
            raise ValueError(f"testFraction must be in [0, 1), got {value!r}")
        return value

    @field_validator("folds")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("folds must be 0 (no cross-validation) or at least 2")
        return value

    @property
    def test_fraction_value(self) -> float:
        return parse_decimal(self.test_fraction, "testFraction")


class TrainDataset(DataSource):
    """The dataset to train on, pinned: training refuses bytes that do not hash to expectedDigest."""

    expected_digest: str

    _check_digest = field_validator("expected_digest")(_digest)


class TrainRequest(_Model):
    """Input of `herder train`."""

    model_name: str = Field(min_length=1, max_length=253)
    version: int = Field(ge=1)
    task: Task
    dataset: TrainDataset
    schema_: DatasetSchema = Field(alias="schema")
    validation: ValidationRules = Field(default_factory=ValidationRules)
    features: list[FeatureGroup] | None = None
    estimator: EstimatorSpec
    search: SearchSpec | None = None
    evaluation: Evaluation = Field(default_factory=Evaluation)
    output_dir: str = Field(min_length=1, max_length=4096)
    bins: int = Field(default=10, ge=2, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> TrainRequest:
        if self.schema_.target is None:
            raise ValueError("schema.target is required for training")
        names = [g.name for g in self.features or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature group names: {duplicates}")
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        wrong = [m for m in self.evaluation.metrics or [] if m not in allowed]
        if self.search is not None and self.search.scoring is not None and self.search.scoring not in allowed:
            wrong.append(self.search.scoring)
        if wrong:
            raise ValueError(f"metrics {wrong} do not apply to {self.task}; use {list(allowed)}")
        if self.evaluation.folds == 0 and self.evaluation.test_fraction_value == 0.0:
            raise ValueError("evaluation needs a holdout (testFraction > 0) or cross-validation (folds >= 2)")
        if self.search is not None and self.evaluation.folds < 2:
            raise ValueError("search needs cross-validation: set evaluation.folds >= 2")
        return self

    @property
    def target(self) -> str:
        assert self.schema_.target is not None  # checked by the validator above
        return self.schema_.target

    @property
    def metric_names(self) -> list[str]:
        if self.evaluation.metrics:
            return list(dict.fromkeys(self.evaluation.metrics))
        return ["accuracy", "f1"] if self.task == "classification" else list(REGRESSION_METRICS)
