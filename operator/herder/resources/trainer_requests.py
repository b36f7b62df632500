"""Pure translation of Dataset / FeatureSet / TrainingJob specs into the one-JSON-document requests that
``herder validate`` and ``herder train`` take (herder.training.requests). The pods never talk to the API server;
everything they need is in the request, which also makes a run reproducible by hand.

Vocabulary differs on purpose between the two layers (the CRDs use Kubernetes-style PascalCase enums, the
trainer scikit-learn-style lower case); anything the trainer cannot do yet becomes a clear error here, before a
Job is created.
"""

from __future__ import annotations

from typing import Any

from herder.api.common import duration_seconds
from herder.api.dataset import DatasetSpec
from herder.api.featureset import FeatureSetSpec, Transform
from herder.api.training import ESTIMATORS, TrainingTemplate

COLUMN_TYPES = {"integer": "int", "float": "float", "boolean": "bool", "string": "string", "categorical": "category"}
TRAINER_METRICS = {"accuracy", "f1", "roc_auc", "rmse", "mae", "r2"}


class RequestError(ValueError):
    """The spec asks for something the trainer cannot do; the message names the field."""


def _source(spec: DatasetSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": spec.source.uri, "format": spec.source.format}
    if spec.source.csv is not None:
        out["options"] = {"delimiter": spec.source.csv.delimiter, "header": spec.source.csv.header}
    if spec.source.max_bytes is not None:
        out["maxBytes"] = spec.source.max_bytes
    if (w := spec.source.window) is not None:
        out["window"] = {"newest": w.newest} if w.newest is not None else \
            {"newerThanSeconds": duration_seconds(w.newer_than or "")}
    return out


def _schema(spec: DatasetSpec) -> dict[str, Any]:
    columns = []
    for c in spec.schema_.columns:
        col: dict[str, Any] = {"name": c.name, "type": COLUMN_TYPES[c.type], "nullable": c.nullable}
        if c.min is not None:
            col["min"] = c.min
        if c.max is not None:
            col["max"] = c.max
        if c.categories:
            col["categories"] = list(c.categories)
        columns.append(col)
    out: dict[str, Any] = {"columns": columns}
    if spec.schema_.target:
        out["target"] = spec.schema_.target
    return out


def _rules(spec: DatasetSpec) -> dict[str, Any]:
    v = spec.validation
    if v is None:
        return {}
    out: dict[str, Any] = {}
    if v.max_null_fraction is not None:
        out["maxNullFraction"] = v.max_null_fraction
    if v.min_rows is not None:
        out["minRows"] = v.min_rows
    if v.max_duplicate_fraction is not None:
        out["maxDuplicateFraction"] = v.max_duplicate_fraction
    return out


def validate_request(spec: DatasetSpec, output_path: str, snapshot_dir: str | None = None,
                     references: list[dict[str, Any]] | None = None,
                     retention: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `herder validate` request; ``references`` are earlier revisions' profiles to measure drift against,
    ``retention`` the snapshots to keep when the pod sweeps the rest."""
    req: dict[str, Any] = {"source": _source(spec), "schema": _schema(spec), "validation": _rules(spec),
                           "outputPath": output_path}
    if snapshot_dir:
        req["snapshotDir"] = snapshot_dir
    if references:
        req["references"] = references
    if retention is not None and snapshot_dir:
        req["retention"] = retention
    if spec.source.digest:
        req["expectedDigest"] = spec.source.digest
    if spec.profile is not None:
        req["bins"] = spec.profile.bins
    return req


_IMPUTE = {"Mean": "mean", "Median": "median", "MostFrequent": "most_frequent", "Constant": "constant"}
_SCALE = {"Standard": "standard", "MinMax": "minmax", "Robust": "robust"}
_BUCKET = {"Uniform": "uniform", "Quantile": "quantile"}
_UNKNOWN = {"Ignore": "ignore", "Error": "error"}


def _group(i: int, t: Transform) -> dict[str, Any]:
    where = f"spec.transforms[{i}] ({t.name})"
    tr: dict[str, Any] = {}
    if t.impute is not None:
        tr["impute"] = {"strategy": _IMPUTE[t.impute.strategy]}
        if t.impute.fill_value is not None:
            tr["impute"]["fillValue"] = t.impute.fill_value
    if t.scale is not None:
        if t.scale.method not in _SCALE:
            raise RequestError(f"{where}.scale.method: {t.scale.method} is not supported by the trainer yet "
                               f"(supported: {', '.join(_SCALE)})")
        tr["scale"] = {"method": _SCALE[t.scale.method]}
    if t.one_hot is not None:
        if t.one_hot.handle_unknown not in _UNKNOWN:
            raise RequestError(f"{where}.oneHot.handleUnknown: {t.one_hot.handle_unknown} is not supported by the "
                               f"trainer yet (supported: {', '.join(_UNKNOWN)})")
        tr["oneHot"] = {"handleUnknown": _UNKNOWN[t.one_hot.handle_unknown]}
        if t.one_hot.max_categories is not None:
            tr["oneHot"]["maxCategories"] = t.one_hot.max_categories
    if t.bucketize is not None:
        if t.bucketize.strategy not in _BUCKET:
            raise RequestError(f"{where}.bucketize.strategy: {t.bucketize.strategy} is not supported by the "
                               f"trainer yet (supported: {', '.join(_BUCKET)})")
        tr["bucketize"] = {"bins": t.bucketize.bins, "strategy": _BUCKET[t.bucketize.strategy]}
    if t.passthrough is not None:
        tr["passthrough"] = True
    return {"name": t.name, "columns": list(t.columns), "transforms": tr}


def train_request(
    *, model_name: str, version: int, task: str, dataset: DatasetSpec, digest: str,
    features: FeatureSetSpec | None, template: TrainingTemplate, output_dir: str, snapshot: str | None = None,
) -> dict[str, Any]:
    """The request for one training run. ``digest`` is the Dataset's validated digest (the pin the trainer checks);
    ``snapshot`` the revision's copy in the store, read instead of the source, which may have changed since."""
    module, _ = ESTIMATORS[template.estimator.class_]
    req: dict[str, Any] = {
        "modelName": model_name, "version": version, "task": task.lower(),
        "dataset": {**_source(dataset), **({"uri": snapshot, "window": None} if snapshot else {}),
                    "expectedDigest": digest},
        "schema": _schema(dataset), "validation": _rules(dataset),
        "estimator": {"className": f"{module}.{template.estimator.class_}",
                      "params": dict(template.estimator.params or {})},
        "outputDir": output_dir,
    }
    if dataset.profile is not None:
        req["bins"] = dataset.profile.bins
    if features is not None:
        req["features"] = [_group(i, t) for i, t in enumerate(features.transforms)]
    ev = template.evaluation
    if ev is not None:
        evaluation: dict[str, Any] = {"testFraction": ev.test_fraction, "folds": ev.folds, "seed": ev.seed}
        if ev.metrics:
            unsupported = [m for m in ev.metrics if m not in TRAINER_METRICS]
            if unsupported:
                raise RequestError(f"spec.evaluation.metrics: {unsupported} not supported by the trainer yet "
                                   f"(supported: {sorted(TRAINER_METRICS)})")
            evaluation["metrics"] = list(ev.metrics)
        req["evaluation"] = evaluation
    if template.search is not None:
        s = template.search
        space: dict[str, list[Any]] = {}
        for d in s.space:
            if d.values is None:
                raise RequestError(f"spec.search.space[{d.param}].range: ranges are not supported by the trainer "
                                   "yet; list values instead")
            space[d.param] = list(d.values)
        search: dict[str, Any] = {"kind": s.strategy.lower(), "space": space, "trials": s.trials,
                                  "seed": ev.seed if ev else 0}
        if s.metric is not None:
            if s.metric not in TRAINER_METRICS:
                raise RequestError(f"spec.search.metric: {s.metric} not supported by the trainer yet")
            search["scoring"] = s.metric
        req["search"] = search
    return req
