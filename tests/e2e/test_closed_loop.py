"""The whole loop, for real: drift in the serving traffic -> a retrain -> the gate -> the ModelDeployment that
follows production rolls the new version out by canary with live analysis -> production. Then a version that passes
the offline gate but fails live: the canary is aborted, the Model learns of it (history RolledBack, production back
to the version served), nothing is lost, and the guardrails stop a retrain storm while the drift goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import (
    IRIS,
    LOOP,
    Traffic,
    Workspace,
    cond,
    events,
    get,
    history,
    model,
    model_events,
    production,
    serving_pods,
    training_jobs,
    trigger_metric,
    wait_cond,
    wait_history,
)
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "closed"
WINDOW = 4.0
"""Seconds per drift window of the retraining trigger."""
STATIONARY_WINDOWS = 8
MAX_PER_DAY = 2
ROW = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()


class BoundedTraffic(Traffic):
    """Traffic (tests/e2e/helpers.py) that also stops by itself after ``seconds``."""

    def __init__(self, ws: Workspace, name: str, seconds: float) -> None:
        super().__init__(ws, name)
        self.deadline = threading.Timer(seconds, self.stop.set)
        self.deadline.daemon = True

    def run(self) -> None:
        self.deadline.start()
        try:
            super().run()
        finally:
            self.deadline.cancel()


def predict(ip: str) -> int:
    req = urllib.request.Request(f"http://{ip}:8080/v1/models/{NAME}:predict", method="POST", data=ROW,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def model_versions(ws: Workspace) -> dict[int, dict[str, Any]]:
    items = json.loads(ws.kubectl("get", "modelversions", "-o", "json"))["items"]
    return {int(i["spec"]["version"]): i for i in items if i["spec"]["modelRef"]["name"] == NAME}


def deployment_status(ws: Workspace) -> dict[str, Any]:
    return dict(get(ws, "modeldeployment", NAME).get("status") or {})


def settled_on(ws: Workspace, version: int) -> dict[str, Any] | None:
    """The ModelDeployment's status once it serves ``version`` only: stable, no canary, not progressing."""
    b = get(ws, "modeldeployment", NAME)
    st = b.get("status") or {}
    ok = (st.get("stableVersion") == version and st.get("canaryVersion") is None
          and cond(b, "Progressing").get("status") == "False" and cond(b, "Ready").get("status") == "True")
    return st if ok else None


def actions(h: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in h]


