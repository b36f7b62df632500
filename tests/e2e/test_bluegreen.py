"""Blue/green, for real: a new version comes up as a full-size preview Deployment that the ModelDeployment's Service
does not select, is analysed on test traffic sent to the preview pods on loopback, switched on the herder.dev/promote
annotation (autoPromote false), the old version kept for scaleDownDelay, then replaced; a bad version is aborted in
preview and never receives the Service's traffic."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import IRIS, Load, Workspace, collision_hint, cond, events, get, pin, register, serving_pods
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOYMENT = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {
        "model": {"name": "iris", "version": 1},
        "replicas": 1,
        "strategy": {"type": "BlueGreen", "blueGreen": {"autoPromote": False, "scaleDownDelay": "5s"}},
        "analysis": {"interval": "3s", "metrics": [
            {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"}, "minSamples": 10}]},
    },
}


def status(ws: Workspace) -> dict[str, Any]:
    return dict(get(ws, "modeldeployment", "iris").get("status") or {})


def selector(ws: Workspace, name: str = "iris") -> dict[str, str]:
    return dict(json.loads(ws.kubectl("get", "service", name, "-o", "json"))["spec"]["selector"])


def deployments(ws: Workspace) -> list[str]:
    return sorted(ws.kubectl("get", "deployments", "-o", "name").split())


def test_preview_switch_scale_down_and_abort_in_preview(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: status(ws).get("stableVersion") == 1, 180, interval=1, what="version 1 serving")
    assert selector(ws) == {"herder.dev/serving": "iris", "herder.dev/track": "stable"}

    # version 2 previews at full size; the Service keeps selecting the stable pods only
    register(ws, 2)
    pin(ws, 2)
    wait_until(lambda: [v for _, t, v in serving_pods(ws) if t == "preview"] == ["2"], 90,
               what="a ready preview pod of version 2")
    assert selector(ws)["herder.dev/track"] == "stable"
    assert selector(ws, "iris-preview") == {"herder.dev/serving": "iris", "herder.dev/track": "preview"}
    load = Load(ws, track="preview")  # test traffic straight to the preview pods
    load.start()
    try:
        waiting = wait_until(lambda: (b := get(ws, "modeldeployment", "iris")) and "herder.dev/promote" in cond(
            b, "Progressing").get("message", "") and b, 60, interval=0.5,
            what="analysis passed, waiting for the promote annotation")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{collision_hint(ws)}") from None
    finally:
        load.finish()
    assert cond(waiting, "Progressing")["reason"] == "Paused"  # Argo CD: Suspended, waiting for a person
    st = waiting["status"]
    assert (st["stableVersion"], st["canaryVersion"], st["canaryWeight"], st["currentStep"]) == (1, 2, 0, 0)
    passed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
    assert (passed["verdict"], passed["version"]) == ("Pass", 2)
    assert selector(ws)["herder.dev/track"] == "stable"

    # promote: traffic switches to the preview pods; version 1 keeps running for the scale-down delay
    ws.kubectl("annotate", "modeldeployment", "iris", "herder.dev/promote=2026-11-27T08:00:00Z")
    wait_until(lambda: status(ws).get("currentStep") == 1, 30, interval=0.25, what="the switch")
    assert selector(ws)["herder.dev/track"] == "preview"
    assert status(ws)["stable"]["version"] == 1 and len(events(ws, "TrafficSwitched")) == 1
    done = wait_until(lambda: (s := status(ws)).get("stableVersion") == 2 and not s.get("canaryVersion") and s, 120,
                      interval=0.5, what="version 2 promoted")
    assert done["handledRequests"]["promote"] == "2026-11-27T08:00:00Z"
    wait_until(lambda: deployments(ws) == ["deployment.apps/iris-stable"], 60, what="the preview deleted")
    assert selector(ws)["herder.dev/track"] == "stable"
    assert "iris-preview" not in ws.kubectl("get", "services", "-o", "name")
    wait_until(lambda: [v for _, _, v in serving_pods(ws)] == ["2"], 60, what="only version 2 serving")

    # a bad version 3 is aborted in preview: the Service never selects it
    register(ws, 3, {"herder.dev/inject-error-rate": "1.0"})
    pin(ws, 3)
    wait_until(lambda: [v for _, t, v in serving_pods(ws) if t == "preview"] == ["3"], 90,
               what="a ready preview pod of version 3")
    load = Load(ws, track="preview")
    load.start()
    try:
        aborted = wait_until(lambda: (s := status(ws)).get("abortedVersion") == 3 and s, 60, interval=0.25,
                             what="the blue/green rollout of version 3 aborted")
    finally:
        load.finish()
    assert selector(ws)["herder.dev/track"] == "stable"
    rb = aborted["lastRollback"]
    assert (rb["from"], rb["to"], rb["reason"]) == (3, 2, "AnalysisFailed") and "error-rate=1" in rb["message"]
    assert cond(get(ws, "modeldeployment", "iris"), "Degraded")["reason"] == "AnalysisFailed"
    wait_until(lambda: deployments(ws) == ["deployment.apps/iris-stable"], 60, what="the preview deleted")
    assert status(ws)["stableVersion"] == 2

    ws.kubectl("delete", "modeldeployment", "iris", "--wait=true")
    wait_until(lambda: not json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o",
                                                 "json"))["items"], 60, what="the serving pods to be gone")
