"""The payload log survives the pod: predictions and feedback in rotated parquet parts in the store.

In-process for the pieces (rotation by hour, the memory and disk caps, a store that refuses writes, S3 through a
moto server on 127.0.0.1, excluded features), and as a real `herder serve` process for the two ways a pod ends:
SIGTERM loses nothing, SIGKILL loses at most the last flush interval.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from herder.serving.payload_log import PayloadLog
from tests.unit.serving.helpers import make_client, metric_value
from tests.unit.serving.test_process import free_port, sha, wait_ready

ROWS = [[0.5, -0.2, 1], [-2.0, 0.3, 2], [1.5, 1.0, 0]]  # the numeric test model's three features
ROW4 = [0.1, 0.2, 0.3, 0.4]  # the process tests' LogisticRegression
HOUR = 3600.0
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def parts(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def records(root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts(root):
        out.extend(pq.read_table(part).to_pylist())
    return out


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_predictions_and_feedback_are_joinable_by_request_id(numeric_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = PayloadLog(str(tmp_path / "payloads"), sample_rate=1.0, model="m", version="1", pod="pod-a")
    c = make_client(numeric_model, payload_log=log)
    try:
        rid = c.request("POST", "/v1/models/m:predict", {"instances": ROWS}, {"x-request-id": "req-42"}).json()["id"]
        assert rid == "req-42"
        c.request("POST", "/v1/models/m:feedback", {"id": rid, "labels": [0, 0, 0]})
        text = c.request("GET", "/metrics").body.decode()
    finally:
        c.close()  # the drain: writes what is buffered
    [part] = parts(tmp_path / "payloads")
    assert part.relative_to(tmp_path / "payloads").parts[:2] == ("m", "v1")
    assert part.parent.parent.name.startswith("dt=") and part.parent.name.startswith("hour=")
    assert part.name.startswith("pod-a-")
    got = records(tmp_path / "payloads")
    assert [r["kind"] for r in got] == ["prediction", "feedback"]
    assert got[0]["id"] == got[1]["id"] == "req-42"
    assert json.loads(got[0]["inputs"]) == [[float(v) for v in row] for row in ROWS]
    assert len(json.loads(got[0]["outputs"])) == 3
    assert json.loads(got[1]["labels"]) == [0, 0, 0]
    assert metric_value(text, "herder_payload_log_records_total", model="m") == 1


def test_sample_rate_zero_writes_nothing(numeric_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = PayloadLog(str(tmp_path), sample_rate=0.0, model="m", version="1")
    c = make_client(numeric_model, payload_log=log)
    try:
        for _ in range(20):
            c.request("POST", "/v1/models/m:predict", {"instances": ROWS})
    finally:
        c.close()
    assert parts(tmp_path) == []


def test_parts_rotate_by_hour(tmp_path: Path) -> None:
    clock = Clock()
    log = PayloadLog(str(tmp_path), sample_rate=1.0, model="churn", version="7", pod="p", clock=clock)
    for i in range(5):
        log.write({"kind": "prediction", "id": f"a{i}", "inputs": [[i]], "outputs": [0]})
    clock.now += HOUR
    for i in range(3):
        log.write({"kind": "prediction", "id": f"b{i}", "inputs": [[i]], "outputs": [1]})
    assert log.flush() == 8
    hours = [p.parent.relative_to(tmp_path).as_posix() for p in parts(tmp_path)]
    assert hours == ["churn/v7/dt=2026-09-21/hour=14", "churn/v7/dt=2026-09-21/hour=15"]
    assert [len(pq.read_table(p)) for p in parts(tmp_path)] == [5, 3]
    assert log.flush() == 0  # nothing buffered, no empty part
    assert len(parts(tmp_path)) == 2


def test_memory_cap_drops_and_counts(tmp_path: Path) -> None:
    log = PayloadLog(str(tmp_path), sample_rate=1.0, max_buffer_records=10)
    for i in range(15):
        log.write({"kind": "prediction", "id": str(i)})
    assert log.dropped["memory_cap"] == 5
    assert log.flush() == 10


def test_near_the_hourly_budget_the_sample_rate_falls_to_zero(tmp_path: Path) -> None:
    clock = Clock()
    log = PayloadLog(str(tmp_path), sample_rate=1.0, max_bytes_per_hour=20_000, clock=clock)
    for round_ in range(40):
        for i in range(20):
            if log.sampled():
                log.write({"kind": "prediction", "id": f"{round_}-{i}", "inputs": [[i] * 20], "outputs": [i]})
        log.flush()
    assert log.dropped["disk_cap"] > 0
    assert not any(log.sampled() for _ in range(200))  # the budget is spent for this hour
    assert sum(p.stat().st_size for p in parts(tmp_path)) <= 20_000 + 4_000  # one part past the budget at most
    clock.now += HOUR  # a new hour: a new budget
    assert log.sampled()


def test_a_store_that_refuses_writes_keeps_the_records_for_later(tmp_path: Path) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the directory should be")
    log = PayloadLog(str(blocker / "payloads"), sample_rate=1.0, max_buffer_records=5)
    for i in range(3):
        log.write({"kind": "prediction", "id": str(i)})
    assert log.flush() == 0
    for i in range(3, 6):
        log.write({"kind": "prediction", "id": str(i)})
    assert log.flush() == 0
    assert log.dropped["store_error"] + log.dropped["memory_cap"] == 1  # 6 records, room for 5
    blocker.unlink()
    assert log.flush() == 5
    assert sorted(r["id"] for r in records(blocker)) == ["0", "1", "2", "3", "4"]


def test_excluded_features_are_written_as_null(numeric_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from herder.serving.app import HerderApp
    from herder.serving.dataplane import DataPlane, DataPlaneSettings
    from herder.serving.metrics import ServerMetrics
    from tests.unit.serving.helpers import Client

    log = PayloadLog(str(tmp_path), sample_rate=1.0, model="m", version="1")
    metrics = ServerMetrics(model=numeric_model)
    name = numeric_model.signature.names[1]
    dataplane = DataPlane(model=numeric_model, metrics=metrics, settings=DataPlaneSettings(), payload_log=log,
                          payload_exclude=(name,))
    metrics.ready = True
    c = Client(HerderApp(model=numeric_model, dataplane=dataplane, metrics=metrics), dataplane)
    try:
        c.request("POST", "/v1/models/m:predict", {"instances": ROWS})
    finally:
        c.close()
    [record] = records(tmp_path)
    assert [row[1] for row in json.loads(record["inputs"])] == [None, None, None]
    assert [row[0] for row in json.loads(record["inputs"])] == [r[0] for r in ROWS]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_parts_go_to_s3(s3: str) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", endpoint_url=s3)
    fs.mkdir("logs")
    log = PayloadLog("s3://logs/payloads", sample_rate=1.0, model="m", version="2", pod="p",
                     storage_options={"endpoint_url": s3})
    for i in range(4):
        log.write({"kind": "prediction", "id": str(i), "inputs": [[i]], "outputs": [i]})
    assert log.flush() == 4
    [key] = fs.glob("logs/payloads/m/v2/dt=*/hour=*/*.parquet")
    with fs.open(key, "rb") as handle:
        assert pq.read_table(handle).column("id").to_pylist() == ["0", "1", "2", "3"]


# ------------------------------------------------------------------------------------------ real processes
def _serve(model_file: Path, logdir: Path, port: int, flush_seconds: float) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "herder.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--cache-dir", str(logdir.parent / "cache"), "--model-uri", str(model_file), "--sha256", sha(model_file),
           "--model-name", "lr", "--drain-seconds", "0.2", "--payload-log", str(logdir),
           "--payload-log-flush-seconds", str(flush_seconds)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ""})


def _send(port: int, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(count):
            conn.request("POST", "/v1/models/lr:predict", body=json.dumps({"instances": [ROW4]}),
                         headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            assert reply.status == 200
    finally:
        conn.close()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(200, 4))
    path = tmp_path_factory.mktemp("model") / "lr.skops"
    sio.dump(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), path)
    return path


def test_sigterm_persists_every_record(model_file: Path, tmp_path: Path) -> None:
    port = free_port()
    process = _serve(model_file, tmp_path / "log", port, flush_seconds=3600)  # only the drain flushes
    try:
        wait_ready(port, process)
        _send(port, 200)
        assert parts(tmp_path / "log") == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert len(records(tmp_path / "log")) == 200


def test_sigkill_loses_at_most_one_flush_interval(model_file: Path, tmp_path: Path) -> None:
    port = free_port()
    process = _serve(model_file, tmp_path / "log", port, flush_seconds=0.5)
    try:
        wait_ready(port, process)
        _send(port, 150)
        time.sleep(1.5)  # three flush intervals: all of these are in the store
        _send(port, 50)
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    persisted = len(records(tmp_path / "log"))
    assert 150 <= persisted <= 200


def test_excluding_an_unknown_feature_is_a_configuration_error(model_file: Path, tmp_path: Path) -> None:
    from tests.unit.serving.test_process import refused

    code, err, ever_ready = refused(["--model-uri", str(model_file), "--sha256", sha(model_file),
                                     "--payload-log", str(tmp_path / "log"), "--payload-log-exclude", "emial"],
                                    tmp_path)
    assert code == 2 and not ever_ready
    assert "--payload-log-exclude names unknown features: emial" in err
