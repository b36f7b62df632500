"""Progressive delivery, for real: a canary of a bad version is aborted by live builtin analysis of the canary pods'
/metrics while bounded load runs on loopback, and a good version walks every step to 100%.

The bad version is the same artifact as version 1 with the tests/demos-only ``herder.dev/inject-error-rate``
annotation (docs/rollout.md): its pods answer every inference request with 500, so the abort comes from what the
pods measured, not from anything the test tells the operator.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.e2e.conftest import Workspace
from tests.e2e.test_iris import IRIS, cond, get, wait_cond
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
ROW = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()


def serving_pods(ws: Workspace) -> list[tuple[str, str, str]]:
    """(ip, track, version) of every ready serving pod."""
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o", "json"))["items"]
    out = []
    for p in pods:
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
        ip = p["status"].get("podIP")
        if ready and ip and not p["metadata"].get("deletionTimestamp"):
            assert ip.startswith("127."), ip  # loopback rule
            labels = p["metadata"]["labels"]
            out.append((ip, labels["herder.dev/track"], labels["herder.dev/model-version"]))
    return out


def predict(ip: str, errors: list[str] | None = None) -> int:
    """The HTTP status of one prediction (0: no answer, the reason appended to ``errors``)."""
    req = urllib.request.Request(f"http://{ip}:8080/v1/models/iris:predict", method="POST", data=ROW,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError as e:
        if errors is not None:
            errors.append(f"{time.monotonic():.2f} {ip}: {e}")
        return 0


class Load(threading.Thread):
    """~20 predictions/s round-robin over the ready serving pods (re-listed every second, like an endpoint
    controller would), stopping by itself after ``seconds``. Records (time, track, version, status)."""

    def __init__(self, ws: Workspace, seconds: float = 60, rate: float = 20) -> None:
        super().__init__(daemon=True)
        self.ws, self.seconds, self.rate = ws, seconds, rate
        self.stop = threading.Event()
        self.results: list[tuple[float, str, str, int]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        pods: list[tuple[str, str, str]] = []
        refresh = 0.0
        i = 0
        while not self.stop.is_set() and time.monotonic() < end:
            now = time.monotonic()
            if now >= refresh:
                pods = serving_pods(self.ws)
                refresh = now + 1.0
            if pods:
                ip, track, version = pods[i % len(pods)]
                i += 1
                self.results.append((time.monotonic(), track, version, predict(ip, self.errors)))
            self.stop.wait(1 / self.rate)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=10)


def collision_hint(ws: Workspace) -> str:
    """Pods whose server keeps exiting usually found their loopback address taken: another local cluster on this
    host hands out the same pod range, and requests and scrapes then reach that cluster's servers."""
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o", "json"))["items"]
    restarting = [f"{p['metadata']['name']} ({p['status'].get('podIP')}): {cs.get('restartCount')} restarts"
                  for p in pods for cs in p["status"].get("containerStatuses") or [] if cs.get("restartCount")]
    if not restarting:
        return "no serving pod restarted"
    return ("serving pods keep restarting -- is another local cluster on this host serving on the same loopback "
            "pod addresses? " + "; ".join(restarting))


def register(ws: Workspace, version: int, annotations: dict[str, str] | None = None) -> None:
    v1 = get(ws, "modelversion", "iris-v1")
    mv = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelVersion",
          "metadata": {"name": f"iris-v{version}", "annotations": annotations or {}},
          "spec": {"modelRef": {"name": "iris"}, "version": version, "artifact": v1["spec"]["artifact"],
                   "metrics": v1["spec"]["metrics"], "description": "same artifact as version 1"}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(mv))
    wait_cond(ws, "modelversion", f"iris-v{version}", "Ready", timeout=60)


def pin(ws: Workspace, version: int) -> None:
    ws.kubectl("patch", "modeldeployment", "iris", "--type=merge", "-p",
               json.dumps({"spec": {"model": {"name": "iris", "version": version}}}))


def test_bad_canary_is_aborted_and_good_one_promoted(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: get(ws, "modeldeployment", "iris").get("status", {}).get("stableVersion") == 1, 180,
               interval=1, what="stable version 1")
    wait_cond(ws, "modeldeployment", "iris", "Ready")

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
            raise AssertionError(f"{e}\n{collision_hint(ws)}") from None
        aborted_at = time.monotonic()
        # traffic returns to version 1: once only version-1 pods are ready, the load keeps going a little
        pods = wait_until(lambda: (p := serving_pods(ws)) and len(p) == 2 and all(v == "1" for _, _, v in p)
                          and p, 60, what="two version-1 pods and no canary pod")
        clean_at = time.monotonic()
        time.sleep(3)
    finally:
        load.finish()
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
    # (a request racing a pod replacement can still fail: "zero failed requests during a rollout" is open work)
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
        promoted_at = time.monotonic()
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
    wait_until(lambda: "iris-canary" not in ws.kubectl("get", "deployments", "-o", "name"), 30,
               what="the canary Deployment to be deleted")
    pods = wait_until(lambda: (p := serving_pods(ws)) and len(p) == 2 and all(v == "3" for _, _, v in p) and p,
                      60, what="two version-3 pods")
    wait_until(lambda: [predict(ip) for ip, _, _ in pods] == [200, 200], 30, what="both version-3 pods to answer")
    # every answer from a version-3 pod was a success (the canary's pod is killed at once when its Deployment
    # is deleted -- the local node agent does not run preStop then -- so a request sent to it in the load
    # thread's one-second endpoint staleness can find nobody listening: counted, not a failed answer)
    answered = [c for _, _, v, c in load.results if v == "3" and c != 0]
    assert answered and all(c == 200 for c in answered), (answered, load.errors, promoted_at)
    print(f"version-3 requests: {len(answered)} answered 200, {len(load.errors)} without an answer "
          f"{load.errors}")

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
