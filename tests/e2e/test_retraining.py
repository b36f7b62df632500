"""The training half of the loop, for real: the herder.dev/retrain annotation on a Model starts a TrainingJob from
the Model's template, its ModelVersion goes through the gate and production moves to it -- with the guardrails
(cooldown, maxPerDay, approval, one in flight) refusing or holding what they should, every step on the Model's
history and as an Event, and a restarted operator making no second TrainingJob or version."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Workspace
from tests.e2e.test_iris import IRIS, cond, get, wait_cond
from tests.integration.conftest import ROOT
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOOP = yaml.safe_load((ROOT / "examples" / "retraining-loop.yaml").read_text())


def model(name: str, **retraining: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(LOOP))
    body["metadata"]["name"] = name
    body["spec"]["retraining"].update(retraining)
    return dict(body)


def annotate(ws: Workspace, name: str, key: str, value: str) -> None:
    ws.kubectl("annotate", "model", name, f"herder.dev/{key}={value}", "--overwrite")


def history(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return list(get(ws, "model", name).get("status", {}).get("history") or [])


def wait_history(ws: Workspace, name: str, action: str, count: int = 1, timeout: float = 120) -> list[dict[str, Any]]:
    """The history once it holds ``count`` entries of ``action``."""
    return list(wait_until(lambda: (h := history(ws, name)) and sum(e["action"] == action for e in h) >= count and h,
                           timeout, interval=1, what=f"{count} {action} entr(ies) on Model {name}'s history"))


def training_jobs(ws: Workspace, model_name: str) -> list[str]:
    items = json.loads(ws.kubectl("get", "trainingjobs", "-l", f"herder.dev/model={model_name}", "-o", "json"))
    return sorted(i["metadata"]["name"] for i in items["items"])


def events(ws: Workspace, reason: str) -> list[dict[str, Any]]:
    out = json.loads(ws.kubectl("get", "events", "--field-selector", f"involvedObject.kind=Model,reason={reason}",
                                "-o", "json"))
    return list(out["items"])


def production(ws: Workspace, name: str) -> int | None:
    aliases = get(ws, "model", name).get("status", {}).get("aliases") or {}
    return aliases.get("production")


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
    assert len(events(ws, "RetrainTriggered")) == 1

    # 2. a second request inside the cooldown (1h): refused, said so with when it frees, no TrainingJob
    annotate(ws, "iris-loop", "retrain", "second")
    h = wait_history(ws, "iris-loop", "RetrainSkipped")
    skipped = h[-1]
    assert skipped["reason"] == "CooldownActive"
    assert "herder.dev/retrain='second' refused: cooldown 1h since the last retrain" in skipped["message"]
    assert "frees at" in skipped["message"]
    retraining = cond(get(ws, "model", "iris-loop"), "Retraining")
    assert retraining["status"] == "False" and "cooldown 1h" in retraining["message"]
    [warning] = events(ws, "RetrainSkipped")
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
    assert cond(refs, "Ready")["status"] == "True"  # the registry itself is fine
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
