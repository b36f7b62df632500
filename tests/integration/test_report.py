"""``herder report`` against the real API server: a Model and its ModelVersions created directly (plain custom
objects, statuses written through the status subresource as the operator would), then the report read back
through the Kubernetes API -- and a clear error for a Model that does not exist."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from localcluster.cluster import LocalCluster

from herder.report import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "4f" * 32


@pytest.fixture
def ns(crds: LocalCluster, namespace: str) -> str:
    return namespace


def _create(cluster: LocalCluster, ns: str, body: dict[str, Any], status: dict[str, Any] | None = None) -> None:
    cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(body))
    if status is not None:
        plural = {"Model": "models", "ModelVersion": "modelversions", "ModelDeployment": "modeldeployments"}
        cluster.kubectl("patch", plural[body["kind"]], body["metadata"]["name"], "-n", ns, "--subresource=status",
                        "--type=merge", "-p", json.dumps({"status": status}))


def _version(n: int, accuracy: str) -> dict[str, Any]:
    return {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelVersion", "metadata": {"name": f"churn-v{n}"},
            "spec": {"modelRef": {"name": "churn"}, "version": n,
                     "artifact": {"uri": f"s3://models/churn/{n}/model.skops", "digest": DIGEST},
                     "metrics": {"accuracy": accuracy}, "lineage": {"trainingJob": f"churn-retrain-{n}"}}}


def test_report_of_a_model_with_versions_history_and_drift(crds: LocalCluster, ns: str, tmp_path: Path) -> None:
    model = {"apiVersion": "herder.dev/v1alpha1", "kind": "Model", "metadata": {"name": "churn"},
             "spec": {"task": "Classification"}}
    _create(crds, ns, model, {
        "latestVersion": 2, "aliases": {"production": 2}, "productionMetrics": {"accuracy": "0.93"},
        "triggerMetrics": [{"name": "input-drift", "value": "0.31", "verdict": "Fail", "samples": 4000,
                            "version": 1, "measuredAt": "2026-11-27T06:00:00Z",
                            "features": {"tenure": "0.31", "plan": "0.02"},
                            "message": "largest PSI 0.31 on feature 'tenure' <b>"}],
        "history": [
            {"at": "2026-11-27T05:00:00Z", "action": "Trained", "version": 1, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T05:01:00Z", "action": "Promoted", "version": 1, "reason": "GatePassed"},
            {"at": "2026-11-27T06:00:00Z", "action": "RetrainTriggered", "reason": "DriftDetected",
             "metrics": {"input-drift": "0.31"}},
            {"at": "2026-11-27T06:20:00Z", "action": "Trained", "version": 2, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T06:25:00Z", "action": "Promoted", "version": 2, "fromVersion": 1,
             "reason": "GatePassed"}]})
    _create(crds, ns, _version(1, "0.91"))
    _create(crds, ns, _version(2, "0.93"), {"aliases": ["production"]})
    out = tmp_path / "report"

    assert main(["churn", "-n", ns, "--kubeconfig", str(crds.kubeconfig), "--output", str(out)]) == 0

    page = (out / "index.html").read_text()
    for image in ("versions.png", "drift.png", "timeline.png"):
        data = (out / image).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, image
        assert struct.unpack(">II", data[16:24])[0] > 300
        assert f'<img src="{image}"' in page
    assert f"Model churn ({ns})" in page and "churn-retrain-2" in page and "production: v2" in page
    assert "tenure=0.31" in page and "&lt;b&gt;" in page and "DriftDetected" in page


def test_missing_model_names_it_and_the_namespace(crds: LocalCluster, ns: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["nope", "-n", ns, "--kubeconfig", str(crds.kubeconfig), "--output", str(out)]) == 1
    assert f"Model 'nope' not found in namespace '{ns}'" in capsys.readouterr().err
    assert not out.exists()
