"""FeatureSet groups -> a scikit-learn ColumnTransformer, checked against the dataset schema first.

The transformer is baked into the model's Pipeline, so serving applies exactly the training transforms (no
train/serve skew). Checks happen before any data is touched and name the group and the column, because a
scikit-learn error from deep inside ``fit`` ("could not convert string to float") says neither.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

from herder.training.errors import SpecError
from herder.training.requests import ColumnSpec, DatasetSchema, FeatureGroup, Impute, Transforms, parse_decimal

CATEGORICAL_TYPES = frozenset({"string", "category", "bool"})
SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def default_groups(schema: DatasetSchema) -> list[FeatureGroup]:
    """Without a FeatureSet: numeric columns pass through (median-imputed if nullable), others are one-hot."""
    inputs = [c for c in schema.columns if c.name != schema.target]
    numeric = [c for c in inputs if c.is_numeric]
    categorical = [c for c in inputs if not c.is_numeric]
    groups: list[FeatureGroup] = []
    if numeric:
        impute = Impute(strategy="median") if any(c.nullable for c in numeric) else None
        groups.append(
            FeatureGroup(
                name="numeric",
                columns=[c.name for c in numeric],
                transforms=Transforms(impute=impute, passthrough=impute is None),
            )
        )
    if categorical:
        groups.append(
            FeatureGroup(
                name="categorical",
                columns=[c.name for c in categorical],
                transforms=Transforms.model_validate(
                    {"impute": {"strategy": "most_frequent"}, "oneHot": {"handleUnknown": "ignore"}}
                ),
            )
        )
    return groups


def _fill_value(group: str, spec: ColumnSpec, impute: Impute) -> Any:
    value = impute.fill_value
    if value is None or not spec.is_numeric:
        return value if value is None or spec.type == "bool" else str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        if isinstance(value, bool):
            raise ValueError("a boolean")
        return parse_decimal(value, "fillValue")
    except ValueError as exc:
        raise SpecError(
            f"feature group {group!r}: impute fillValue {value!r} is not a number for column {spec.name!r} "
            f"({spec.type})"
        ) from exc


def _check_group(group: FeatureGroup, schema: DatasetSchema) -> list[ColumnSpec]:
    specs: list[ColumnSpec] = []
    declared = [c.name for c in schema.columns]
    for name in group.columns:
        spec = schema.column(name)
        if spec is None:
            raise SpecError(
                f"feature group {group.name!r}: column {name!r} is not in the dataset schema "
                f"(columns: {', '.join(declared)})"
            )
        if name == schema.target:
            raise SpecError(f"feature group {group.name!r}: column {name!r} is the target; it cannot be a feature")
        specs.append(spec)
    if len(set(group.columns)) != len(group.columns):
        raise SpecError(f"feature group {group.name!r}: a column is listed twice")
    t = group.transforms
    for spec in specs:
        numeric = spec.is_numeric
        if t.scale is not None and not numeric:
            raise SpecError(
                f"feature group {group.name!r}: scale needs numeric columns, but column {spec.name!r} is {spec.type}"
            )
        if t.bucketize is not None and not numeric:
            raise SpecError(
                f"feature group {group.name!r}: bucketize needs numeric columns, but column "
                f"{spec.name!r} is {spec.type}"
            )
        if t.one_hot is not None and spec.type == "float":
            raise SpecError(
                f"feature group {group.name!r}: oneHot needs categorical, bool or int columns, but "
                f"column {spec.name!r} is float (bucketize it instead)"
            )
        if t.impute is not None and t.impute.strategy in ("mean", "median") and not numeric:
            raise SpecError(
                f"feature group {group.name!r}: impute strategy {t.impute.strategy!r} needs numeric "
                f"columns, but column {spec.name!r} is {spec.type}"
            )
        if not numeric and t.one_hot is None and t.impute is None and not t.passthrough:
            raise SpecError(
                f"feature group {group.name!r}: column {spec.name!r} is {spec.type}; estimators need "
                "numbers, so give it oneHot (or passthrough if you know the estimator copes)"
            )
    kinds = {s.type if s.type != "bool" else "string" for s in specs}
    if t.impute is not None and t.impute.strategy == "constant" and len(kinds) > 1:
        raise SpecError(
            f"feature group {group.name!r}: impute 'constant' needs columns of one kind, got {sorted(kinds)}"
        )
    return specs


def _group_transformer(group: FeatureGroup, specs: list[ColumnSpec], seed: int) -> Any:
    t = group.transforms
    steps: list[tuple[str, Any]] = []
    if t.impute is not None:
        fill = _fill_value(group.name, specs[0], t.impute)
        steps.append(("impute", SimpleImputer(strategy=t.impute.strategy, fill_value=fill, missing_values=np.nan)))
    if t.scale is not None:
        steps.append(("scale", SCALERS[t.scale.method]()))
    if t.one_hot is not None:
        steps.append(
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown=t.one_hot.handle_unknown,
                    max_categories=t.one_hot.max_categories,
                    sparse_output=False,
                ),
            )
        )
    if t.bucketize is not None:
        steps.append(
            (
                "bucketize",
                KBinsDiscretizer(
                    n_bins=t.bucketize.bins,
                    strategy=t.bucketize.strategy,
                    encode="onehot-dense",
                    quantile_method="averaged_inverted_cdf",
                    random_state=seed,
                ),
            )
        )
    if not steps:
        return "passthrough"
    return steps[0][1] if len(steps) == 1 else Pipeline(steps)


def feature_columns(groups: list[FeatureGroup], schema: DatasetSchema) -> list[str]:
    """The model's input columns: every column some group uses, in schema order (what requests must send)."""
    used = {name for g in groups for name in g.columns}
    return [c.name for c in schema.columns if c.name in used]


def build_column_transformer(groups: list[FeatureGroup], schema: DatasetSchema, seed: int) -> ColumnTransformer:
    """Check every group against the schema and assemble the ColumnTransformer (dense output)."""
    if not groups:
        raise SpecError("no feature groups: declare at least one group of input columns")
    entries = []
    for group in groups:
        specs = _check_group(group, schema)
        entries.append((group.name, _group_transformer(group, specs, seed), list(group.columns)))
    return ColumnTransformer(entries, remainder="drop", sparse_threshold=0.0)
