"""The ONNX twin that `herder train` writes, served by `herder serve --format onnx` as a real process on 127.0.0.1.

It answers exactly what the skops artifact answers (V1 and V2), never imports scikit-learn, scipy, skops or
pandas, and is refused when metadata.json does not name its digest.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from herder.storage.metadata import parse_metadata
from tests.unit.serving.test_process import free_port, serve, wait_ready
from tests.unit.training.conftest import DIABETES, IRIS, diabetes_request, iris_request

HOST = "127.0.0.1"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8]]


def post(port: int, path: str, body: Any) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def trained_iris(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from herder.training.cli import train_main

    root = tmp_path_factory.mktemp("iris")
    request = iris_request(IRIS, root / "out")
    (root / "request.json").write_text(json.dumps(request))
    assert train_main(["--request-file", str(root / "request.json")]) == 0
    return root / "out"


def server(out: Path, tmp_path: Path, fmt: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    meta = parse_metadata((out / "metadata.json").read_bytes())
    if fmt == "onnx":
        assert meta.onnx is not None
        args = ["--model-uri", str(out / meta.onnx.file), "--sha256", meta.onnx.sha256, "--format", "onnx"]
    else:
        trusted = ",".join(meta.lineage.get("trustedTypes") or [])
        args = ["--model-uri", str(out / "model.skops"), "--sha256", meta.sha256,
                *(["--trusted-type", trusted] if trusted else [])]
    port = free_port()
    process = serve([*args, "--metadata-uri", str(out / "metadata.json"), *extra], tmp_path, port)
    wait_ready(port, process)
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_metadata_records_the_onnx_twin_and_its_check(trained_iris: Path) -> None:
    meta = parse_metadata((trained_iris / "metadata.json").read_bytes())
    assert meta.onnx is not None and meta.onnx_failure is None
    assert (trained_iris / meta.onnx.file).is_file()
    import hashlib

    assert hashlib.sha256((trained_iris / meta.onnx.file).read_bytes()).hexdigest() == meta.onnx.sha256
    check = meta.onnx.check
    assert check["rows"] == 30 and check["labelMismatches"] == 0  # the iris holdout: 20% of 150
    assert check["maxRelDiff"] <= check["tolerance"] == 1e-5
    assert check["estimatorPrecision"] == "float64"
    import onnx

    graph = onnx.load(str(trained_iris / meta.onnx.file)).graph
    assert [i.name for i in graph.input] == ["matrix"]  # all-numeric: the request matrix is fed as is


def test_onnx_and_skops_servers_answer_the_same(trained_iris: Path, tmp_path: Path) -> None:
    onnx_proc, onnx_port = server(trained_iris, tmp_path / "a", "onnx")
    skops_proc, skops_port = server(trained_iris, tmp_path / "b", "skops")
    try:
        names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        v1 = {"instances": [dict(zip(names, r, strict=True)) for r in ROWS]}
        code_a, a = post(onnx_port, "/v1/models/iris:predict", v1)
        code_b, b = post(skops_port, "/v1/models/iris:predict", v1)
        assert code_a == code_b == 200
        assert a["predictions"] == b["predictions"]
        assert len(set(a["predictions"])) == 3
        v2 = {"inputs": [{"name": n, "shape": [len(ROWS)], "datatype": "FP64", "data": [r[i] for r in ROWS]}
                         for i, n in enumerate(names)], "parameters": {"probabilities": True}}
        code_a, a2 = post(onnx_port, "/v2/models/iris/infer", v2)
        code_b, b2 = post(skops_port, "/v2/models/iris/infer", v2)
        assert code_a == code_b == 200, (a2, b2)
        outputs_a = {o["name"]: o["data"] for o in a2["outputs"]}
        outputs_b = {o["name"]: o["data"] for o in b2["outputs"]}
        assert outputs_a.keys() == outputs_b.keys()
        for name, data in outputs_a.items():
            if all(isinstance(x, float) for x in data):
                assert data == pytest.approx(outputs_b[name], abs=1e-9)
            else:
                assert data == outputs_b[name]
    finally:
        stop(onnx_proc)
        stop(skops_proc)


def test_an_onnx_server_never_imports_scikit_learn(trained_iris: Path, tmp_path: Path) -> None:
    """Load the model and build the app exactly as `herder serve` does, then look at sys.modules."""
    meta = parse_metadata((trained_iris / "metadata.json").read_bytes())
    assert meta.onnx is not None
    script = f"""
