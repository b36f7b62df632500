"""Monitoring after promotion, for real: version 2 is promoted over version 1, then misbehaves in production (the
tests/demos-only ``herder.dev/inject-error-rate`` annotation on its ModelVersion makes its pods answer 500) under
bounded load on loopback. The builtin monitor measures the stable pods' /metrics every interval and rolls back to
version 1 -- the last known-good version, since version 2 never finished its probation -- with the numbers on
status, in the Degraded condition and in a Warning Event, and without touching the spec. Then, with
``onBreach: Alert`` (a spec change, which also retries version 2), the same breach only alerts; once the fault is
gone the alert clears and version 2, having passed failureLimit intervals in a row, becomes the last known-good one.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.e2e.helpers import (
    IRIS,
    Load,
    Workspace,
    collision_hint,
    cond,
    events,
    get,
    pin,
    predict,
    register,
    serving_pods,
)
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INTERVAL = 3.0
FAILURE_LIMIT = 2
DEPLOYMENT = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {
        "model": {"name": "iris", "version": 1},
        "replicas": 1,
        "monitoring": {"interval": "3s", "onBreach": "Rollback", "metrics": [
            {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"}, "minSamples": 10,
             "failureLimit": FAILURE_LIMIT}]},
    },
}


def test_a_breach_after_promotion_rolls_back_to_the_last_good_version(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: get(ws, "modeldeployment", "iris").get("status", {}).get("lastKnownGoodVersion") == 1, 180,
               interval=1, what="version 1 serving (the first version is the last known-good one)")

    # version 2 (clean, same artifact) is promoted; with no traffic it cannot pass monitoring, so version 1 stays
    # the rollback target (too little traffic is not a pass)
    register(ws, 2)
    pin(ws, 2)
    promoted = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("stableVersion") == 2
                          and cond(b, "Progressing").get("status") == "False" and b, 120, interval=0.5,
                          what="version 2 promoted")
    assert promoted["status"]["lastKnownGoodVersion"] == 1
    assert [e["type"] for e in events(ws, "RolloutPromoted")] == ["Normal"]
    generation = promoted["metadata"]["generation"]

    # version 2 goes bad in production: its pods now answer every inference with 500
    ws.kubectl("annotate", "modelversion", "iris-v2", "herder.dev/inject-error-rate=1.0")
    load = Load(ws, seconds=120)
    load.start()
    try:
        try:
            body = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("lastRollback")
                              and b, 90, interval=0.25, what="the monitoring rollback of version 2")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{collision_hint(ws)}") from None
        observed = time.monotonic()
        pods = wait_until(lambda: (p := serving_pods(ws)) and len(p) == 1 and p[0][2] == "1" and p, 60,
                          what="a version-1 pod serving again")
        wait_until(lambda: [predict(ip) for ip, _, _ in pods for _ in range(5)] == [200] * 5, 30,
                   what="version 1 to answer")
    finally:
        load.finish()
    first_error = min(t for t, _, version, code in load.results if version == "2" and code == 500)
    print(f"\nfirst 500 from version 2 -> rollback observed on status: {observed - first_error:.1f}s "
          f"(interval {INTERVAL:g}s, failureLimit {FAILURE_LIMIT})")
    st = body["status"]
    rb = st["lastRollback"]
    assert (rb["from"], rb["to"], rb["reason"]) == (2, 1, "MonitoringBreach"), rb
    assert "error-rate=1" in rb["message"] and "samples" in rb["message"], rb["message"]
    assert (st["stableVersion"], st["abortedVersion"], st["lastKnownGoodVersion"]) == (1, 2, 1)
    degraded = cond(body, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "MonitoringBreach")
    assert "error-rate=1" in degraded["message"]
    failed = next(m for m in st["monitoringMetrics"] if m["name"] == "error-rate")
    assert (failed["verdict"], failed["value"], failed["version"]) == ("Fail", "1", 2)
    assert failed["consecutiveFailures"] >= FAILURE_LIMIT and failed["samples"] >= 10
    warnings = events(ws, "RolledBack")
    assert [e["type"] for e in warnings] == ["Warning"] and "error-rate=1" in str(warnings[0]["message"])
    # the spec is the user's: untouched (GitOps stays in sync)
    now = get(ws, "modeldeployment", "iris")
    assert now["spec"]["model"] == {"name": "iris", "version": 2} and now["metadata"]["generation"] == generation
    stable = json.loads(ws.kubectl("get", "deployment", "iris-stable", "-o", "json"))
    assert stable["metadata"]["labels"]["herder.dev/model-version"] == "1"
    # and it stays rolled back while the spec is unchanged
    time.sleep(3 * INTERVAL)
    again = get(ws, "modeldeployment", "iris")["status"]
    assert (again["stableVersion"], again["abortedVersion"]) == (1, 2)

    # onBreach: Alert -- a spec change, so version 2 is rolled out again; its breach now only alerts
    ws.kubectl("patch", "modeldeployment", "iris", "--type=merge", "-p",
               json.dumps({"spec": {"monitoring": {"onBreach": "Alert"}}}))
    wait_until(lambda: get(ws, "modeldeployment", "iris")["status"].get("stableVersion") == 2, 120, interval=0.5,
               what="version 2 rolled out again after the spec change")
    load = Load(ws, seconds=120)
    load.start()
    try:
        alerted = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))
                             and cond(b, "Degraded").get("status") == "True"
                             and "onBreach is Alert" in cond(b, "Degraded").get("message", "") and b, 90,
                             interval=0.25, what="the monitoring alert for version 2")
        time.sleep(2 * INTERVAL)
    finally:
        load.finish()
    st = get(ws, "modeldeployment", "iris")["status"]
    assert st["stableVersion"] == 2 and "abortedVersion" not in st  # alerted, not rolled back
    assert st["lastRollback"] == rb  # the earlier rollback, no new one
    assert cond(alerted, "Degraded")["reason"] == "MonitoringBreach"
    assert "error-rate=1" in cond(alerted, "Degraded")["message"]
    assert len(events(ws, "RolledBack")) == 1
    assert [p[2] for p in serving_pods(ws)] == ["2"]

    # version 2 recovers (the fault removed): the alert clears at the next passing interval, and after failureLimit
    # passing intervals in a row version 2 has proven itself: it becomes the last known-good version
    ws.kubectl("annotate", "modelversion", "iris-v2", "herder.dev/inject-error-rate-")
    load = Load(ws, seconds=120)
    load.start()
    try:
        proven = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("lastKnownGoodVersion")
                            == 2 and b, 120, interval=0.5, what="version 2 proven by monitoring")
    finally:
        load.finish()
    assert cond(proven, "Degraded")["status"] == "False", cond(proven, "Degraded")
    assert proven["status"]["monitoringPassedIntervals"] == FAILURE_LIMIT
    assert len(events(ws, "VersionProven")) == 1

    # without traffic the monitor measures nothing new: no status write on every reconcile
    def mdep_writes() -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in ws.operator.metrics().splitlines()
                   if line.startswith("herder_operator_api_writes_total{") and "ModelDeployment" in line)

    time.sleep(2 * INTERVAL + 1)  # the first idle interval writes once (the value goes from 1 to no data)
    before = mdep_writes()
    time.sleep(4 * INTERVAL)  # four monitoring intervals, reconciled every interval
    assert mdep_writes() == before, get(ws, "modeldeployment", "iris")["status"]

    ws.kubectl("delete", "modeldeployment", "iris", "--wait=true")
    wait_until(lambda: not json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o",
                                                 "json"))["items"], 60, what="the serving pods to be gone")
