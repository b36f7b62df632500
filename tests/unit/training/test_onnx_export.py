"""Every allowlisted estimator behind every FeatureSet transform compiles to ONNX and answers like scikit-learn.

The pipelines are built by Herder's own builders (features.build_column_transformer, estimators.build_estimator),
so these are the graphs users get. Inputs include what breaks naive conversions: NaN where a numeric column is
imputed, categories and integers never seen in training, values far outside the training range, and values on
bucket edges. The ONNX side runs through the server's own predictor (herder.serving.onnx_model).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_regressor
from sklearn.pipeline import Pipeline

from herder.serving.onnx_model import OnnxPredictor, matrix_from_frame
from herder.storage.metadata_reader import FeatureSpec
from herder.training.estimators import ESTIMATOR_ALLOWLIST, build_estimator, estimator_class
from herder.training.features import build_column_transformer, feature_columns
from herder.training.onnx_export import TOLERANCE, convert, export_onnx, servable
from herder.training.requests import DatasetSchema, FeatureGroup

SCHEMA = DatasetSchema.model_validate({"columns": [
    {"name": "a", "type": "float", "nullable": True}, {"name": "b", "type": "int"},
    {"name": "c", "type": "string", "nullable": True}, {"name": "d", "type": "float"}, {"name": "e", "type": "float"},
    {"name": "y", "type": "string"}, {"name": "t", "type": "float"}], "target": "y"})
GROUPS = [FeatureGroup.model_validate(g) for g in [
    {"name": "imputed_scaled", "columns": ["a"],
     "transforms": {"impute": {"strategy": "median"}, "scale": {"method": "standard"}}},
    {"name": "int_onehot", "columns": ["b"], "transforms": {"oneHot": {"handleUnknown": "ignore"}}},
    {"name": "text", "columns": ["c"],
     "transforms": {"impute": {"strategy": "most_frequent"}, "oneHot": {"handleUnknown": "ignore"}}},
    {"name": "buckets", "columns": ["d"], "transforms": {"bucketize": {"bins": 4, "strategy": "quantile"}}},
    {"name": "raw", "columns": ["e"], "transforms": {"passthrough": True}},
]]
COLUMNS = feature_columns(GROUPS, SCHEMA)
DTYPES = {"float": "float64", "int": "int64"}
FEATURES = [FeatureSpec(name=c, dtype=DTYPES.get(SCHEMA.column(c).type, "string")) for c in COLUMNS]  # type: ignore[union-attr,arg-type]


def training_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows) * 100, "b": rng.integers(0, 5, rows),
                          "c": rng.choice(["x", "y", "z"], rows), "d": rng.normal(size=rows),
                          "e": rng.exponential(size=rows)})
    frame.loc[::7, "a"] = np.nan
    frame.loc[::11, "c"] = None
    score = frame.a.fillna(0) / 100 + frame.b + (frame.c == "x") + frame.d
    frame["y"] = np.where(score > 2.5, "high", np.where(score > 1, "mid", "low"))
    frame["t"] = frame.a.fillna(0) + 3 * frame.b + frame.d
    return frame


def edge_rows(train: pd.DataFrame, pipeline: Pipeline) -> pd.DataFrame:
    """Random rows plus the awkward ones: NaN where imputed, unseen values, extremes, exact bucket edges."""
    rows = training_frame(200, seed=1)[COLUMNS].copy()
    rows.loc[0, "c"] = "never-seen"
    rows.loc[1, "b"] = 99
    rows.loc[2, "d"] = 1e9
    rows.loc[3, "e"] = -1e9
    rows.loc[4, "a"] = np.nan
    rows.loc[5, "a"] = 1e12
    edges = pipeline.named_steps["features"].named_transformers_["buckets"].bin_edges_[0]
    for i, edge in enumerate(edges):
        rows.loc[6 + i, "d"] = edge
    rows.loc[20:, "a"] = train["a"].to_numpy()[: len(rows) - 20]  # training values, exactly
    return rows


def fitted(class_name: str) -> tuple[Pipeline, str, pd.DataFrame]:
    task = "regression" if is_regressor(estimator_class(class_name)()) else "classification"
    train = training_frame()
    estimator, _ = build_estimator(class_name, {}, task, 0)
    pipeline = Pipeline([("features", build_column_transformer(GROUPS, SCHEMA, 0)), ("estimator", estimator)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train[COLUMNS], train["t" if task == "regression" else "y"])
    return pipeline, task, train


@pytest.mark.parametrize("class_name", ESTIMATOR_ALLOWLIST, ids=lambda c: c.rsplit(".", 1)[1])
def test_every_allowlisted_estimator_compiles_and_matches_scikit_learn(class_name: str) -> None:
    pipeline, task, train = fitted(class_name)
    rows = edge_rows(train, pipeline)
    compiled = export_onnx(pipeline, FEATURES, task, rows)
    assert compiled.failure is None, compiled.failure
    assert compiled.data is not None and compiled.check is not None
    assert compiled.check.passed and compiled.check.label_mismatches == 0
    assert compiled.check.rows == len(servable(rows, FEATURES)) > 150

    # independently of the export's own check: the served predictor against scikit-learn, row by row
    classes = list(pipeline.classes_) if task == "classification" else None
    proba = task == "classification" and hasattr(pipeline, "predict_proba")
    predictor = OnnxPredictor(compiled.data, FEATURES, task, classes, probabilities=proba)
    served = servable(rows, FEATURES)
    labels, probabilities = predictor.predict(matrix_from_frame(served, FEATURES), True)
    expected = pipeline.predict(served)
    if task == "classification":
        assert labels.tolist() == expected.tolist()
        if proba:
            assert probabilities is not None
            np.testing.assert_allclose(probabilities, pipeline.predict_proba(served), rtol=0, atol=TOLERANCE)
        else:
            assert probabilities is None
    else:
        scale = np.maximum(1.0, np.abs(expected))
        assert (np.abs(labels - expected) / scale).max() <= TOLERANCE
    for start in range(5):  # one row at a time, as unbatched requests arrive
        one, _ = predictor.predict(matrix_from_frame(served.iloc[start:start + 1], FEATURES), False)
        if task == "classification":
            assert one.tolist() == labels[start:start + 1].tolist()
        else:  # a batch may sum in another order: the last bit can differ
            np.testing.assert_allclose(one, labels[start:start + 1], rtol=TOLERANCE)


def test_trees_behind_a_scaler_match_only_because_scaling_stays_in_float64() -> None:
    """The float32 trap: a float32 graph scales in float32 and sends rows down other branches."""
    pipeline, task, train = fitted("sklearn.ensemble.RandomForestClassifier")
    rows = servable(edge_rows(train, pipeline), FEATURES)
    good = export_onnx(pipeline, FEATURES, task, rows)
    assert good.check is not None and good.check.max_abs_diff < 1e-5
    assert good.check.estimator_precision == "float32"  # the trees themselves compare in float32, like sklearn


def test_a_model_that_differs_falls_back_with_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph that answers differently (here: another model's graph) is refused, with the numbers."""
    from herder.training import onnx_export

    pipeline, task, train = fitted("sklearn.linear_model.LogisticRegression")
    other, _, _ = fitted("sklearn.linear_model.LogisticRegression")
    shuffled = train["y"].sample(frac=1.0, random_state=3).to_numpy()
    other.fit(train[COLUMNS], shuffled)

    def wrong_graph(pipe: Any, features: Any, precision: str) -> bytes:
        return convert(other, features, precision)

    monkeypatch.setattr(onnx_export, "convert", wrong_graph)
    compiled = export_onnx(pipeline, FEATURES, task, servable(edge_rows(train, pipeline), FEATURES))
    assert compiled.data is None and compiled.check is None
    assert compiled.failure is not None
    assert compiled.failure.startswith("LogisticRegression pipeline not compiled: float64: differs from scikit-learn")
    assert "label mismatches" in compiled.failure and "tolerance 1e-05" in compiled.failure
    assert "; float32: differs" in compiled.failure  # every attempt is named


