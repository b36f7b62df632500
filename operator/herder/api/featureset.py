"""FeatureSet: feature transforms declared once per column group and shared by TrainingJobs. They become a
scikit-learn ColumnTransformer baked into the model pipeline, so serving applies exactly what training did."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from herder.api.common import (
    ColumnName,
    Conditions,
    LabelName,
    LocalRef,
    WireModel,
    exactly_one_of,
    rule,
    rules,
)

ImputeStrategy = Literal["Mean", "Median", "MostFrequent", "Constant"]
ScaleMethod = Literal["Standard", "MinMax", "Robust", "MaxAbs"]
BucketizeStrategy = Literal["Uniform", "Quantile", "KMeans"]
UnknownCategories = Literal["Ignore", "Error", "InfrequentIfExist"]
Remainder = Literal["Drop", "Passthrough"]


class Impute(WireModel):
    """Fill missing values before the transform (scikit-learn SimpleImputer)."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.strategy == 'Constant' ? has(self.fillValue) : !has(self.fillValue)",
             "fillValue is required with strategy Constant and not allowed otherwise"),
    ))

    strategy: ImputeStrategy
    """Mean, Median, MostFrequent or Constant."""
    fill_value: Annotated[str, StringConstraints(max_length=256)] | None = None
    """Value used by strategy Constant (parsed by the column's type)."""

    @model_validator(mode="after")
    def _fill(self) -> Impute:
        if (self.strategy == "Constant") != (self.fill_value is not None):
            raise ValueError("fillValue is required with strategy Constant and not allowed otherwise")
        return self


class Scale(WireModel):
    """Scale numeric columns."""

    method: ScaleMethod = "Standard"
    """Standard (zero mean, unit variance), MinMax, Robust (median/IQR) or MaxAbs."""


class OneHot(WireModel):
    """One-hot encode categorical columns."""

    handle_unknown: UnknownCategories = "Ignore"
    """What a category unseen in training becomes at prediction time: Ignore (all zeros) or Error."""
    max_categories: Annotated[int, Field(ge=2, le=1000)] | None = None
    """Keep at most this many most frequent categories; the rest share one column."""


class Bucketize(WireModel):
    """Discretize numeric columns into bins (scikit-learn KBinsDiscretizer, one-hot output)."""

    bins: Annotated[int, Field(ge=2, le=100)]
    """Number of bins."""
    strategy: BucketizeStrategy = "Quantile"
    """Uniform (equal width), Quantile (equal count) or KMeans."""


class Passthrough(WireModel):
    """Use the columns as they are (after optional imputation)."""


class Transform(WireModel):
    """What happens to one group of columns: optional imputation, then exactly one of scale, oneHot, bucketize or
    passthrough."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("scale", "oneHot", "bucketize", "passthrough")))

    name: LabelName
    """Unique name of the group; prefixes the output feature names."""
    columns: Annotated[list[ColumnName], Field(min_length=1, max_length=256, json_schema_extra={
        "x-kubernetes-list-type": "set"})]
    """Input columns of the group (each column in at most one group)."""
    impute: Impute | None = None
    """Fill missing values first."""
    scale: Scale | None = None
    """Scale numeric columns."""
    one_hot: OneHot | None = None
    """One-hot encode categorical columns."""
    bucketize: Bucketize | None = None
    """Bin numeric columns."""
    passthrough: Passthrough | None = None
    """Use the columns unchanged."""

    @model_validator(mode="after")
    def _one_transform(self) -> Transform:
        chosen = [n for n in ("scale", "one_hot", "bucketize", "passthrough") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("exactly one of scale, oneHot, bucketize, passthrough must be set")
        return self


class FeatureSetSpec(WireModel):
    """Feature transforms per column group."""

    dataset_ref: LocalRef | None = None
    """Dataset whose declared schema the transforms are checked against (columns exist, types fit)."""
    transforms: Annotated[list[Transform], Field(min_length=1, max_length=64, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]
    """Column groups and their transforms, applied side by side (a ColumnTransformer)."""
    remainder: Remainder = "Drop"
    """What happens to feature columns not named in any group: Drop or Passthrough."""

    @model_validator(mode="after")
    def _columns_once(self) -> FeatureSetSpec:
        seen: dict[str, str] = {}
        for t in self.transforms:
            for c in t.columns:
                if c in seen:
                    raise ValueError(f"column {c!r} is in transforms {seen[c]!r} and {t.name!r}")
                seen[c] = t.name
        return self


class FeatureSetStatus(WireModel):
    """What the last check of the transforms found."""

    observed_generation: int | None = None
    """metadata.generation the status was computed from."""
    conditions: Conditions | None = None
    """Ready (checked against the dataset schema) with reasons such as UnknownColumn, TypeMismatch."""
    input_columns: Annotated[list[ColumnName], Field(max_length=1024)] | None = None
    """Columns the transforms read, in order."""
    feature_names: Annotated[list[Annotated[str, StringConstraints(max_length=256)]],
                             Field(max_length=4096)] | None = None
    """Output feature names (known once checked against a dataset schema with categories)."""
