"""Drift end to end on a real ``herder serve`` process on 127.0.0.1: the trainer's baseline bins in metadata.json,
live traffic counted by the server, two scrapes of its /metrics, per-pod window counts, PSI and Jensen-Shannon.
Traffic drawn from the training distribution stays below the usual PSI alarm (0.1); the same traffic with one
feature shifted is flagged on that feature."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from herder.monitoring.builtin import Target, scrape_with_bins
from herder.policy.drift import DriftScrape, measure_drift, window_counts
from herder.storage.metadata import ArtifactMetadata, BaselineProfile, FeatureSpec
from herder.training.profile import categorical_bins, numeric_bins

HOST = "127.0.0.1"
FEATURES = ["f0", "f1", "f2", "f3"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, BaselineProfile]]:
    tmp = tmp_path_factory.mktemp("drift-live")
    x = np.random.default_rng(1).normal(size=(2000, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    artifact = tmp / "model.skops"
    sio.dump(model, artifact)
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    features = {}
    for i, name in enumerate(FEATURES):
        bins = numeric_bins(x[:, i], 10, "quantile")
        assert bins is not None
        features[name] = bins[0]
    prediction = categorical_bins(model.predict(x), [0, 1])
    assert prediction is not None
    metadata = ArtifactMetadata(name="churn", version="4", task="classification", sha256=digest,
                                features=[FeatureSpec(name=n) for n in FEATURES],
                                classes=[0, 1], baseline=BaselineProfile(features=features, prediction=prediction[0]))
    (tmp / "metadata.json").write_text(metadata.model_dump_json())
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "herder.cli", "serve", "--host", HOST, "--port", str(port), "--model-uri",
         str(artifact), "--sha256", digest, "--metadata-uri", str(tmp / "metadata.json"), "--cache-dir",
         str(tmp / "cache"), "--drain-seconds", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ""})
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        # the baseline as the operator reads it back from metadata.json
        baseline = ArtifactMetadata.model_validate_json((tmp / "metadata.json").read_text()).baseline
        assert baseline is not None
        yield port, baseline
    finally:
        process.kill()
        process.wait(timeout=30)


def _send(port: int, rows: np.ndarray) -> None:
    for start in range(0, len(rows), 250):
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            body = json.dumps({"instances": rows[start:start + 250].tolist()})
            conn.request("POST", "/v1/models/churn:predict", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200, response.read()
            response.read()
        finally:
            conn.close()


def _scrape(port: int) -> DriftScrape:
    def get(ip: str) -> str:
        with urllib.request.urlopen(f"http://{ip}:{port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    _, bins = scrape_with_bins([Target("churn-0/uid", HOST)], 4, get=get)
    assert not bins.unreachable
    return bins


def test_stationary_traffic_is_stable_and_a_shifted_feature_is_flagged(server: tuple[int, BaselineProfile]) -> None:
    port, baseline = server
    rng = np.random.default_rng(2)
    before = _scrape(port)
    _send(port, rng.normal(size=(3000, 4)))
    middle = _scrape(port)
    stationary = window_counts(before, middle)
    assert stationary.rows() == 3000 and stationary.predictions() == 3000

    psi = measure_drift("FeatureDriftPSI", baseline, stationary, 1000)
    assert psi.value is not None and psi.value < Decimal("0.1"), psi.message
    assert set(psi.features) == set(FEATURES)
    prediction = measure_drift("PredictionDriftPSI", baseline, stationary, 1000)
    assert prediction.value is not None and prediction.value < Decimal("0.1"), prediction.message

    shifted_rows = rng.normal(size=(3000, 4))
    shifted_rows[:, 2] += 1.5
    _send(port, shifted_rows)
    shifted = window_counts(middle, _scrape(port))  # only the second window's rows
    assert shifted.rows() == 3000
    drifted = measure_drift("FeatureDriftPSI", baseline, shifted, 1000)
    assert drifted.value is not None and drifted.value > Decimal("0.25"), drifted.message
    assert "feature 'f2'" in drifted.message and drifted.features["f2"] == drifted.value
    assert all(drifted.features[f] < Decimal("0.1") for f in ("f0", "f1", "f3")), drifted.features
    print(f"stationary: {psi.message}; {prediction.message}\nshifted: {drifted.message}")
    js = measure_drift("FeatureDriftJensenShannon", baseline, shifted, 1000)
    assert js.value is not None and "feature 'f2'" in js.message
