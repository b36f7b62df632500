"""`herder serve` as a real process on 127.0.0.1: refusal at startup, SIGTERM drain under load, tritonclient."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import http.client
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

HOST = "127.0.0.1"
ROW = [0.1 * i for i in range(4)]


class Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (builtins.open, (str(self.marker), "w"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = np.random.default_rng(0).normal(size=(200, 4))
    path = tmp_path_factory.mktemp("model") / "lr.skops"
    sio.dump(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), path)
    return path


def serve(args: list[str], tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "herder.cli", "serve", "--host", HOST, "--port", str(port),
           "--cache-dir", str(tmp_path / "cache"), *args]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ""})


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if get(port, "/v2/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not become ready")


@pytest.fixture
def running(model_file: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = serve(["--model-uri", str(model_file), "--sha256", sha(model_file), "--model-name", "lr",
                     "--drain-seconds", "0.5"], tmp_path, port)  # fmt: skip
    try:
        wait_ready(port, process)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def refused(args: list[str], tmp_path: Path) -> tuple[int, str, bool]:
    """Run a server that should refuse to start; also poll readiness while it runs."""
    port = free_port()
    process = serve(args, tmp_path, port)
    ever_ready = False
    while process.poll() is None:
        with contextlib.suppress(OSError):
            ever_ready |= get(port, "/v2/health/ready", timeout=0.2)[0] == 200
        time.sleep(0.05)
    _, err = process.communicate(timeout=30)
    return process.returncode, err.decode(), ever_ready


@pytest.fixture
def trap(tmp_path: Path) -> tuple[Path, Path, str]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Trap(marker)))
    return path, marker, sha(path)


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--format", "pickle", "--sha256", "GOOD"], 3, "refusing without --allow-unsafe-pickle"),
        (["--format", "pickle", "--allow-unsafe-pickle", "--sha256", "0" * 64], 3, "sha256 mismatch"),
        (["--format", "joblib", "--allow-unsafe-pickle"], 2, "requires --sha256"),
        (["--format", "pickle", "--allow-unsafe-pickle", "--allow-unverified-local"], 2, "requires --sha256"),
        (["--sha256", "GOOD"], 3, "not a readable skops file"),
        ([], 3, "no expected sha256 given"),
    ],
    ids=[
        "pickle-not-allowed",
        "pickle-allowed-digest-mismatch",
        "joblib-unpinned",
        "pickle-unverified-local",
        "pickle-as-skops",
        "no-digest",
    ],
)
def test_booby_trapped_pickle_is_refused_and_never_runs(
    trap: tuple[Path, Path, str], tmp_path: Path, extra: list[str], code: int, message: str
) -> None:
    path, marker, digest = trap
    args = ["--model-uri", str(path), *[digest if a == "GOOD" else a for a in extra]]
    returncode, err, ever_ready = refused(args, tmp_path)
    assert returncode == code, err
    assert message in err
    assert "herder serve:" in err
    assert "Traceback" not in err
    assert not ever_ready
    assert not marker.exists()


def test_digest_mismatch_of_a_skops_model_is_refused(model_file: Path, tmp_path: Path) -> None:
    returncode, err, ever_ready = refused(["--model-uri", str(model_file), "--sha256", "f" * 64], tmp_path)
    assert returncode == 3
    assert f"sha256 mismatch for {model_file}: expected {'f' * 64}, got {sha(model_file)}" in err
    assert not ever_ready


def test_metadata_for_another_artifact_is_refused(model_file: Path, tmp_path: Path) -> None:
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps({"name": "lr", "version": "1", "task": "classification", "sha256": "e" * 64,
                                "features": [{"name": f"f{i}"} for i in range(4)], "classes": [0, 1]}))  # fmt: skip
    args = ["--model-uri", str(model_file), "--sha256", sha(model_file), "--metadata-uri", str(meta)]
    returncode, err, _ = refused(args, tmp_path)
    assert returncode == 3
    assert f"metadata.json describes artifact sha256 {'e' * 64}" in err


def test_sigterm_under_load_drops_nothing(model_file: Path, tmp_path: Path) -> None:
    port = free_port()
    process = serve(["--model-uri", str(model_file), "--sha256", sha(model_file), "--model-name", "lr",
                     "--drain-seconds", "1", "--inject-latency-ms", "20"], tmp_path, port)  # fmt: skip
    wait_ready(port, process)
    body = json.dumps({"instances": [ROW]}).encode()
    results: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 15

    def client() -> None:
        # A load balancer's view: keep sending on a persistent connection until the server says it is going away.
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            for _ in range(500):
                if time.monotonic() > stop_at:
                    break
                try:
                    conn.request("POST", "/v1/models/lr:predict", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                except Exception as exc:
                    with lock:
                        failures.append(repr(exc))
                    return
                with lock:
                    results.append(response.status)
                if response.getheader("connection", "").lower() == "close":
                    return
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    in_flight_before = len(results)
    process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=20)
    process.wait(timeout=20)
    assert failures == []
    assert in_flight_before > 0
    assert len(results) > in_flight_before  # requests kept being answered during the drain
    assert set(results) == {200}
    assert process.returncode == 0
    with pytest.raises(ConnectionRefusedError):
        get(port, "/v2/health/live", timeout=0.5)


def test_readiness_flips_during_drain(running: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = running
    assert get(port, "/v2/health/ready")[0] == 200
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    status, body = get(port, "/v2/health/ready")
    assert status == 503
    assert b"draining" in body
    assert get(port, "/v2/health/live")[0] == 200
    assert process.wait(timeout=10) == 0


def test_tritonclient_works_unchanged(running: tuple[subprocess.Popen[bytes], int]) -> None:
    import tritonclient.http as httpclient

    _, port = running
    client = httpclient.InferenceServerClient(url=f"{HOST}:{port}")
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("lr")
    meta = client.get_model_metadata("lr")
    assert meta["name"] == "lr"
    assert [i["name"] for i in meta["inputs"]] == ["f0", "f1", "f2", "f3"]
    rows = np.asarray([ROW, [-v for v in ROW]], dtype=np.float64)
    for binary in (False, True):
        tensor = httpclient.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("predict", binary_data=binary),
                   httpclient.InferRequestedOutput("predict_proba", binary_data=binary)]  # fmt: skip
        result = client.infer("lr", [tensor], outputs=outputs, request_id=f"triton-{binary}")
        assert result.get_response()["id"] == f"triton-{binary}"
        assert result.as_numpy("predict").shape == (2,)
        proba = result.as_numpy("predict_proba")
        assert proba.shape == (2, 2)
        assert np.allclose(proba.sum(axis=1), 1.0)
    named = [httpclient.InferInput(f"f{i}", [2], "FP32") for i in range(4)]
    for i, tensor in enumerate(named):
        tensor.set_data_from_numpy(rows[:, i].astype(np.float32))
    assert client.infer("lr", named).as_numpy("predict").shape == (2,)
    client.close()


def test_dataframe_model_loads_pandas_on_demand(tmp_path: Path) -> None:
    """The CLI defers pandas while importing scikit-learn; a model fitted on a DataFrame must still work."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": ["a", "b", "a", "b"] * 10, "spend": np.arange(40.0)})
    pipeline = Pipeline(
        [
            ("prep", ColumnTransformer([("oh", OneHotEncoder(), ["plan"])], remainder="passthrough")),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame, frame["spend"] > 20)
    path = tmp_path / "p.skops"
    sio.dump(pipeline, path)
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps({"name": "p", "version": "1", "task": "classification", "sha256": sha(path),
                                "features": [{"name": "plan", "dtype": "string"}, {"name": "spend"}],
                                "classes": [False, True]}))  # fmt: skip
    port = free_port()
    args = ["--model-uri", str(path), "--sha256", sha(path), "--metadata-uri", str(meta), "--drain-seconds", "0"]
    process = serve(args, tmp_path, port)
    try:
        wait_ready(port, process)
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.request("POST", "/v1/models/p:predict", json.dumps({"instances": [{"plan": "a", "spend": 30.0}]}))
        response = conn.getresponse()
        assert response.status == 200, response.read()
        assert json.loads(response.read())["predictions"] == [True]
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