import sys, os
from herder.serving.config import parse_config
from herder.serving.loading import load_served_model
from herder.serving import cli, app, dataplane, metrics, payload_log, server, drift, feedback
config = parse_config(["--model-uri", {str(trained_iris / meta.onnx.file)!r}, "--sha256", {meta.onnx.sha256!r},
                       "--format", "onnx", "--metadata-uri", {str(trained_iris / 'metadata.json')!r},
                       "--cache-dir", {str(tmp_path / 'cache')!r}], os.environ)
model = load_served_model(config)
import numpy as np
print(model.predict(np.array([[5.1, 3.5, 1.4, 0.2]]), True).labels.tolist())
print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'sklearn', 'scipy', 'skops', 'pandas', 'joblib'}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": ""}, check=True)
    labels, heavy = out.stdout.strip().splitlines()
    assert labels == "['setosa']"
    assert heavy == "[]"


def test_onnx_regression_twin_serves_like_skops(tmp_path: Path) -> None:
    from herder.training.cli import train_main

    request = diabetes_request(DIABETES, tmp_path / "out")
    (tmp_path / "request.json").write_text(json.dumps(request))
    assert train_main(["--request-file", str(tmp_path / "request.json")]) == 0
    meta = parse_metadata((tmp_path / "out" / "metadata.json").read_bytes())
    assert meta.onnx is not None, meta.onnx_failure
    row = {"age": 50, "sex": "male", "bmi": 25.0, "bp": 90.0, "tc": 200.0, "ldl": 120.0, "hdl": 50.0,
           "tch": 4.0, "ltg": 4.5, "glu": 90.0}
    onnx_proc, onnx_port = server(tmp_path / "out", tmp_path / "a", "onnx")
    skops_proc, skops_port = server(tmp_path / "out", tmp_path / "b", "skops")
    try:
        _, a = post(onnx_port, f"/v1/models/{meta.name}:predict", {"instances": [row]})
        _, b = post(skops_port, f"/v1/models/{meta.name}:predict", {"instances": [row]})
        assert a["predictions"] == pytest.approx(b["predictions"], rel=1e-5)
    finally:
        stop(onnx_proc)
        stop(skops_proc)


@pytest.mark.parametrize(("tamper", "message"), [
    ("digest", "metadata.json describes an ONNX artifact with sha256"),
    ("no-section", "metadata.json has no 'onnx' section"),
])
def test_an_onnx_file_metadata_does_not_name_is_refused(trained_iris: Path, tmp_path: Path, tamper: str,
                                                        message: str) -> None:
    from tests.unit.serving.test_process import refused

    doc = json.loads((trained_iris / "metadata.json").read_text())
    onnx_file = trained_iris / doc["onnx"]["file"]
    sha = doc["onnx"]["sha256"]
    if tamper == "digest":
        doc["onnx"]["sha256"] = "0" * 64
    else:
        del doc["onnx"]
    (tmp_path / "metadata.json").write_text(json.dumps(doc))
    code, err, ever_ready = refused(["--model-uri", str(onnx_file), "--sha256", sha, "--format", "onnx",
                                     "--metadata-uri", str(tmp_path / "metadata.json")], tmp_path)
    assert code == 3 and not ever_ready
    assert message in err


def test_onnx_without_metadata_is_a_configuration_error(trained_iris: Path, tmp_path: Path) -> None:
    from tests.unit.serving.test_process import refused

    code, err, _ = refused(["--model-uri", str(trained_iris / "model.onnx"), "--sha256", "0" * 64,
                            "--format", "onnx"], tmp_path)
    assert code == 2
    assert "--format onnx requires --metadata-uri" in err
