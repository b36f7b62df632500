"""A canary rollout with Gateway API routing, driven by the operator: the HTTPRoute's weights follow the steps
(stable 100 -> stable 50 / canary 50 -> stable 100 after the promotion, canary Service gone), the stable track
keeps its full size during the steps (the route splits traffic, not the pod count), and switching the spec back to
Replicas routing removes the route. The standard-channel Gateway API CRDs come from the sigs.k8s.io/gateway-api
module (the local cluster's assets); no Gateway controller runs, so this checks what the operator writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from localcluster import binaries

from herder.resources.traffic import backend_weights
from tests.e2e.helpers import IRIS, Workspace, events, get, pin, register
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CRD = "httproutes.gateway.networking.k8s.io"
DEPLOYMENT = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {
        "model": {"name": "iris", "version": 1},
        "replicas": 2,
        "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "6s"}]}},
        "trafficRouting": {"type": "GatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "public"}]}},
    },
}


def route(ws: Workspace) -> dict[str, Any] | None:
    out = ws.kubectl("get", "httproute", "iris", "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def weights(ws: Workspace) -> dict[str, int]:
    r = route(ws)
    return backend_weights(r) if r else {}


def test_route_weights_follow_the_canary_steps(workspace: Workspace) -> None:
    ws = workspace
    if CRD not in ws.cluster.kubectl("get", "crd", "-o", "name").stdout:
        ws.cluster.kubectl("apply", "--server-side", "-f", str(binaries.assets_dir() / "gateway-api-crds"))
        ws.cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=60s")
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: get(ws, "modeldeployment", "iris").get("status", {}).get("stableVersion") == 1, 180,
               interval=1, what="version 1 serving")
    wait_until(lambda: weights(ws) == {"iris-stable": 100}, 60, what="the HTTPRoute with the stable backend alone")

    register(ws, 2)
    pin(ws, 2)
    wait_until(lambda: weights(ws) == {"iris-stable": 50, "iris-canary": 50}, 60, interval=0.25,
               what="the route at 50/50 during the step")
    stable = json.loads(ws.kubectl("get", "deployment", "iris-stable", "-o", "json"))
    assert stable["spec"]["replicas"] == 2  # full size: the route splits the traffic
    canary = json.loads(ws.kubectl("get", "deployment", "iris-canary", "-o", "json"))
    assert canary["spec"]["replicas"] == 1
    wait_until(lambda: (s := get(ws, "modeldeployment", "iris")["status"]).get("stableVersion") == 2
               and not s.get("canaryVersion"), 120, interval=0.5, what="version 2 promoted")
    wait_until(lambda: weights(ws) == {"iris-stable": 100}, 60, what="the route back at stable 100")
    wait_until(lambda: "service/iris-canary" not in ws.kubectl("get", "services", "-o", "name"), 60,
               what="the canary Service deleted")
    assert events(ws, "TrafficShifted")

    # back to Replicas routing: the route and the track Services go
    ws.kubectl("patch", "modeldeployment", "iris", "--type=json", "-p",
               json.dumps([{"op": "remove", "path": "/spec/trafficRouting"}]))
    wait_until(lambda: route(ws) is None, 60, what="the HTTPRoute deleted")
    assert events(ws, "HTTPRouteDeleted")

    ws.kubectl("delete", "modeldeployment", "iris", "--wait=true")
    wait_until(lambda: not json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o",
                                                 "json"))["items"], 60, what="the serving pods to be gone")
