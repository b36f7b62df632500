"""Bad inputs and user requests on a serving ModelDeployment, against the real API server, operator and serving pods:

- an analysis check rollouts cannot measure (FeatureDriftPSI) -> no canary, a condition naming
  spec.analysis.metrics[1].metric and its value, the stable version keeps serving; in monitoring -> Degraded
  naming spec.monitoring.metrics[1].metric, cleared once the check is removed;
- a Rejected version as the target -> the stable version keeps serving, the condition names the version and the
  gate's numbers;
- a missing Model -> ModelNotFound, nothing created;
- herder.dev/rollback after a promotion -> the last known-good version serves again (ManualRollback), once per
  value; herder.dev/retry -> the rolled-back version is rolled out again;
- herder.dev/rollback during a rollout -> aborted; the operator restarted at step 1 and after the abort resumes
  where it was (one RolloutStarted per version, never a second canary).

(Canary weights not increasing or over 100 are refused by the API server: tests/integration/test_crds.py runs the
cases of tests/unit/api/invalid_manifests.py against it.)
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import IRIS, Workspace, cond, events, get, pin, register, serving_pods, wait_cond
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ERRORS = {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"}, "minSamples": 10}
DRIFT = {"name": "drift", "metric": "FeatureDriftPSI", "threshold": {"max": "0.25"}}
DEPLOYMENT = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {
        "model": {"name": "iris", "version": 1},
        "replicas": 1,
        "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "2s"}]}},
        "analysis": {"interval": "3s", "metrics": [ERRORS, DRIFT]},
        # idle monitoring: a promoted version stays on probation, so version 1 stays the last known-good one
        "monitoring": {"interval": "3s", "metrics": [{**ERRORS, "failureLimit": 2}]},
    },
}


def status(ws: Workspace) -> dict[str, Any]:
    return dict(get(ws, "modeldeployment", "iris").get("status") or {})


def deployments(ws: Workspace) -> list[str]:
    return sorted(ws.kubectl("get", "deployments", "-o", "name").split())


def annotate(ws: Workspace, key: str, value: str) -> None:
    ws.kubectl("annotate", "--overwrite", "modeldeployment", "iris", f"herder.dev/{key}={value}")


def test_bad_inputs_and_requests(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: status(ws).get("lastKnownGoodVersion") == 1, 180, interval=1, what="version 1 serving")
    wait_cond(ws, "modeldeployment", "iris", "Ready")

    # a missing Model: a condition, nothing created
    ghost = {**DEPLOYMENT, "metadata": {"name": "ghost"}, "spec": {"model": {"name": "nope", "version": 1}}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(ghost))
    missing = wait_cond(ws, "modeldeployment", "ghost", "Ready", status="False", timeout=60)
    assert cond(missing, "Ready")["reason"] == "ModelNotFound" and "nope" in cond(missing, "Ready")["message"]
    assert not [d for d in deployments(ws) if "ghost" in d]

    # an analysis check nobody can measure: version 2 is not rolled out, the field and value are named
    register(ws, 2)
    pin(ws, 2)
    held = wait_until(lambda: (b := get(ws, "modeldeployment", "iris")) and cond(b, "Progressing").get("reason")
                      == "AnalysisNotPossible" and b, 60, interval=0.5, what="AnalysisNotPossible")
    message = cond(held, "Progressing")["message"]
    assert "spec.analysis.metrics[1].metric: FeatureDriftPSI" in message and "version 2" in message, message
    assert cond(held, "Ready")["status"] == "True" and held["status"]["stableVersion"] == 1
    assert deployments(ws) == ["deployment.apps/iris-stable"]
    assert [v for _, _, v in serving_pods(ws)] == ["1"]

    # without the unmeasurable check (and no traffic: analysis off) version 2 walks its step and is promoted;
    # with idle monitoring it stays on probation, so version 1 stays the last known-good version
    ws.kubectl("patch", "modeldeployment", "iris", "--type=json", "-p",
               json.dumps([{"op": "remove", "path": "/spec/analysis"}]))
    wait_until(lambda: status(ws).get("stableVersion") == 2 and not status(ws).get("canaryVersion"), 120,
               interval=0.5, what="version 2 promoted")
    assert status(ws)["lastKnownGoodVersion"] == 1

    # herder.dev/rollback after the promotion: version 1 serves again, recorded as a manual rollback
    annotate(ws, "rollback", "2026-11-27T07:00:00Z")
    rolled = wait_until(lambda: (s := status(ws)).get("lastRollback") and s, 60, interval=0.5,
                        what="the manual rollback")
    rb = rolled["lastRollback"]
    assert (rb["from"], rb["to"], rb["reason"]) == (2, 1, "ManualRollback"), rb
    assert (rolled["stableVersion"], rolled["abortedVersion"]) == (1, 2)
    assert rolled["handledRequests"]["rollback"] == "2026-11-27T07:00:00Z"
    wait_until(lambda: [v for _, _, v in serving_pods(ws)] == ["1"], 60, what="a version-1 pod serving")
    assert get(ws, "modeldeployment", "iris")["spec"]["model"]["version"] == 2  # the spec is the user's

    # herder.dev/retry: version 2 is rolled out again; the old rollback value (still on the object) does nothing
    annotate(ws, "retry", "2026-11-27T07:01:00Z")
    wait_until(lambda: (s := status(ws)).get("stableVersion") == 2 and not s.get("abortedVersion"), 120,
               interval=0.5, what="version 2 rolled out again after the retry")
    assert len(events(ws, "RetryRequested")) == 1
    time.sleep(4)
    assert status(ws)["stableVersion"] == 2 and status(ws)["lastRollback"] == rb  # no second rollback

    # a monitoring check that cannot be measured: Degraded names the field and value; removed, it clears
    ws.kubectl("patch", "modeldeployment", "iris", "--type=json", "-p", json.dumps(
        [{"op": "add", "path": "/spec/monitoring/metrics/-", "value": DRIFT}]))
    bad = wait_until(lambda: (b := get(ws, "modeldeployment", "iris")) and cond(b, "Degraded").get("reason")
                     == "MonitoringNotPossible" and b, 60, interval=0.5, what="MonitoringNotPossible")
    assert "spec.monitoring.metrics[1].metric: FeatureDriftPSI" in cond(bad, "Degraded")["message"]
    assert bad["status"]["stableVersion"] == 2
    ws.kubectl("patch", "modeldeployment", "iris", "--type=json", "-p", json.dumps(
        [{"op": "remove", "path": "/spec/monitoring/metrics/1"}]))
    wait_until(lambda: cond(get(ws, "modeldeployment", "iris"), "Degraded").get("status") == "False", 60,
               interval=0.5, what="Degraded cleared once the check is gone")
    assert status(ws)["stableVersion"] == 2 and "abortedVersion" not in status(ws)

    # a Rejected version as the target: version 2 keeps serving, the gate's numbers are named
    register(ws, 3, metrics={"accuracy": "0.5"}, ready=False)
    wait_cond(ws, "modelversion", "iris-v3", "Rejected", timeout=60)
    pin(ws, 3)
    rejected = wait_until(lambda: (b := get(ws, "modeldeployment", "iris")) and cond(b, "Progressing").get(
        "reason") == "VersionRejected" and b, 60, interval=0.5, what="VersionRejected")
    message = cond(rejected, "Progressing")["message"]
    assert "version 3" in message and "0.5" in message and "0.9" in message, message
    assert cond(rejected, "Ready")["status"] == "True" and rejected["status"]["stableVersion"] == 2
    assert deployments(ws) == ["deployment.apps/iris-stable"]

    # a rollout held at its step; the operator restarts there, then herder.dev/rollback aborts it
    register(ws, 4)
    ws.kubectl("patch", "modeldeployment", "iris", "--type=merge", "-p", json.dumps({"spec": {
        "model": {"name": "iris", "version": 4},
        "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "10m"}]}}}}))
    at_step = wait_until(lambda: (s := status(ws)).get("canaryVersion") == 4 and s.get("canary", {}).get(
        "readyReplicas") and s, 120, interval=0.5, what="version 4 at step 1 with a ready canary")
    ws.operator.restart()
    time.sleep(3)
    after = status(ws)
    assert (after["currentStep"], after["stepStartedAt"]) == (at_step["currentStep"], at_step["stepStartedAt"])
    assert deployments(ws) == ["deployment.apps/iris-canary", "deployment.apps/iris-stable"]
    annotate(ws, "rollback", "2026-11-27T07:02:00Z")
    aborted = wait_until(lambda: (s := status(ws)).get("abortedVersion") == 4 and s, 60, interval=0.5,
                         what="the rollout of version 4 aborted by the rollback annotation")
    assert (aborted["lastRollback"]["from"], aborted["lastRollback"]["to"],
            aborted["lastRollback"]["reason"]) == (4, 2, "ManualRollback")
    wait_until(lambda: deployments(ws) == ["deployment.apps/iris-stable"], 60, what="the canary deleted")
    degraded = cond(get(ws, "modeldeployment", "iris"), "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ManualRollback")
    ws.operator.restart()
    time.sleep(4)
    final = status(ws)
    assert (final["stableVersion"], final["abortedVersion"]) == (2, 4) and "canaryVersion" not in final
    assert deployments(ws) == ["deployment.apps/iris-stable"]
    started = [e["message"] for e in events(ws, "RolloutStarted")]
    assert len(started) == 3, started  # version 2, version 2 again (retry), version 4: once each
    assert sum("version 4" in m for m in started) == 1

    ws.kubectl("delete", "modeldeployment", "iris", "ghost", "--wait=true")
    wait_until(lambda: not json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o",
                                                 "json"))["items"], 60, what="the serving pods to be gone")
