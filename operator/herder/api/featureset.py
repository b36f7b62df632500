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
    cel_first_index,
    exactly_one_of,
    one_of_message,
    rule,
    rules,
)

ImputeStrategy = Literal["Mean", "Median", "MostFrequent", "Constant"]
ScaleMethod = Literal["Standard", "MinMax", "Robust", "MaxAbs"]
BucketizeStrategy = Literal["Uniform", "Quantile", "KMeans"]
UnknownCategories = Literal["Ignore", "Error", "InfrequentIfExist"]
Remainder = Literal["Drop", "Passthrough"]
IMPUTE_HINT = 'e.g. {strategy: Constant, fillValue: "0"} or {strategy: Median}'
ENCODERS = ("scale", "oneHot", "bucketize", "passthrough")
ENCODER_HINT = "e.g. scale: {} or oneHot: {} (impute may come with any of them)"
MAX_TRANSFORMS = 32
MAX_GROUP_COLUMNS = 256


class Impute(WireModel):
    """Fill missing values before the transform (scikit-learn SimpleImputer)."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.strategy == 'Constant' ? has(self.fillValue) : !has(self.fillValue)",
             "fillValue is required with strategy Constant and not allowed otherwise",
             value="'strategy ' + self.strategy + (has(self.fillValue) ? ' with fillValue' : ' without fillValue')",
             hint=IMPUTE_HINT),
    ))

    strategy: ImputeStrategy
    """Mean, Median, MostFrequent or Constant."""
    fill_value: Annotated[str, StringConstraints(max_length=256)] | None = None
    """Value used by strategy Constant (parsed by the column's type)."""

    @model_validator(mode="after")
    def _fill(self) -> Impute:
        if (self.strategy == "Constant") != (self.fill_value is not None):
            given = "with" if self.fill_value is not None else "without"
            raise ValueError(f"fillValue is required with strategy Constant and not allowed otherwise (got strategy "
                             f"{self.strategy} {given} fillValue); {IMPUTE_HINT}")
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

    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of(*ENCODERS, hint=ENCODER_HINT)))

    name: LabelName
    """Unique name of the group; prefixes the output feature names."""
    columns: Annotated[list[ColumnName], Field(min_length=1, max_length=MAX_GROUP_COLUMNS, json_schema_extra={
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
        chosen = [n for n, f in zip(ENCODERS, ("scale", "one_hot", "bucketize", "passthrough"), strict=True)
                  if getattr(self, f) is not None]
        if len(chosen) != 1:
            raise ValueError(one_of_message(ENCODERS, chosen, ENCODER_HINT))
        return self


COLUMNS_ONCE_MESSAGE = "each column may be in at most one transform"
COLUMNS_ONCE_HINT = "keep it in the group whose transform it needs and remove it from the others"
_ALL_COLUMNS = "self.map(t, t.columns).flatten()"
_TWICE = f"{_ALL_COLUMNS}.filter(c, {_ALL_COLUMNS}.filter(d, d == c).size() > 1)[0]"
_COLUMNS_ONCE = rule(
    f"{_ALL_COLUMNS}.distinct().size() == {_ALL_COLUMNS}.size()", COLUMNS_ONCE_MESSAGE,
    value=f"{_TWICE} + ' in ' + self[{cel_first_index('self', 't', f'{_TWICE} in t.columns')}].name + ' and ' + "
          f"self[self.transformList(i, t, {_TWICE} in t.columns, i)[1]].name",
    hint=COLUMNS_ONCE_HINT)
"""Each column in at most one group. ``distinct()`` is quadratic in the number of columns: the API server's
runtime budget per rule (1M) covers several hundred columns, far beyond a real FeatureSet. The static estimate
(what decides whether the CRD is accepted) sizes ``flatten()`` by the outer list, so it scales with
MAX_TRANSFORMS squared; 32 groups keep the message under the budget."""


class FeatureSetSpec(WireModel):
    """Feature transforms per column group."""

    dataset_ref: LocalRef | None = None
    """Dataset whose declared schema the transforms are checked against (columns exist, types fit)."""
    transforms: Annotated[list[Transform], Field(min_length=1, max_length=MAX_TRANSFORMS, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], **rules(_COLUMNS_ONCE)})]
    """Column groups and their transforms, applied side by side (a ColumnTransformer)."""
    remainder: Remainder = "Drop"
    """What happens to feature columns not named in any group: Drop or Passthrough."""

    @model_validator(mode="after")
    def _columns_once(self) -> FeatureSetSpec:
        groups: dict[str, list[str]] = {}
        for t in self.transforms:
            for c in t.columns:
                groups.setdefault(c, []).append(t.name)
        twice = [f"{c} in {names[0]} and {names[1]}" for c, names in groups.items() if len(names) > 1]
        if twice:  # the first, like the CEL message
            raise ValueError(f"{COLUMNS_ONCE_MESSAGE} (got {twice[0]}); {COLUMNS_ONCE_HINT}")
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
