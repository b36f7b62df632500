"""Request builders and a runner for the in-pod entrypoints (called in-process: same code path as the pod)."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from herder.training.cli import train_main, validate_main

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "examples" / "data"
IRIS = DATA / "iris.csv"
DIABETES = DATA / "diabetes.csv"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


IRIS_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "sepal_length", "type": "float", "min": "0", "max": "10"},
        {"name": "sepal_width", "type": "float", "min": "0", "max": "10"},
        {"name": "petal_length", "type": "float", "min": "0", "max": "10"},
        {"name": "petal_width", "type": "float", "min": "0", "max": "10"},
        {"name": "species", "type": "category", "categories": ["setosa", "versicolor", "virginica"]},
    ],
    "target": "species",
}

DIABETES_SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "age", "type": "int", "min": "0", "max": "120"},
        {"name": "sex", "type": "category", "categories": ["female", "male"]},
        {"name": "bmi", "type": "float"},
        {"name": "bp", "type": "float"},
        {"name": "tc", "type": "float"},
        {"name": "ldl", "type": "float"},
        {"name": "hdl", "type": "float"},
        {"name": "tch", "type": "float"},
        {"name": "ltg", "type": "float"},
        {"name": "glu", "type": "float"},
        {"name": "progression", "type": "float"},
    ],
    "target": "progression",
}


def iris_request(data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "modelName": "iris",
        "version": 1,
        "task": "classification",
        "dataset": {"uri": str(data), "format": "csv", "expectedDigest": sha256(data)},
        "schema": copy.deepcopy(IRIS_SCHEMA),
        "features": [
            {
                "name": "measurements",
                "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
                "transforms": {"impute": {"strategy": "median"}, "scale": {"method": "standard"}},
            }
        ],
        "estimator": {"className": "sklearn.linear_model.LogisticRegression", "params": {"C": "1.0", "max_iter": 500}},
        "evaluation": {"testFraction": "0.2", "folds": 3, "metrics": ["accuracy", "f1", "roc_auc"], "seed": 0},
        "outputDir": str(out),
    }
    request.update(overrides)
    return request


def diabetes_request(data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "modelName": "diabetes",
        "version": 3,
        "task": "regression",
        "dataset": {"uri": str(data), "format": "csv", "expectedDigest": sha256(data)},
        "schema": copy.deepcopy(DIABETES_SCHEMA),
        "features": [
            {
                "name": "numeric",
                "columns": ["age", "bmi", "bp", "tc", "ldl", "hdl", "tch", "ltg", "glu"],
                "transforms": {"scale": {"method": "robust"}},
            },
            {"name": "sex", "columns": ["sex"], "transforms": {"oneHot": {"handleUnknown": "ignore"}}},
        ],
        "estimator": {"className": "sklearn.linear_model.Ridge", "params": {"alpha": "0.5"}},
        "evaluation": {"testFraction": "0.25", "folds": 3, "metrics": ["rmse", "mae", "r2"], "seed": 7},
        "outputDir": str(out),
    }
    request.update(overrides)
    return request


@dataclass
class Outcome:
    code: int
    message: str
    stdout: str

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.message)
        return result


Runner = Callable[..., Outcome]


def _runner(main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    counter = iter(range(1_000_000))

    def run(request: dict[str, Any] | str, *extra: str) -> Outcome:
        n = next(counter)
        request_file = tmp_path / f"request-{n}.json"
        request_file.write_text(request if isinstance(request, str) else json.dumps(request))
        log = tmp_path / f"termination-{n}.log"
        code = main(["--request-file", str(request_file), "--termination-log", str(log), *extra])
        message = log.read_text() if log.exists() else ""
        assert len(message.encode()) <= 3 * 1024
        return Outcome(code=code, message=message, stdout=capsys.readouterr().out)

    return run


@pytest.fixture
def train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    return _runner(train_main, tmp_path, capsys)


@pytest.fixture
def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    return _runner(validate_main, tmp_path, capsys)


@pytest.fixture
def iris_copy(tmp_path: Path) -> Path:
    """A private copy of iris.csv that a test may edit."""
    path = tmp_path / "iris.csv"
    shutil.copy(IRIS, path)
    return path
