"""The training half of the loop, for real: the herder.dev/retrain annotation on a Model starts a TrainingJob from
the Model's template, its ModelVersion goes through the gate and production moves to it -- with the guardrails
(cooldown, maxPerDay, approval, one in flight) refusing or holding what they should, every step on the Model's
history and as an Event, and a restarted operator making no second TrainingJob or version."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import (
    IRIS,
    LOOP,
    SELECTOR,
    Traffic,
    Workspace,
    cond,
    get,
    history,
    model,
    model_events,
    production,
    training_jobs,
    trigger_metric,
    wait_cond,
    wait_history,
)
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

def annotate(ws: Workspace, name: str, key: str, value: str) -> None:
    ws.kubectl("annotate", "model", name, f"herder.dev/{key}={value}", "--overwrite")


def test_manual_retrain_moves_production_and_the_guardrails_refuse(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], model("iris-loop")]))
    wait_cond(ws, "dataset", "iris", "Ready")
    idle = wait_until(lambda: cond(m := get(ws, "model", "iris-loop"), "Retraining").get("reason") == "Waiting" and m,
                      60, what="Retraining=False/Waiting")
    assert "next at" in cond(idle, "Retraining")["message"]  # the weekly schedule says when it fires
    assert training_jobs(ws, "iris-loop") == []

    # 1. a request: TrainingJob iris-loop-retrain-1 from the template -> version 1 -> gate -> production
    annotate(ws, "iris-loop", "retrain", "first")
    tj = wait_cond(ws, "trainingjob", "iris-loop-retrain-1", "Succeeded", timeout=300)
    assert tj["spec"]["modelRef"] == {"name": "iris-loop"}
    assert tj["spec"]["estimator"] == LOOP["spec"]["training"]["estimator"]
    assert tj["spec"]["datasetRef"] == {"name": "iris"}
    owner = tj["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Model", "iris-loop", True)
    assert tj["metadata"]["annotations"]["herder.dev/retrain-trigger"] == "ManualRequest"
    wait_until(lambda: production(ws, "iris-loop") == 1, 120, what="production -> v1")
    h = wait_history(ws, "iris-loop", "Promoted")
    assert [e["action"] for e in h] == ["RetrainTriggered", "Trained", "Promoted"]
    assert h[0]["reason"] == "ManualRequest" and h[0]["trainingJob"] == "iris-loop-retrain-1"
    assert "herder.dev/retrain='first'" in h[0]["message"]
    assert h[1]["trainingJob"] == "iris-loop-retrain-1" and h[1]["version"] == 1
    assert h[2]["reason"] == "GatePassed"
    st = wait_until(lambda: (m := get(ws, "model", "iris-loop"))["status"]["retraining"].get("inFlight") is None
                    and m["status"], 60, what="inFlight to clear")
    assert st["retraining"]["started"] == 1 and st["retraining"]["lastRequest"] == "first"
    assert len(st["retraining"]["recent"]) == 1
    assert len(model_events(ws, "RetrainTriggered")) == 1

    # 2. a second request inside the cooldown (1h): refused, said so with when it frees, no TrainingJob
    annotate(ws, "iris-loop", "retrain", "second")
    h = wait_history(ws, "iris-loop", "RetrainSkipped")
    skipped = h[-1]
    assert skipped["reason"] == "CooldownActive"
    assert "herder.dev/retrain='second' refused: cooldown 1h since the last retrain" in skipped["message"]
    assert "frees at" in skipped["message"]
    retraining = cond(get(ws, "model", "iris-loop"), "Retraining")
    assert retraining["status"] == "False" and "cooldown 1h" in retraining["message"]
    [warning] = model_events(ws, "RetrainSkipped")
    assert warning["type"] == "Warning" and "cooldown" in warning["message"]
    assert training_jobs(ws, "iris-loop") == ["iris-loop-retrain-1"]

    # 3. with a shorter cooldown the next request runs: version 2 beats (ties) production and production moves
    ws.kubectl("patch", "model", "iris-loop", "--type=merge", "-p", '{"spec":{"retraining":{"cooldown":"1s"}}}')
    annotate(ws, "iris-loop", "retrain", "third")
    wait_cond(ws, "trainingjob", "iris-loop-retrain-2", "Succeeded", timeout=300)
    wait_until(lambda: production(ws, "iris-loop") == 2, 120, what="production -> v2")
    promoted = [e for e in wait_history(ws, "iris-loop", "Promoted", 2) if e["action"] == "Promoted"][-1]
    assert (promoted["version"], promoted["fromVersion"]) == (2, 1)
    assert "production v1" in promoted["message"]

    # 4. maxPerDay 2: a third start within 24 hours is refused, naming the guardrail
    wait_until(lambda: get(ws, "model", "iris-loop")["status"]["retraining"].get("inFlight") is None, 60,
               what="inFlight to clear")
    annotate(ws, "iris-loop", "retrain", "fourth")
    h = wait_history(ws, "iris-loop", "RetrainSkipped", 2)
    assert h[-1]["reason"] == "MaxPerDayReached"
    assert "maxPerDay 2: 2 retrain(s) started in the last 24h; frees at" in h[-1]["message"]
    assert training_jobs(ws, "iris-loop") == ["iris-loop-retrain-1", "iris-loop-retrain-2"]
    assert [e["action"] for e in h] == ["RetrainTriggered", "Trained", "Promoted", "RetrainSkipped",
                                        "RetrainTriggered", "Trained", "Promoted", "RetrainSkipped"]

    # 5. settled: resyncs of a Model with a retraining policy (schedule armed, guardrails engaged) write nothing
    time.sleep(3 * ws.operator.resync_seconds)
    mark = ws.cluster.audit_lines()
    time.sleep(5 * ws.operator.resync_seconds + 1)
    writes = [w for w in ws.cluster.writes_by(ws.operator.user, mark)
              if w["namespace"] == ws.namespace and w["resource"] == "models"]
    assert writes == [], f"writes to the Model during no-op resyncs: {writes}"


def test_missing_dataset_approval_and_restart_in_flight(workspace: Workspace) -> None:
    ws = workspace
    gated = model("iris-gated", requireApproval=True, data={"datasetRef": {"name": "iris-fresh"}})
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], gated]))

    # the retraining data does not exist: a condition naming the field and the Dataset; a request waits
    refs = wait_cond(ws, "model", "iris-gated", "ReferencesResolved", status="False", timeout=60)
    missing = cond(refs, "ReferencesResolved")
    assert missing["reason"] == "DatasetNotFound"
    assert "spec.retraining.data.datasetRef refers to Dataset 'iris-fresh', which does not exist" in missing["message"]
    assert cond(refs, "Retraining")["reason"] == "DatasetNotFound"
    assert cond(refs, "Ready")["reason"] == "NoProductionVersion"  # the registry itself is fine: nothing trained yet
    annotate(ws, "iris-gated", "retrain", "go")
    annotate(ws, "iris-gated", "approve-retrain", "early")  # given before anything waited: approves nothing
    assert training_jobs(ws, "iris-gated") == []

    # the Dataset appears: the request goes on, and waits for approval
    fresh = json.loads(json.dumps(IRIS[0]))
    fresh["metadata"]["name"] = "iris-fresh"
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(fresh))
    h = wait_history(ws, "iris-gated", "RetrainPending")
    assert h[-1]["reason"] == "ManualRequest"
    st = get(ws, "model", "iris-gated")
    assert st["status"]["retraining"]["pendingApproval"] == "ManualRequest"
    assert st["status"]["retraining"]["lastApproval"] == "early"
    assert cond(st, "Retraining")["reason"] == "AwaitingApproval"
    assert cond(st, "ReferencesResolved")["status"] == "True"
    assert training_jobs(ws, "iris-gated") == []

    # approved: the TrainingJob starts on the retraining Dataset; the operator restarts while it trains
    annotate(ws, "iris-gated", "approve-retrain", "ok")
    wait_until(lambda: cond(get(ws, "trainingjob", "iris-gated-retrain-1"), "Running").get("status") == "True"
               if "iris-gated-retrain-1" in training_jobs(ws, "iris-gated") else False,
               240, interval=0.5, what="the approved retrain to start training")
    ws.operator.restart()
    tj = wait_cond(ws, "trainingjob", "iris-gated-retrain-1", "Succeeded", timeout=300)
    assert tj["spec"]["datasetRef"] == {"name": "iris-fresh"}
    wait_until(lambda: production(ws, "iris-gated") == 1, 120, what="production -> v1")
    h = wait_history(ws, "iris-gated", "Promoted")
    assert [e["action"] for e in h] == ["RetrainPending", "RetrainTriggered", "Trained", "Promoted"]
    assert "approved by herder.dev/approve-retrain='ok'" in h[1]["message"]
    # exactly one TrainingJob, one Job and one version, however many reconciles and restarts
    assert training_jobs(ws, "iris-gated") == ["iris-gated-retrain-1"]
    jobs = [n for n in ws.kubectl("get", "jobs", "-o", "name").split() if "iris-gated" in n]
    assert jobs == ["job.batch/iris-gated-retrain-1-train"]
    mvs = json.loads(ws.kubectl("get", "modelversions", "-l", "herder.dev/model=iris-gated", "-o", "json"))
    assert [m["spec"]["version"] for m in mvs["items"]] == [1]
    st = wait_until(lambda: (m := get(ws, "model", "iris-gated"))["status"]["retraining"].get("inFlight") is None
                    and m["status"], 60, what="inFlight to clear")
    assert st["retraining"]["started"] == 1 and "pendingApproval" not in st["retraining"]


def test_a_retrain_whose_training_job_exists_already_is_adopted_not_duplicated(workspace: Workspace) -> None:
    """What a restart between creating the TrainingJob and writing the Model's status leaves behind: the TrainingJob
    the next decision names already exists, owned by the Model. The operator adopts it instead of making another."""
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], model("iris-adopt")]))
    wait_cond(ws, "model", "iris-adopt", "Retraining", status="False", timeout=60)
    m = get(ws, "model", "iris-adopt")
    leftover = {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob",
                "metadata": {"name": "iris-adopt-retrain-1", "labels": {"herder.dev/model": "iris-adopt"},
                             "ownerReferences": [{"apiVersion": "herder.dev/v1alpha1", "kind": "Model",
                                                  "name": "iris-adopt", "uid": m["metadata"]["uid"],
                                                  "controller": True}]},
                "spec": {**LOOP["spec"]["training"], "modelRef": {"name": "iris-adopt"}}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(leftover))
    annotate(ws, "iris-adopt", "retrain", "now")
    h = wait_history(ws, "iris-adopt", "RetrainTriggered")
    assert h[0]["trainingJob"] == "iris-adopt-retrain-1"
    wait_cond(ws, "trainingjob", "iris-adopt-retrain-1", "Succeeded", timeout=300)
    wait_until(lambda: production(ws, "iris-adopt") == 1, 120, what="production -> v1")
    assert training_jobs(ws, "iris-adopt") == ["iris-adopt-retrain-1"]



def test_a_failed_retrain_is_recorded_and_frees_the_in_flight_guardrail(workspace: Workspace) -> None:
    ws = workspace
    broken = model("iris-broken", cooldown="1s")
    broken["spec"]["training"]["estimator"] = {"class": "LogisticRegression", "params": {"C": "-1"}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], broken]))
    annotate(ws, "iris-broken", "retrain", "one")
    h = wait_history(ws, "iris-broken", "RetrainFailed", timeout=300)
    failed = h[-1]
    assert (failed["reason"], failed["trainingJob"]) == ("InvalidTrainingInput", "iris-broken-retrain-1")
    assert "'C'" in failed["message"] or " C " in failed["message"]
    st = get(ws, "model", "iris-broken")["status"]
    assert "inFlight" not in st["retraining"] and "aliases" not in st
    [warning] = model_events(ws, "RetrainFailed")
    assert warning["type"] == "Warning"
    # the next request may run at once: nothing is in flight any more
    annotate(ws, "iris-broken", "retrain", "two")
    h = wait_history(ws, "iris-broken", "RetrainTriggered", 2)
    assert h[-1]["trainingJob"] == "iris-broken-retrain-2"


def test_the_schedule_fires_once_per_occurrence_within_the_guardrails(workspace: Workspace) -> None:
    ws = workspace
    cron = model("iris-cron", triggers={"manual": False, "schedule": "* * * * *"}, cooldown="1s", maxPerDay=1)
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], cron]))
    h = wait_history(ws, "iris-cron", "RetrainTriggered", timeout=150)
    first = next(e for e in h if e["action"] == "RetrainTriggered")
    assert first["reason"] == "Scheduled" and "schedule '* * * * *' occurred at" in first["message"]
    assert first["trainingJob"] == "iris-cron-retrain-1"
    # later occurrences are skipped (not postponed): while the retrain runs (RetrainInFlight), then past maxPerDay 1
    wait_cond(ws, "trainingjob", "iris-cron-retrain-1", "Succeeded", timeout=300)
    skipped = wait_until(lambda: next((e for e in history(ws, "iris-cron") if e["action"] == "RetrainSkipped"
                                       and e["reason"] == "MaxPerDayReached"), None), 150,
                         what="an occurrence skipped for maxPerDay")
    assert "frees at" in skipped["message"]
    assert "schedule '* * * * *' occurred at" in skipped["message"] and "maxPerDay 1" in skipped["message"]
    assert "set a new herder.dev/retrain" not in skipped["message"]
    assert training_jobs(ws, "iris-cron") == ["iris-cron-retrain-1"]
    assert sum(e["action"] == "RetrainTriggered" for e in history(ws, "iris-cron")) == 1
def test_drift_starts_a_retrain_and_the_guardrails_stop_a_storm(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    drift_model = model("iris-drift", cooldown="1h", maxPerDay=1, triggers={
        "manual": True,
        "metrics": [{"name": "feature-drift", "metric": "FeatureDriftPSI", "threshold": {"max": "0.25"},
                     "window": "4s", "minSamples": 100, "failureLimit": 2}]})
    first = {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "iris-drift-v1"},
             "spec": {**LOOP["spec"]["training"], "modelRef": {"name": "iris-drift"}}}
    deployment = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris-drift"},
                  "spec": {"model": {"name": "iris-drift", "alias": "production"}, "replicas": 1}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], drift_model, first, deployment]))
    wait_until(lambda: get(ws, "modeldeployment", "iris-drift").get("status", {}).get("stableVersion") == 1
               and cond(get(ws, "modeldeployment", "iris-drift"), "Ready").get("status") == "True", 300,
               what="version 1 served")
    traffic = Traffic(ws, "iris-drift")
    traffic.start()
    try:
        # stationary traffic: conclusive passing measurements, no retrain
        wait_until(lambda: trigger_metric(ws, "iris-drift", "feature-drift").get("verdict") == "Pass", 120,
                   what="a conclusive Pass of the drift check")
        passed = trigger_metric(ws, "iris-drift", "feature-drift")
        assert passed["version"] == 1 and passed["samples"] >= 100
        assert float(passed["value"]) <= 0.25 and set(passed["features"]) >= {"petal_length", "sepal_width"}
        time.sleep(10)  # a few more windows of stationary traffic
        assert training_jobs(ws, "iris-drift") == ["iris-drift-v1"]
        assert not any(e["action"] == "RetrainTriggered" for e in history(ws, "iris-drift"))

        # drifted traffic: two failing windows in a row -> a retrain, with the numbers
        traffic.drifted = True
        h = wait_history(ws, "iris-drift", "RetrainTriggered", timeout=120)
        triggered = next(e for e in h if e["action"] == "RetrainTriggered")
        assert triggered["reason"] == "DriftDetected" and triggered["trainingJob"] == "iris-drift-retrain-1"
        assert float(triggered["metrics"]["feature-drift"]) > 0.25
        assert "2 consecutive failure(s), failureLimit 2" in triggered["message"]
        wait_cond(ws, "trainingjob", "iris-drift-retrain-1", "Succeeded", timeout=300)
        wait_until(lambda: production(ws, "iris-drift") == 2, 120, what="production -> v2")

        # the drift goes on (against v2 too): the cooldown holds the next retrain -- no storm
        def held() -> dict[str, Any] | None:
            c = cond(get(ws, "model", "iris-drift"), "Retraining")
            return c if c.get("reason") == "CooldownActive" else None

        waiting = wait_until(held, 180, what="the drift breach to wait for the cooldown")
        assert "DriftDetected" in waiting["message"] and "frees at" in waiting["message"]
        assert training_jobs(ws, "iris-drift") == ["iris-drift-retrain-1", "iris-drift-v1"]
    finally:
        traffic.stop.set()
        traffic.join(timeout=20)
    assert traffic.sent > 0

    # the report renders for this run: versions and their metrics, drift per feature, the retrain timeline
    out = tmp_path / "report-iris-drift"
    done = subprocess.run([sys.executable, "-m", "herder.cli", "report", "iris-drift", "-n", ws.namespace,
                           f"--kubeconfig={ws.cluster.kubeconfig}", f"--output={out}"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    html = (out / "index.html").read_text()
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 3, pngs
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, (png, len(data))
        assert png.name in html
    assert "iris-drift-retrain-1" in html and "DriftDetected" in html
    assert "No drift measured yet" not in html


@pytest.mark.usefixtures("operator_with_prometheus")
def test_a_prometheus_trigger_starts_a_retrain(workspace: Workspace) -> None:
    """A Prometheus check (here: the request rate of the production pods, above a deliberately low bound), asked
    of a real Prometheus scraping the serving pods, breaches and starts a retrain with the number it measured."""
    ws = workspace
    rate_query = f"sum(rate(herder_requests_total{{{SELECTOR}}}[{{{{window}}}}]))"
    busy = model("iris-prom", cooldown="1h", triggers={"manual": False, "metrics": [
        {"name": "request-rate", "provider": "Prometheus", "query": rate_query, "threshold": {"max": "2"},
         "window": "10s", "minSamples": 10, "failureLimit": 2}]})
    first = {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "iris-prom-v1"},
             "spec": {**LOOP["spec"]["training"], "modelRef": {"name": "iris-prom"}}}
    deployment = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris-prom"},
                  "spec": {"model": {"name": "iris-prom", "alias": "production"}, "replicas": 1}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:2], busy, first, deployment]))
    wait_until(lambda: get(ws, "modeldeployment", "iris-prom").get("status", {}).get("stableVersion") == 1
               and cond(get(ws, "modeldeployment", "iris-prom"), "Ready").get("status") == "True", 300,
               what="version 1 served")
    # no traffic: no data is inconclusive, never a trigger
    quiet = wait_until(lambda: trigger_metric(ws, "iris-prom", "request-rate").get("version") == 1
                       and trigger_metric(ws, "iris-prom", "request-rate"), 120, what="a first measurement")
    assert quiet["verdict"] == "Inconclusive"
    assert training_jobs(ws, "iris-prom") == ["iris-prom-v1"]
    traffic = Traffic(ws, "iris-prom")
    traffic.start()
    try:
        h = wait_history(ws, "iris-prom", "RetrainTriggered", timeout=180)
    finally:
        traffic.stop.set()
        traffic.join(timeout=20)
    triggered = next(e for e in h if e["action"] == "RetrainTriggered")
    assert triggered["reason"] == "MetricBreached" and triggered["trainingJob"] == "iris-prom-retrain-1"
    assert float(triggered["metrics"]["request-rate"]) > 2
    measured = trigger_metric(ws, "iris-prom", "request-rate")
    assert measured["verdict"] == "Fail" and measured["samples"] >= 10
