"""The regression example (with a random search) trains for real and registers a gated version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import Workspace, cond, get, wait_cond
from tests.integration.conftest import ROOT
from tests.integration.k8s import wait_until

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
    expected = ["Trained", "Promoted"] if gate["passed"] else ["Trained", "Rejected"]

    def model_with_history() -> dict[str, Any] | None:
        m = get(ws, "model", "diabetes")
        return m if [h["action"] for h in m.get("status", {}).get("history") or []] == expected else None

    model = wait_until(model_with_history, 30, what=f"Model history {expected}")
    assert model["status"]["latestVersion"] == 1
    # the search ran as an Indexed Job (one index per trial), then the best candidate was trained
    jobs = {j["metadata"]["name"]: j for j in json.loads(ws.kubectl("get", "jobs", "-o", "json"))["items"]}
    search = jobs["diabetes-search-search"]
    assert search["spec"]["completionMode"] == "Indexed"
    assert search["spec"]["completions"] == 6
    assert search["status"]["succeeded"] == 6
    assert "diabetes-search-train" in jobs
    assert tj["status"]["progress"]["completedTrials"] == 6
    # the winner is on the TrainingJob's status, as it is in the version's lineage
    assert tj["status"]["bestParams"] == mv["spec"]["lineage"]["estimator"]["params"]
    assert set(tj["status"]["bestParams"]) >= {"learning_rate", "max_depth", "min_samples_leaf"}, tj["status"]