def test_a_converter_failure_is_a_reason_not_an_exception() -> None:
    """Boolean inputs have no skl2onnx one-hot converter: the version serves from skops and says why."""
    schema = DatasetSchema.model_validate({"columns": [{"name": "flag", "type": "bool"}, {"name": "x", "type": "float"},
                                                       {"name": "y", "type": "int"}], "target": "y"})
    groups = [FeatureGroup.model_validate({"name": "all", "columns": ["flag"],
                                           "transforms": {"oneHot": {"handleUnknown": "ignore"}}}),
              FeatureGroup.model_validate({"name": "num", "columns": ["x"], "transforms": {"passthrough": True}})]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"flag": rng.random(100) > 0.5, "x": rng.normal(size=100)})
    y = (frame.flag & (frame.x > 0)).astype(int)
    estimator, _ = build_estimator("sklearn.linear_model.LogisticRegression", {}, "classification", 0)
    pipeline = Pipeline([("features", build_column_transformer(groups, schema, 0)), ("estimator", estimator)])
    pipeline.fit(frame, y)
    features = [FeatureSpec(name="flag", dtype="bool"), FeatureSpec(name="x", dtype="float64")]
    compiled = export_onnx(pipeline, features, "classification", frame)
    if compiled.data is not None:  # a newer skl2onnx converts booleans: then it must match like any other
        assert compiled.check is not None and compiled.check.passed
        return
    assert compiled.failure is not None and "LogisticRegression pipeline not compiled" in compiled.failure
