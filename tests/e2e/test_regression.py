"""The regression example (with a random search) trains for real and registers a gated version."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.test_iris import cond, get, wait_cond
from tests.integration.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_diabetes_regression_example(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", str(ROOT / "examples" / "diabetes-regression.yaml"))
    assert wait_cond(ws, "dataset", "diabetes", "Ready")["status"]["rows"] == 442
    tj = wait_cond(ws, "trainingjob", "diabetes-search", "Succeeded", timeout=300)
    metrics = tj["status"]["metrics"]
    assert set(metrics) >= {"rmse", "mae", "r2"}
    assert float(metrics["r2"]) > 0.2
    mv = get(ws, "modelversion", "diabetes-v1")
    gate = mv["status"]["gate"]
    assert gate["metric"] == "rmse"
    assert gate["value"] == metrics["rmse"]
    assert gate["passed"] is (float(metrics["rmse"]) <= 65)
    assert cond(mv, "Rejected")["status"] == ("False" if gate["passed"] else "True")
    model = get(ws, "model", "diabetes")
    assert model["status"]["latestVersion"] == 1
    actions = [h["action"] for h in model["status"]["history"]]
    assert actions == (["Trained", "Promoted"] if gate["passed"] else ["Trained", "Rejected"])
    assert json.loads(ws.kubectl("get", "jobs", "-o", "json"))["items"][-1]["metadata"]["name"] in {
        "diabetes-search-train", "diabetes-validate-1"}
