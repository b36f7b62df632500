"""iris and diabetes from a request file to artifact + metadata + termination message, loaded by the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from herder.serving.config import ServeConfig
from herder.serving.loading import load_served_model
from herder.storage.metadata import ArtifactMetadata, CategoricalBins, NumericBins, parse_metadata

from .conftest import DIABETES, IRIS, ROOT, Runner, diabetes_request, iris_request, sha256


def _serve(out: Path, tmp_path: Path, metadata: ArtifactMetadata) -> Any:
    """Load the artifact exactly as `herder serve` does: pinned sha256, metadata, trusted types from config."""
    config = ServeConfig(
        model_uri=str(out / "model.skops"),
        sha256=metadata.sha256,
        metadata_uri=str(out / "metadata.json"),
        trusted_types=tuple(metadata.lineage["trustedTypes"]),
        cache_dir=tmp_path / "cache",
    )
    return load_served_model(config)


def test_iris_trains_end_to_end_and_the_server_loads_it(train: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = train(iris_request(IRIS, out))
    assert outcome.code == 0, outcome.message
    summary = outcome.summary()
    assert summary["artifact"] == f"{out}/model.skops"
    assert summary["sha256"] == sha256(out / "model.skops")
    assert summary["datasetDigest"] == sha256(IRIS)
    assert summary["metrics"]["accuracy"] > 0.9
    assert {"f1", "roc_auc", "cv_accuracy", "cv_accuracy_std"} <= set(summary["metrics"])
    assert "[train] loaded 150 rows" in outcome.stdout
    assert "[train] cv 3/3" in outcome.stdout

    metadata = parse_metadata((out / "metadata.json").read_bytes())
    assert metadata.sha256 == summary["sha256"]
    assert metadata.name == "iris" and metadata.version == "1"
    assert metadata.classes == ["setosa", "versicolor", "virginica"]
    assert [f.name for f in metadata.features] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert metadata.metrics == summary["metrics"]
    lineage = metadata.lineage
    assert lineage["dataset"] == {"uri": str(IRIS), "digest": sha256(IRIS), "rows": 150}
    assert lineage["estimator"]["params"]["C"] == 1.0
    assert set(lineage["libraries"]) == {"python", "scikit-learn", "numpy", "pandas", "skops", "herder"}
    assert lineage["split"] == {"trainRows": 120, "holdoutRows": 30}
    assert metadata.baseline is not None
    assert set(metadata.baseline.features) == {f.name for f in metadata.features}
    assert isinstance(metadata.baseline.prediction, CategoricalBins)
    assert metadata.baseline.prediction.categories == ["setosa", "versicolor", "virginica"]

    served = _serve(out, tmp_path, metadata)
    rows = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float64)
    prediction = served.predict(rows, want_proba=True)
    assert prediction.labels.tolist() == ["setosa", "virginica"]
    assert prediction.proba is not None and prediction.proba.shape == (2, 3)


def test_diabetes_regression_with_a_tree_model_loads_with_its_trusted_types(train: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    request = diabetes_request(
        DIABETES,
        out,
        estimator={
            "className": "sklearn.ensemble.RandomForestRegressor",
            "params": {"n_estimators": 20, "max_depth": "6", "min_samples_leaf": 2},
        },
    )
    outcome = train(request)
    assert outcome.code == 0, outcome.message
    metrics = outcome.summary()["metrics"]
    assert {"rmse", "mae", "r2", "cv_rmse", "cv_r2"} <= set(metrics)
    assert metrics["rmse"] > 0 and 0.2 < metrics["r2"] < 1
    metadata = parse_metadata((out / "metadata.json").read_bytes())
    assert metadata.task == "regression" and metadata.classes is None
    assert metadata.lineage["trustedTypes"] == ["sklearn.tree._tree.Tree"]
    assert {f.name: f.dtype for f in metadata.features}["age"] == "int64"
    assert {f.name: f.dtype for f in metadata.features}["sex"] == "string"
    assert metadata.baseline is not None
    assert isinstance(metadata.baseline.prediction, NumericBins)
    assert isinstance(metadata.baseline.features["sex"], CategoricalBins)
    assert metadata.baseline.features["sex"].categories == ["female", "male"]

    served = _serve(out, tmp_path, metadata)
    row = [59, "male", 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
    prediction = served.predict(np.asarray([row], dtype=object), want_proba=False)
    assert 25 < float(prediction.labels[0]) < 346


def test_the_same_request_twice_gives_identical_metrics_and_bytes(train: Runner, tmp_path: Path) -> None:
    first = train(diabetes_request(DIABETES, tmp_path / "a"))
    second = train(diabetes_request(DIABETES, tmp_path / "b"))
    assert first.code == second.code == 0
    assert first.summary()["metrics"] == second.summary()["metrics"]
    assert first.summary()["sha256"] == second.summary()["sha256"]
    a = json.loads((tmp_path / "a" / "metadata.json").read_text())
    b = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert a == b


def test_a_retried_run_into_the_same_output_dir_succeeds_and_keeps_the_artifact(train: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = train(iris_request(IRIS, out))
    second = train(iris_request(IRIS, out))
    assert first.code == second.code == 0
    assert first.summary()["sha256"] == second.summary()["sha256"]


def test_an_existing_artifact_with_different_bytes_is_never_overwritten(train: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.skops").write_bytes(b"someone else's model")
    outcome = train(iris_request(IRIS, out))
    assert outcome.code == 2
    assert "already exists" in outcome.message and "refusing to overwrite" in outcome.message
    assert (out / "model.skops").read_bytes() == b"someone else's model"


def test_without_a_feature_set_numeric_pass_through_and_categories_are_one_hot(train: Runner, tmp_path: Path) -> None:
    request = diabetes_request(DIABETES, tmp_path / "out", features=None)
    del request["features"]
    outcome = train(request)
    assert outcome.code == 0, outcome.message
    metadata = parse_metadata((tmp_path / "out" / "metadata.json").read_bytes())
    assert [g["name"] for g in metadata.lineage["featureGroups"]] == ["numeric", "categorical"]
    assert "categorical__sex_male" in metadata.lineage["featureNames"]


def test_grid_search_in_process_picks_the_best_and_records_it(train: Runner, tmp_path: Path) -> None:
    request = iris_request(
        IRIS,
        tmp_path / "out",
        search={"kind": "grid", "space": {"C": ["0.01", "1.0"]}, "scoring": "accuracy"},
    )
    outcome = train(request)
    assert outcome.code == 0, outcome.message
    search = parse_metadata((tmp_path / "out" / "metadata.json").read_bytes()).lineage["search"]
    assert search["candidates"] == 2
    assert search["bestParams"] == {"C": 1.0}
    assert "[train] search grid: 2 candidates x 3 folds" in outcome.stdout


def test_trials_as_indexed_pods_then_select_best_matches_the_in_process_search(train: Runner, tmp_path: Path) -> None:
    search = {"kind": "random", "space": {"C": ["0.01", "0.1", "1.0", "10"]}, "trials": 3, "seed": 4}
    shared = tmp_path / "shared"
    for index in range(3):
        trial = train(iris_request(IRIS, shared, search=search), "--trial-index", str(index))
        assert trial.code == 0, trial.message
        assert json.loads(trial.message)["trial"] == index
        assert (shared / "trials" / f"{index}.json").exists()
    assert not (shared / "model.skops").exists()
    final = train(iris_request(IRIS, shared, search=search), "--select-best")
    assert final.code == 0, final.message
    in_process = train(iris_request(IRIS, tmp_path / "single", search=search))
    assert in_process.code == 0, in_process.message
    distributed = parse_metadata((shared / "metadata.json").read_bytes()).lineage["search"]
    single = parse_metadata((tmp_path / "single" / "metadata.json").read_bytes()).lineage["search"]
    assert distributed["bestParams"] == single["bestParams"]
    assert distributed["bestIndex"] == single["bestIndex"]
    assert final.summary()["metrics"] == in_process.summary()["metrics"]


def test_select_best_with_a_missing_trial_is_a_retryable_failure(train: Runner, tmp_path: Path) -> None:
    search = {"kind": "grid", "space": {"C": ["0.1", "1.0"]}}
    shared = tmp_path / "shared"
    assert train(iris_request(IRIS, shared, search=search), "--trial-index", "0").code == 0
    outcome = train(iris_request(IRIS, shared, search=search), "--select-best")
    assert outcome.code == 1
    assert outcome.message.startswith("MissingTrialsError: missing trial results for indices [1]")


def test_herder_train_runs_through_the_top_level_cli(tmp_path: Path) -> None:
    """The real pod entrypoint: `herder train` via herder.cli, request from the environment."""
    out = tmp_path / "out"
    log = tmp_path / "termination.log"
    env = {"HERDER_REQUEST_JSON": json.dumps(iris_request(IRIS, out)), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "herder.cli", "train", "--termination-log", str(log)],
        env={**env, "PYTHONPATH": str(ROOT / "operator")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[train] loaded 150 rows" in proc.stdout
    assert json.loads(log.read_text())["sha256"] == sha256(out / "model.skops")
