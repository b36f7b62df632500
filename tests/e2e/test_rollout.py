"""Progressive delivery, for real: a canary of a bad version is aborted by live builtin analysis of the canary pods'
/metrics while bounded load runs on loopback, and a good version walks every step to 100%.

The bad version is the same artifact as version 1 with the tests/demos-only ``herder.dev/inject-error-rate``
annotation (docs/rollout.md): its pods answer every inference request with 500, so the abort comes from what the
pods measured, not from anything the test tells the operator.

The load routes like kube-proxy: only to the Service's ready endpoints (the EndpointSlice controller's rule),
re-read about every second. Every pod replaced on the way (canary scaled down or deleted, stable pods rolled) must
leave without a single failed request: it leaves the ready endpoints at once on deletion, answers through its
preStop sleep (much longer than the load's refresh), then drains on SIGTERM.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from kubernetes import client, config

from tests.e2e.helpers import (
    IRIS,
    Workspace,
    collision_hint,
    cond,
    get,
    pin,
    predict,
    register,
    serving_pods,
    wait_cond,
)
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INTERVAL = 3.0
FAILURE_LIMIT = 1
DEPLOYMENT = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {
        "model": {"name": "iris", "version": 1},
        "replicas": 2,
        "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "5s"}]}},
        "analysis": {"interval": "3s", "metrics": [
            {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"}, "minSamples": 10,
             "failureLimit": FAILURE_LIMIT}]},
    },
}
REFRESH_SECONDS = 1.0
"""How stale the load's view of the endpoints may be (kube-proxy's minimum sync period is 1 s by default)."""


def terminating_pods(ws: Workspace) -> list[str]:
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o", "json"))["items"]
    return [p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp")]


class Endpoints:
    """What kube-proxy would route the ``iris`` Service to, with each pod's track and version.

    The EndpointSlice controller's rule, applied by hand: the API server refuses loopback addresses in
    EndpointSlices ("may not be in the loopback range"), so the local cluster's slices stay empty. The rule is the
    controller's own: the pods the Service selects that have an IP and are ready, and not terminating (a pod
    with a deletionTimestamp is never a ready endpoint)."""

    def __init__(self, ws: Workspace) -> None:
        self.ns = ws.namespace
        self.core = client.CoreV1Api(config.new_client_from_config(config_file=str(ws.cluster.kubeconfig)))

    def ready(self) -> list[tuple[str, str, str]]:
        selector = self.core.read_namespaced_service("iris", self.ns).spec.selector
        pods = self.core.list_namespaced_pod(self.ns, label_selector=",".join(f"{k}={v}" for k, v in
                                                                             selector.items())).items
        out = []
        for pod in pods:
            ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            if ready and pod.status.pod_ip and pod.metadata.deletion_timestamp is None:
                assert pod.status.pod_ip.startswith("127."), pod.status.pod_ip  # loopback rule
                labels = pod.metadata.labels
                out.append((pod.status.pod_ip, labels["herder.dev/track"], labels["herder.dev/model-version"]))
        return out


class Load(threading.Thread):
    """~20 predictions/s round-robin over the Service's ready endpoints (re-read every REFRESH_SECONDS, like
    kube-proxy's sync), until stopped. Records (time, track, version, status); transport failures (refused, reset,
    timeout) are status 0 with the reason in ``errors``."""

    def __init__(self, ws: Workspace, rate: float = 20) -> None:
        super().__init__(daemon=True)
        self.endpoints = Endpoints(ws)
        self.rate = rate
        self.stop = threading.Event()
        self.results: list[tuple[float, str, str, int]] = []
        self.errors: list[str] = []
        self.refresh_errors: list[str] = []

    def run(self) -> None:
        pods: list[tuple[str, str, str]] = []
        refresh = 0.0
        i = 0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= refresh:
                try:
                    pods = self.endpoints.ready()
                except Exception as e:  # an API hiccup keeps the last view, as kube-proxy does
                    self.refresh_errors.append(f"{now:.2f} {e}")
                refresh = now + REFRESH_SECONDS
            if pods:
                ip, track, version = pods[i % len(pods)]
                i += 1
                self.results.append((time.monotonic(), track, version, predict(ip, self.errors)))
            self.stop.wait(1 / self.rate)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)

    def summary(self, what: str) -> str:
        codes: dict[str, dict[int, int]] = {}
        for _, _, version, code in self.results:
            codes.setdefault(f"v{version}", {}).setdefault(code, 0)
            codes[f"v{version}"][code] += 1
        answered = sum(1 for *_, code in self.results if code)
        return (f"{what}: {len(self.results)} requests, {answered} answered {codes}, {len(self.errors)} failed"
                + (f"; endpoint reads that failed: {self.refresh_errors[:3]}" if self.refresh_errors else ""))


def wait_replacements_done(ws: Workspace) -> None:
    """No serving pod is terminating any more (so the load saw every replacement through to its end)."""
    wait_until(lambda: not terminating_pods(ws), 90, interval=0.5, what="the replaced serving pods to be gone")


def test_bad_canary_is_aborted_and_good_one_promoted(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: get(ws, "modeldeployment", "iris").get("status", {}).get("stableVersion") == 1, 180,
               interval=1, what="stable version 1")
    wait_cond(ws, "modeldeployment", "iris", "Ready")
    stable = json.loads(ws.kubectl("get", "deployment", "iris-stable", "-o", "json"))
    pre_stop = stable["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    # zero failed requests below is by construction, not by luck: a deleted pod keeps answering for several of the
    # load's endpoint refreshes after it left the ready endpoints
    assert pre_stop >= 4 * REFRESH_SECONDS, pre_stop

    # a bad version 2: same artifact, every inference answered 500 by fault injection (tests/demos only)
    register(ws, 2, {"herder.dev/inject-error-rate": "1.0"})
    load = Load(ws)
    load.start()
    try:
        pin(ws, 2)
        try:
            body = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("abortedVersion")
                              == 2 and b, 60, interval=0.25, what="the rollout of version 2 to be aborted")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{collision_hint(ws)}\n{load.summary('load')}") from None
        aborted_at = time.monotonic()
        # traffic returns to version 1: once only version-1 pods are ready, the load keeps going a little
        pods = wait_until(lambda: (p := serving_pods(ws)) and len(p) == 2 and all(v == "1" for _, _, v in p)
                          and p, 60, what="two version-1 pods and no canary pod")
        clean_at = time.monotonic()
        wait_until(lambda: sum(1 for r in load.results if r[0] > clean_at + 1.5) >= 20, 60,
                   what="20 requests sent after only version-1 pods were ready")
        wait_replacements_done(ws)  # the aborted canary's pod went through preStop and drain under load
    finally:
        load.finish()
    print("\n" + load.summary("abort of version 2"))
    # not one transport failure (refused, reset, timeout) while the canary pod was scaled away and a stable pod
    # added; every answer of version 1 a success, every answer of version 2 its injected 500
    assert not load.errors, (load.errors, load.summary("abort of version 2"))
    assert {code for _, _, v, code in load.results if v == "1"} == {200}, load.summary("abort of version 2")
    assert {code for _, _, v, code in load.results if v == "2"} == {500}, load.summary("abort of version 2")
    st = body["status"]
    first_error = min(t for t, track, version, code in load.results if version == "2" and code == 500)
    breach_to_abort = aborted_at - first_error
    print(f"\nbreach (first 500 from a version-2 pod) -> abort observed: {breach_to_abort:.1f}s")
    # the bound: failureLimit failed intervals, plus one interval for the baseline/partial one, plus slack for
    # the 0.25 s polling, a reconcile and the status round trip
    assert breach_to_abort <= INTERVAL * FAILURE_LIMIT + INTERVAL + 4, breach_to_abort
    degraded = cond(body, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "AnalysisFailed")
    assert "error-rate=1" in degraded["message"]
    rb = st["lastRollback"]
    assert (rb["from"], rb["to"], rb["reason"]) == (2, 1, "AnalysisFailed")
    assert "error-rate=1" in rb["message"]
    assert st["stableVersion"] == 1 and "canaryVersion" not in st
    failed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
    assert (failed["verdict"], failed["value"], failed["version"]) == ("Fail", "1", 2)
    assert failed["samples"] >= 10
    events = json.loads(ws.kubectl("get", "events", "--field-selector",
                                   "involvedObject.kind=ModelDeployment,reason=RolloutAborted", "-o", "json"))
    assert [e["type"] for e in events["items"]] == ["Warning"]

    # the canary is gone, the stable track is back to full size with version 1, and traffic is version 1 only
    assert "iris-canary" not in ws.kubectl("get", "deployments", "-o", "name")
    stable = json.loads(ws.kubectl("get", "deployment", "iris-stable", "-o", "json"))
    assert stable["spec"]["replicas"] == 2
    assert stable["metadata"]["labels"]["herder.dev/model-version"] == "1"
    wait_until(lambda: [predict(ip) for ip, _, _ in pods for _ in range(10)] == [200] * 20, 30,
               what="both version-1 pods to answer")
    late = [(version, code) for t, _, version, code in load.results if t > clean_at + 1.5]  # endpoint refresh: 1s
    assert len(late) >= 20 and all(x == ("1", 200) for x in late), late
    print(f"abort observed -> only version-1 pods ready: {clean_at - aborted_at:.1f}s")

    # it stays aborted: version 2 is not retried while the spec is unchanged
    time.sleep(2 * INTERVAL)
    again = get(ws, "modeldeployment", "iris")["status"]
    assert again["abortedVersion"] == 2 and "canaryVersion" not in again

    # a good version 3 walks every step to 100% under load
    register(ws, 3)
    load = Load(ws)
    load.start()
    try:
        pin(ws, 3)
        seen_canary = wait_until(lambda: get(ws, "modeldeployment", "iris")["status"].get("canaryWeight") == 50,
                                 30, interval=0.25, what="version 3 at weight 50")
        assert seen_canary
        # the operator restarts mid-step: the rollout resumes from status (same step, no second canary; the first
        # interval after the restart only takes a baseline scrape)
        started = get(ws, "modeldeployment", "iris")["status"]["stepStartedAt"]
        ws.operator.restart()
        assert sorted(ws.kubectl("get", "deployments", "-o", "name").split()) == [
            "deployment.apps/iris-canary", "deployment.apps/iris-stable"]
        now = get(ws, "modeldeployment", "iris")["status"]
        assert now.get("stepStartedAt") == started or now.get("currentStep") == 1 or now["stableVersion"] == 3
        done = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("stableVersion") == 3
                          and cond(b, "Progressing").get("status") == "False" and b, 90, interval=0.5,
                          what="version 3 promoted")
        wait_until(lambda: "iris-canary" not in ws.kubectl("get", "deployments", "-o", "name"), 30,
                   what="the canary Deployment to be deleted")
        pods = wait_until(lambda: (p := serving_pods(ws)) and len(p) == 2 and all(v == "3" for _, _, v in p)
                          and p, 60, what="two version-3 pods")
        wait_replacements_done(ws)  # the canary's pod and both version-1 pods went through preStop and drain
        time.sleep(2)
    finally:
        load.finish()
    st = done["status"]
    assert st["lastKnownGoodVersion"] == 3
    started_events = json.loads(ws.kubectl("get", "events", "--field-selector",
                                           "involvedObject.kind=ModelDeployment,reason=RolloutStarted", "-o", "json"))
    assert len(started_events["items"]) == 2, [e["message"] for e in started_events["items"]]  # v2 and v3, once each
    assert "canaryVersion" not in st and "abortedVersion" not in st
    assert cond(done, "Degraded")["status"] == "False"
    passed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
    assert (passed["verdict"], passed["version"]) == ("Pass", 3)
    wait_until(lambda: [predict(ip) for ip, _, _ in pods] == [200, 200], 30, what="both version-3 pods to answer")
    # not one transport failure while the canary's pod was deleted with its Deployment and both version-1 pods
    # were rolled to version 3; every answer, from either version, a success
    print(load.summary("rollout of version 3"))
    assert not load.errors, (load.errors, load.summary("rollout of version 3"))
    assert {code for *_, code in load.results} == {200}, load.summary("rollout of version 3")
    assert {v for _, _, v, _ in load.results} == {"1", "3"}, load.summary("rollout of version 3")

    # a promoted canary-mode ModelDeployment is quiet: resyncs make no writes
    def mdep_writes() -> dict[str, float]:
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in ws.operator.metrics().splitlines()
                if line.startswith("herder_operator_api_writes_total{") and "ModelDeployment" in line}

    # (a window with writes is looked at again, up to three times: a serving pod whose readiness probe timed out
    # on a loaded machine is a real change the status must show; writes in every window are a regression)
    time.sleep(2 * ws.operator.resync_seconds)
    windows = []
    for _ in range(3):
        before = mdep_writes()
        time.sleep(3 * ws.operator.resync_seconds + 1)
        after = mdep_writes()
        windows.append({k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k)})
        if not windows[-1]:
            break
    assert not windows[-1], (windows, get(ws, "modeldeployment", "iris")["status"])

    # leave nothing running: a ModelDeployment reconciled while its namespace is torn down writes status (pods
    # vanish), which a later zero-writes test in the same session would count
    ws.kubectl("delete", "modeldeployment", "iris", "--wait=true")
    wait_until(lambda: not json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o",
                                                 "json"))["items"], 60, what="the serving pods to be gone")
