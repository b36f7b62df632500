"""Configuration from flags and environment; loading a DataFrame pipeline with mixed dtypes from metadata."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from herder.serving.config import ConfigError, parse_config
from herder.serving.loading import load_served_model
from herder.storage.errors import MetadataError
from herder.storage.loader import ArtifactFormat
from tests.unit.serving.helpers import make_client, metric_value


def test_flags_win_over_environment_which_wins_over_defaults() -> None:
    env = {"HERDER_MODEL_URI": "s3://b/m.skops", "HERDER_PORT": "9000", "HERDER_MAX_BATCH_SIZE": "16",
           "HERDER_TRUSTED_TYPES": "a.B, c.D", "HERDER_METRICS": "false", "HERDER_SHA256": "a" * 64}  # fmt: skip
    config = parse_config(["--port", "9100"], env)
    assert config.model_uri == "s3://b/m.skops"
    assert config.port == 9100
    assert config.max_batch_size == 16
    assert config.batching
    assert config.trusted_types == ("a.B", "c.D")
    assert config.metrics is False
    assert config.host == "127.0.0.1"
    assert config.format is ArtifactFormat.SKOPS
    assert parse_config(["--model-uri", "m", "--no-metrics"], {}).metrics is False
    assert parse_config(["--model-uri", "m", "--trusted-type", "x.Y"], env).trusted_types == ("x.Y",)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "--model-uri (or HERDER_MODEL_URI) is required"),
        (["--model-uri", "m", "--port", "70000"], {}, "--port: '70000' is outside"),
        (["--model-uri", "m", "--max-batch-size", "x"], {}, "--max-batch-size: expected a number"),
        (["--model-uri", "m"], {"HERDER_METRICS": "maybe"}, "--metrics: expected true/false"),
        (["--model-uri", "m", "--payload-log-sample-rate", "1.5"], {}, "outside [0.0, 1.0]"),
        (["--model-uri", "m", "--format", "pickle"], {}, "requires --sha256"),
        (["--model-uri", "m", "--inject-error-rate", "nan"], {}, "--inject-error-rate"),
        (["--model-uri", "m", "--log-level", "loud"], {}, "unknown level"),
    ],
)
def test_invalid_configuration_names_the_flag(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(argv, env)
    assert message in str(info.value)


@pytest.fixture(scope="module")
def mixed_artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, size=200),
            "spend": rng.normal(50, 10, size=200),
            "plan": rng.choice(["basic", "pro", "max"], size=200),
            "member": rng.choice([True, False], size=200),
        }
    )
    target = np.where(frame["spend"] + 10 * (frame["plan"] == "pro") > 55, "yes", "no")
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("onehot", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(frame, target)
    root = tmp_path_factory.mktemp("mixed")
    path = root / "model.skops"
    sio.dump(pipeline, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = {
        "name": "churn", "version": 7, "task": "classification", "sha256": digest,
        "features": [{"name": "age", "dtype": "int64"}, {"name": "spend"}, {"name": "plan", "dtype": "string"},
                     {"name": "member", "dtype": "bool"}],
        "classes": ["no", "yes"],
        "baseline": {"features": {"plan": {"kind": "categorical", "categories": ["basic", "pro", "max"]},
                                  "spend": {"kind": "numeric", "edges": [40, 50, 60]}}},
    }  # fmt: skip
    (root / "metadata.json").write_text(json.dumps(meta))
    return path, root / "metadata.json", digest


def test_dataframe_pipeline_with_mixed_dtypes(mixed_artifact: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, meta, digest = mixed_artifact
    config = parse_config(["--model-uri", str(path), "--sha256", digest, "--metadata-uri", str(meta),
                           "--cache-dir", str(tmp_path)], {})  # fmt: skip
    model = load_served_model(config)
    assert (model.name, model.version) == ("churn", "7")
    assert model.needs_dataframe
    c = make_client(model)
    try:
        ok = c.request("POST", "/v1/models/churn:predict", {"instances": [
            {"age": 30, "spend": 70.0, "plan": "pro", "member": True},
            {"age": 45, "spend": 20.5, "plan": "newplan", "member": False}]})  # fmt: skip
        assert ok.status == 200, ok.body
        assert ok.json()["predictions"][0] in ("yes", "no")
        assert c.request("GET", "/v2/models/churn").json()["outputs"][0]["datatype"] == "BYTES"
        bad = c.request("POST", "/v1/models/churn:predict", {"instances": [[30, 70.0, 5, True]]})
        assert bad.status == 400
        assert "feature 'plan': expected a string, got number" in bad.error
        bad = c.request("POST", "/v1/models/churn:predict", {"instances": [[30, 70.0, "pro", 1]]})
        assert "feature 'member': expected a boolean, got number" in bad.error
        tensor = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
        bad = c.request("POST", "/v2/models/churn/infer", {"inputs": [tensor]})
        assert "datatype FP64 does not fit feature 'plan'" in bad.error
        named = c.request("POST", "/v2/models/churn/infer", {"inputs": [
            {"name": "age", "shape": [1], "datatype": "INT64", "data": [30]},
            {"name": "spend", "shape": [1], "datatype": "FP64", "data": [70.0]},
            {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["pro"]},
            {"name": "member", "shape": [1], "datatype": "BOOL", "data": [True]}]})  # fmt: skip
        assert named.status == 200, named.body
        assert named.json()["outputs"][0]["data"] == ok.json()["predictions"][:1]
        text = c.request("GET", "/metrics").body.decode()
        assert metric_value(text, "herder_feature_bin_total", feature="plan", bin="1") == 2  # pro, pro
        assert metric_value(text, "herder_feature_bin_total", feature="plan", bin="3") == 1  # unseen "newplan"
        assert metric_value(text, "herder_feature_bin_total", feature="spend", bin="3") == 2  # 70.0 >= 60
    finally:
        c.close()


def test_metadata_must_match_the_estimator(mixed_artifact: tuple[Path, Path, str], tmp_path: Path) -> None:
    path, meta, digest = mixed_artifact
    doc = json.loads(meta.read_text())
    doc["features"] = list(reversed(doc["features"]))
    wrong = tmp_path / "metadata.json"
    wrong.write_text(json.dumps(doc))
    config = parse_config(["--model-uri", str(path), "--sha256", digest, "--metadata-uri", str(wrong),
                           "--cache-dir", str(tmp_path / "c")], {})  # fmt: skip
    with pytest.raises(MetadataError, match="feature names/order differ"):
        load_served_model(config)
    doc = json.loads(meta.read_text())
    doc["classes"] = ["a", "b"]
    wrong.write_text(json.dumps(doc))
    with pytest.raises(MetadataError, match="classes"):
        load_served_model(config)
    doc["format"] = "pickle"
    doc["classes"] = ["no", "yes"]
    wrong.write_text(json.dumps(doc))
    with pytest.raises(MetadataError, match="says format 'pickle'"):
        load_served_model(config)
