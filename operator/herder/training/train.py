"""`herder train`'s work: verified data -> validated -> Pipeline(features, estimator) -> evaluated -> artifact.

The model is fitted on the training split only, never refitted on all rows: the holdout metrics then describe
exactly the artifact that is served and gated (a refit on train+test would be a different, unevaluated model).
CV runs inside the training split, so the holdout is untouched by model selection too.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import skops
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

import herder
from herder.storage.metadata import ArtifactMetadata, BaselineProfile, FeatureDtype, FeatureSpec, OnnxArtifact
from herder.training.artifacts import dump_model, required_trusted_types
from herder.training.checks import summarise
from herder.training.dataset import load_dataset
from herder.training.errors import DataError, SpecError
from herder.training.estimators import build_estimator, configure, param_error
from herder.training.evaluation import check_metrics, cross_validate, cv_splitter, holdout_split, score_predictions
from herder.training.features import build_column_transformer, default_groups, feature_columns
from herder.training.onnx_export import OnnxExport, export_onnx
from herder.training.outputs import join_uri, write_once
from herder.training.profile import categorical_bins, numeric_bins
from herder.training.requests import TrainRequest
from herder.training.results import ValidationResult
from herder.training.search import (
    candidates,
    parsed_space,
    run_search,
    run_trial,
    scoring_for,
    select_best,
    strip_step,
    write_trial,
)
from herder.training.validate import profile_and_check

MODEL_FILE = "model.skops"
ONNX_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
SERVING_DTYPES: dict[str, FeatureDtype] = {"int": "int64", "float": "float64", "bool": "bool"}


@dataclass(frozen=True)
class TrainMode:
    """Normal training, one search trial (Indexed Job pod), or training with the best recorded trial."""

    trial_index: int | None = None
    select_best: bool = False


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "skops": skops.__version__,
        "herder": herder.__version__,
    }


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _check_target(request: TrainRequest, y: pd.Series) -> None:
    spec = request.schema_.column(request.target)
    assert spec is not None
    if request.task == "classification" and spec.type == "float":
        raise SpecError(f"target {request.target!r} is float; classification needs int, bool, string or category")
    if request.task == "regression" and not spec.is_numeric:
        raise SpecError(f"target {request.target!r} is {spec.type}; regression needs an int or float target")
    nulls = int(y.isna().sum())
    if nulls:
        raise DataError(f"target {request.target!r}: {nulls} nulls; training needs a label on every row")
    if request.task == "classification" and y.nunique() < 2:
        raise DataError(f"target {request.target!r} has a single class; classification needs at least two")


def _validated(request: TrainRequest, log: Callable[[str], None]) -> tuple[pd.DataFrame, ValidationResult]:
    loaded = load_dataset(request.dataset, request.schema_, request.dataset.expected_digest)
    log(f"[train] loaded {len(loaded.frame)} rows from {request.dataset.uri} (sha256 {loaded.digest} verified)")
    result = profile_and_check(loaded, request.dataset, request.schema_, request.validation, bins=request.bins)
    if result.problems:
        raise DataError(summarise(result.problems))
    log(f"[train] validated {len(request.schema_.columns)} columns against the schema: no problems")
    return loaded.frame, result


def _prediction_baseline(predicted: Any, request: TrainRequest, classes: list[Any] | None) -> Any:
    """Bins of the model's predictions on rows it was not fitted on (the holdout), like live traffic.

    Predictions on training rows are "too right" for flexible models (a forest nearly reproduces its training
    labels), so their distribution is a biased reference for live predictions; the holdout predictions are
    already computed for the metrics, so this costs nothing. Without a holdout the training rows are used.
    """
    if classes is not None:
        categorical = categorical_bins(np.asarray(predicted), classes)
        return None if categorical is None else categorical[0]
    numeric = numeric_bins(np.asarray(predicted, dtype=np.float64), request.bins, "quantile")
    return None if numeric is None else numeric[0]


@contextmanager
def fit_errors(pipeline: Pipeline, params: dict[str, Any], where: str = "estimator.params") -> Iterator[None]:
    """Map scikit-learn's rejections while fitting to permanent errors naming the estimator/parameter.

    A ValueError from ``fit`` (e.g. "Solver lbfgs supports only 'l2' or None penalties") is deterministic for
    this data and spec, so retrying cannot help; anything else stays an unexpected error.
    """
    try:
        yield
    except InvalidParameterError as exc:
        raise param_error(exc, params, where) from exc
    except ValueError as exc:
        name = type(pipeline.named_steps["estimator"]).__name__
        raise SpecError(f"fitting {name} with {params} failed: {exc}") from exc


def _summary_json(summary: dict[str, Any], limit: int = 2900) -> str:
    text = json.dumps(summary, sort_keys=True)
    if len(text) > limit:
        summary = {**summary, "metrics": {k: v for k, v in summary["metrics"].items() if not k.endswith("_std")}}
        text = json.dumps(summary, sort_keys=True)
    return text


def _search_stage(
    request: TrainRequest,
    mode: TrainMode,
    pipeline: Pipeline,
    *,
    x_train: pd.DataFrame,
    y_train: pd.Series,
    splitter: Any,
    log: Callable[[str], None],
) -> str | tuple[dict[str, Any], dict[str, Any]]:
    """Run one trial (returns its summary), or find the best parameters in process or from the trial files.

    Returns (best params, search lineage) unless in trial mode.
    """
    assert request.search is not None
    estimator = pipeline.named_steps["estimator"]
    space = parsed_space(request.search, set(estimator.get_params(deep=False)))
    metric = scoring_for(request.search, request.metric_names)
    all_candidates = candidates(request.search, space)
    if mode.trial_index is not None:
        if not 0 <= mode.trial_index < len(all_candidates):
            raise SpecError(f"--trial-index {mode.trial_index} is outside 0..{len(all_candidates) - 1}")
        candidate = all_candidates[mode.trial_index]
        log(f"[train] trial {mode.trial_index}/{len(all_candidates)}: {candidate}")
        with fit_errors(pipeline, strip_step(candidate), "search.space"):
            score = run_trial(pipeline, candidate, x_train, y_train, cv=splitter, metric=metric)
        uri = write_trial(request.output_dir, mode.trial_index, candidate, metric, score)
        log(f"[train] trial {mode.trial_index} {metric} score {score:.6f} -> {uri}")
        return json.dumps({"trial": mode.trial_index, "scoring": metric, "rankScore": score, "result": uri})
    if mode.select_best:
        index, best, best_score, metric = select_best(request.output_dir, len(all_candidates))
        log(f"[train] best trial {index} of {len(all_candidates)}: {metric}={best_score:.4f} {best}")
    else:
        with fit_errors(pipeline, strip_step(space), "search.space"):
            best, best_score, _ = run_search(
                pipeline, request.search, space, x_train, y_train, cv=splitter, metric=metric, log=log
            )
        index = next(i for i, c in enumerate(all_candidates) if strip_step(c) == best)
    info = {
        "kind": request.search.kind,
        "candidates": len(all_candidates),
        "scoring": metric,
        "bestIndex": index,
        "bestParams": best,
        "bestScore": best_score,
    }
    return best, info


def _compile(pipeline: Pipeline, features: list[FeatureSpec], request: TrainRequest, rows: pd.DataFrame,
             log: Callable[[str], None]) -> tuple[OnnxExport, OnnxArtifact | None, str | None]:
    """ONNX bytes proven on *rows* (the holdout), written beside the skops artifact; or the reason there are none.

    A failure here never fails the training: the version is served from skops and the reason is recorded.
    """
    started = time.perf_counter()
    compiled = export_onnx(pipeline, features, request.task, rows)
    if compiled.data is None or compiled.check is None:
        log(f"[train] ONNX: {compiled.failure} (the version serves from skops)")
        return compiled, None, None
    sha = hashlib.sha256(compiled.data).hexdigest()
    uri = join_uri(request.output_dir, ONNX_FILE)
    write_once(uri, compiled.data)
    log(f"[train] ONNX: compiled and checked on {compiled.check.describe()} in "
        f"{time.perf_counter() - started:.2f}s -> {uri} ({len(compiled.data)} bytes, sha256 {sha})")
    return compiled, OnnxArtifact(file=ONNX_FILE, sha256=sha, probabilities=compiled.probabilities,
                                  check=compiled.check.wire()), uri


def run_training(request: TrainRequest, mode: TrainMode = TrainMode(), log: Callable[[str], None] = print) -> str:
    """Do the whole job; returns the termination-message summary (JSON text). Raises PermanentError subclasses."""
    started = time.perf_counter()
    frame, validation = _validated(request, log)
    seed = request.evaluation.seed
    classification = request.task == "classification"
    groups = request.features if request.features is not None else default_groups(request.schema_)
    columns = feature_columns(groups, request.schema_)
    transformer = build_column_transformer(groups, request.schema_, seed)
    estimator, params = build_estimator(request.estimator.class_name, request.estimator.params, request.task, seed)
    metrics = request.metric_names
    check_metrics(metrics, estimator)
    pipeline = Pipeline([("features", transformer), ("estimator", estimator)])
    log(f"[train] pipeline: {len(groups)} feature groups over {len(columns)} columns -> {type(estimator).__name__}")

    y = frame[request.target]
    _check_target(request, y)
    x = frame[columns]
    x_train, x_test, y_train, y_test = holdout_split(x, y, request.evaluation.test_fraction_value, seed, classification)
    log(f"[train] split {len(x_train)} train / {0 if x_test is None else len(x_test)} holdout rows (seed {seed})")
    folds = request.evaluation.folds
    splitter = cv_splitter(y_train, folds, seed, classification) if folds >= 2 else None

    search_info: dict[str, Any] | None = None
    if request.search is not None:
        assert splitter is not None  # the request model requires folds >= 2 with a search
        stage = _search_stage(request, mode, pipeline, x_train=x_train, y_train=y_train, splitter=splitter, log=log)
        if isinstance(stage, str):
            return stage  # one trial of an Indexed Job: its score is written, no model
        best, search_info = stage
        configure(estimator, best, "search.space")
        params.update(best)
    elif mode.trial_index is not None or mode.select_best:
        raise SpecError("--trial-index and --select-best need a search in the request")

    results: dict[str, float] = {}
    if splitter is not None:
        with fit_errors(pipeline, params):
            results.update(cross_validate(pipeline, x_train, y_train, metrics=metrics, splitter=splitter, log=log))
    fit_started = time.perf_counter()
    with fit_errors(pipeline, params):
        pipeline.fit(x_train, y_train)
    log(f"[train] fitted on {len(x_train)} rows in {time.perf_counter() - fit_started:.2f}s")
    if x_test is not None and y_test is not None:
        predicted = pipeline.predict(x_test)
        holdout = score_predictions(pipeline, x_test, y_test, predicted, metrics)
        results.update(holdout)
        log("[train] holdout " + ", ".join(f"{k}={v:.4f}" for k, v in holdout.items()))
    else:
        predicted = pipeline.predict(x_train)
        results.update({m: results[f"cv_{m}"] for m in metrics})

    classes = [_python(c) for c in pipeline.classes_] if classification else None
    baseline = BaselineProfile(
        features=validation.baseline(columns).features,
        prediction=_prediction_baseline(predicted, request, classes),
    )
    data = dump_model(pipeline)
    sha = hashlib.sha256(data).hexdigest()
    trusted = required_trusted_types(data)
    specs = {c.name: c for c in request.schema_.columns}
    features = [FeatureSpec(name=c, dtype=SERVING_DTYPES.get(specs[c].type, "string")) for c in columns]
    compiled, onnx, onnx_uri = _compile(pipeline, features, request, x_test if x_test is not None else x_train, log)
    metadata = ArtifactMetadata(
        name=request.model_name,
        version=str(request.version),
        task=request.task,
        format="skops",
        sha256=sha,
        features=features,
        target=request.target,
        classes=classes,
        metrics=results,
        lineage={
            "dataset": {"uri": request.dataset.uri, "digest": validation.digest, "rows": validation.rows},
            "split": {"trainRows": len(x_train), "holdoutRows": 0 if x_test is None else len(x_test)},
            "featureGroups": [g.model_dump(by_alias=True, exclude_none=True) for g in groups],
            "featureNames": [str(n) for n in transformer.get_feature_names_out()],
            "estimator": {"className": request.estimator.class_name, "params": params},
            "search": search_info,
            "evaluation": request.evaluation.model_dump(by_alias=True, exclude_none=True) | {"metrics": metrics},
            "libraries": library_versions(),
            "trustedTypes": trusted,
        },
        baseline=baseline,
        onnx=onnx,
        onnx_failure=compiled.failure,
    )
    artifact_uri = join_uri(request.output_dir, MODEL_FILE)
    metadata_uri = join_uri(request.output_dir, METADATA_FILE)
    write_once(artifact_uri, data)
    write_once(metadata_uri, metadata.model_dump_json(indent=2).encode())
    log(f"[train] wrote {artifact_uri} ({len(data)} bytes, sha256 {sha}) and {metadata_uri}")
    log(f"[train] done in {time.perf_counter() - started:.2f}s")
    return _summary_json(
        {
            "sha256": sha,
            "artifact": artifact_uri,
            "metadata": metadata_uri,
            "metrics": results,
            "modelName": request.model_name,
            "version": request.version,
            "datasetDigest": validation.digest,
            "libraries": library_versions(),
            "params": {k: v if isinstance(v, str | int | bool) else str(v) for k, v in params.items() if v is not None},
            "trustedTypes": trusted,
            **({"onnx": {"artifact": onnx_uri, "sha256": onnx.sha256, "check": onnx.check}}
               if onnx is not None else {"onnxFailure": (compiled.failure or "")[:400]}),
        }
    )