def test_drift_retrain_canary_promotion_then_a_live_failure_rolls_back(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    loop_model = model(NAME, cooldown="1h", maxPerDay=MAX_PER_DAY, triggers={
        "metrics": [{"name": "feature-drift", "metric": "FeatureDriftPSI", "threshold": {"max": "0.25"},
                     "window": f"{WINDOW:g}s", "minSamples": 100, "failureLimit": 2}]})
    first = {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": f"{NAME}-v1"},
             "spec": {**LOOP["spec"]["training"], "modelRef": {"name": NAME}}}
    deployment = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": NAME},
                  "spec": {"model": {"name": NAME, "alias": "production"}, "replicas": 2,
                           "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "5s"}]}},
                           "analysis": {"interval": "3s", "metrics": [
                               {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"},
                                "minSamples": 10, "failureLimit": 1}]},
                           "monitoring": {"interval": "3s", "onBreach": "Rollback", "metrics": [
                               {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"},
                                "minSamples": 10, "failureLimit": 2}]}}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], loop_model, first, deployment]))
    wait_until(lambda: settled_on(ws, 1), 300, what="version 1 served by the ModelDeployment")
    assert production(ws, NAME) == 1

    traffic = BoundedTraffic(ws, NAME, seconds=900)
    traffic.start()
    try:
        # 1. stationary traffic for many drift windows: conclusive passes, zero retrains, zero rollbacks
        wait_until(lambda: trigger_metric(ws, NAME, "feature-drift").get("verdict") == "Pass", 120,
                   what="a conclusive Pass of the drift check")
        windows: dict[str, dict[str, Any]] = {}

        def stationary_windows() -> bool:
            m = trigger_metric(ws, NAME, "feature-drift")
            if m.get("measuredAt"):
                windows[str(m["measuredAt"])] = m
            return len(windows) >= STATIONARY_WINDOWS

        wait_until(stationary_windows, STATIONARY_WINDOWS * WINDOW * 6, interval=1,
                   what=f"{STATIONARY_WINDOWS} drift windows of stationary traffic")
        assert all(m["verdict"] == "Pass" and m["samples"] >= 100 for m in windows.values()), windows
        assert training_jobs(ws, NAME) == [f"{NAME}-v1"]
        assert not any(e["action"] in ("RetrainTriggered", "RolledBack") for e in history(ws, NAME))
        st = deployment_status(ws)
        assert st["stableVersion"] == 1 and "lastRollback" not in st and "abortedVersion" not in st
        assert model_events(ws, "RetrainTriggered") == []

        # 2. drift: a retrain, version 2 through the gate, a canary with live analysis, production and stable
        traffic.drifted = True
        h = wait_history(ws, NAME, "RetrainTriggered", timeout=120)
        triggered = next(e for e in h if e["action"] == "RetrainTriggered")
        assert triggered["reason"] == "DriftDetected" and triggered["trainingJob"] == f"{NAME}-retrain-1"
        assert float(triggered["metrics"]["feature-drift"]) > 0.25
        wait_cond(ws, "trainingjob", f"{NAME}-retrain-1", "Succeeded", timeout=300)
        wait_until(lambda: production(ws, NAME) == 2, 120, what="production -> v2")
        st = wait_until(lambda: settled_on(ws, 2), 240, interval=0.5, what="version 2 rolled out and stable")
        assert "abortedVersion" not in st and "lastRollback" not in st
        analysed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
        assert analysed["verdict"] == "Pass" and analysed["version"] == 2
        h = history(ws, NAME)
        assert actions(h)[actions(h).index("RetrainTriggered"):] == ["RetrainTriggered", "Trained", "Promoted"]
        promoted = h[-1]
        assert (promoted["version"], promoted["fromVersion"], promoted["reason"]) == (2, 1, "GatePassed")
        assert h[-2]["trainingJob"] == f"{NAME}-retrain-1" and h[-2]["version"] == 2
        started = [e["message"] for e in events(ws, "RolloutStarted", NAME)]
        assert any("rolling out version 2" in m for m in started), started
        assert any("version 2 promoted" in e["message"] for e in events(ws, "RolloutPromoted", NAME))

        # the drift goes on against version 2: the cooldown (1h) holds the next retrain
        held = wait_until(lambda: (c := cond(get(ws, "model", NAME), "Retraining")).get("reason") == "CooldownActive"
                          and c, 180, what="the drift breach to wait for the cooldown")
        assert "DriftDetected" in held["message"]

        # 3. a candidate that passes the gate but fails live: a shorter cooldown lets the waiting breach start
        # retrain 2; its version is made to answer 500 (test-only annotation) as soon as it exists
        ws.kubectl("patch", "model", NAME, "--type=merge", "-p", '{"spec":{"retraining":{"cooldown":"1s"}}}')
        v3 = wait_until(lambda: model_versions(ws).get(3), 300, interval=0.2, what="version 3 to appear")
        ws.kubectl("annotate", "modelversion", v3["metadata"]["name"], "herder.dev/inject-error-rate=1",
                   "--overwrite")
        assert get(ws, "trainingjob", f"{NAME}-retrain-2")["metadata"]["annotations"][
            "herder.dev/retrain-trigger"] == "DriftDetected"
        promoted3 = [e for e in wait_history(ws, NAME, "Promoted", 3, timeout=180) if e["action"] == "Promoted"][-1]
        assert (promoted3["version"], promoted3["fromVersion"], promoted3["reason"]) == (3, 2, "GatePassed")
        rolled = wait_history(ws, NAME, "RolledBack", timeout=240)
        back = next(e for e in rolled if e["action"] == "RolledBack")
        assert (back["version"], back["fromVersion"], back["reason"]) == (2, 3, "AnalysisFailed")
        assert f"ModelDeployment {NAME} rolled back version 3 to version 2" in back["message"]
        assert "error-rate" in back["message"]
        assert production(ws, NAME) == 2
        st = wait_until(lambda: settled_on(ws, 2), 120, interval=0.5, what="version 2 alone serving again")
        assert st["lastRollback"]["from"] == 3 and st["lastRollback"]["to"] == 2
        assert st["lastRollback"]["reason"] == "AnalysisFailed"
        failed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
        assert failed["verdict"] == "Fail" and failed["version"] == 3
        assert any("version 3" in e["message"] for e in events(ws, "RolloutAborted", NAME))
        [warning] = model_events(ws, "VersionRolledBack")
        assert warning["type"] == "Warning" and "rolled back version 3" in warning["message"]
        # the previous version serves: only version-2 pods, answering 200
        pods = wait_until(lambda: (p := serving_pods(ws, NAME)) and {v for _, _, v in p} == {"2"} and len(p) == 2
                          and p, 120, what="two version-2 pods and nothing else")
        assert [predict(ip) for ip, _, _ in pods for _ in range(5)] == [200] * 10

        # 4. the operator restarts; the drift goes on: maxPerDay stops a retrain storm, and says so; version 3 is
        # not promoted again and the rollback is not recorded twice (the history is the memory)
        ws.operator.restart()
        storm = wait_until(lambda: (c := cond(get(ws, "model", NAME), "Retraining")).get("reason")
                           == "MaxPerDayReached" and c, 180, what="the drift breach to wait for maxPerDay")
        assert f"maxPerDay {MAX_PER_DAY}" in storm["message"] and "DriftDetected" in storm["message"]
        time.sleep(3 * WINDOW)  # a few more drifted windows
        assert training_jobs(ws, NAME) == [f"{NAME}-retrain-1", f"{NAME}-retrain-2", f"{NAME}-v1"]
        h = history(ws, NAME)
        assert sum(e["action"] == "RetrainTriggered" for e in h) == MAX_PER_DAY
        assert [e.get("version") for e in h if e["action"] == "Promoted"] == [1, 2, 3]
        assert sum(e["action"] == "RolledBack" for e in h) == 1
        assert len(model_events(ws, "VersionRolledBack")) == 1
        assert production(ws, NAME) == 2 and settled_on(ws, 2) is not None
    finally:
        traffic.stop.set()
        traffic.join(timeout=20)
    assert traffic.sent > 0

    # nothing lost: every version and its artifact are still there
    versions = model_versions(ws)
    assert sorted(versions) == [1, 2, 3]
    for v, mv in versions.items():
        artifact = ws.store / mv["spec"]["artifact"]["uri"].removeprefix("file:///var/lib/herder/store/")
        assert artifact.is_file() and artifact.stat().st_size > 0, (v, artifact)
    assert get(ws, "model", NAME)["status"]["versions"] == [1, 2, 3]

    # the report tells the same story: the retrains, the promotions and the rollback (once), with non-empty plots
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "herder.cli", "report", NAME, "-n", ws.namespace,
                           f"--kubeconfig={ws.cluster.kubeconfig}", f"--output={out}"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    html = (out / "index.html").read_text()
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 3, pngs
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png
        assert png.name in html
    assert "RolledBack" in html and "AnalysisFailed" in html and f"{NAME}-retrain-2" in html
