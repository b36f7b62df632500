"""The first half of the lifecycle, for real: the iris example from a Dataset to a served prediction, with the
validation, training and serving pods run as processes by the local node agent on loopback addresses."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import urllib.request
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import IRIS, Workspace, cond, get, wait_cond
from tests.integration.conftest import ROOT
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

def test_iris_from_dataset_to_prediction(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", str(ROOT / "examples" / "iris.yaml"))
    dataset = wait_cond(ws, "dataset", "iris", "Ready")
    data = (ROOT / "examples" / "data" / "iris.csv").read_bytes()
    assert dataset["status"]["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert dataset["status"]["rows"] == 150
    profile = {c["name"]: c for c in dataset["status"]["profile"]}
    assert profile["species"]["bins"]["categories"] == ["setosa", "versicolor", "virginica"]
    assert sum(profile["petal_length"]["bins"]["counts"]) == 150

    tj = wait_cond(ws, "trainingjob", "iris-v1", "Succeeded")
    assert tj["status"]["producedVersion"] == 1
    assert float(tj["status"]["metrics"]["accuracy"]) >= 0.9
    mv = get(ws, "modelversion", "iris-v1")
    assert mv["spec"]["artifact"]["digest"].startswith("sha256:")
    assert mv["spec"]["artifact"]["uri"].startswith("file:///var/lib/herder/store/artifacts/")
    lineage = mv["spec"]["lineage"]
    assert lineage["trainingJob"] == "iris-v1"
    assert lineage["dataset"] == {"name": "iris", "digest": dataset["status"]["digest"], "revision": 1,
                                  "snapshot": dataset["status"]["snapshot"]}
    assert lineage["featureSet"]["name"] == "iris-features"
    assert set(lineage["libraries"]) >= {"python", "scikit-learn", "numpy", "skops", "herder"}
    assert lineage["estimator"]["params"]["max_iter"] == 500
    assert mv["spec"]["metrics"]["accuracy"] == tj["status"]["metrics"]["accuracy"]
    artifact = ws.store / mv["spec"]["artifact"]["uri"].removeprefix("file:///var/lib/herder/store/")
    assert "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest() == mv["spec"]["artifact"]["digest"]

    model = wait_until(lambda: (m := get(ws, "model", "iris"))["status"].get("aliases", {}).get("production") and m,
                       60, what="the production alias")
    assert model["status"]["latestVersion"] == 1
    assert [h["action"] for h in model["status"]["history"]] == ["Trained", "Promoted"]
    assert cond(get(ws, "modelversion", "iris-v1"), "Rejected")["status"] == "False"

    mdep = wait_cond(ws, "modeldeployment", "iris", "Ready")
    assert mdep["status"]["stableVersion"] == 1
    assert mdep["status"]["url"] == f"http://iris.{ws.namespace}.svc.cluster.local/v2/models/iris"
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o", "json"))["items"]
    assert len(pods) == 2
    ip = pods[0]["status"]["podIP"]
    assert ip.startswith("127.")  # loopback rule
    req = urllib.request.Request(f"http://{ip}:8080/v1/models/iris:predict", method="POST",
                                 data=json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["predictions"] == ["setosa", "virginica"]
    _onnx_and_skops_serve_the_same(ws, mv, ip)

    # an artifact trained elsewhere can be registered as a version: judged by the same gate
    external = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelVersion", "metadata": {"name": "iris-v10"},
                "spec": {"modelRef": {"name": "iris"}, "version": 10, "artifact": mv["spec"]["artifact"],
                         "metrics": mv["spec"]["metrics"], "description": "registered by hand"}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(external))
    registered = wait_cond(ws, "modelversion", "iris-v10", "Ready", timeout=60)
    assert registered["status"]["gate"]["passed"] is True
    assert registered["status"]["gate"]["baseline"] == mv["spec"]["metrics"]["accuracy"]
    wait_until(lambda: get(ws, "model", "iris")["status"]["latestVersion"] == 10, 30, what="latestVersion 10")

    # the same TrainingJob spec again: a new version with the same metrics (deterministic training)
    again = {**IRIS[3], "metadata": {"name": "iris-again"}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(again))
    tj2 = wait_cond(ws, "trainingjob", "iris-again", "Succeeded")
    assert tj2["status"]["producedVersion"] == 11
    assert tj2["status"]["metrics"] == tj["status"]["metrics"]


def _infer(ip: str, body: dict[str, Any], path: str = "/v2/models/iris/infer") -> dict[str, Any]:
    req = urllib.request.Request(f"http://{ip}:8080{path}", method="POST", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        out: dict[str, Any] = json.loads(r.read())
        return out


def _onnx_and_skops_serve_the_same(ws: Workspace, mv: dict[str, Any], onnx_ip: str) -> None:
    """The trained version has a checked ONNX twin; Auto serves it, Skops serves the skops artifact, and both
    answer the same labels and probabilities."""
    onnx = mv["spec"]["artifact"]["onnx"]
    assert onnx["uri"].endswith("/model.onnx") and onnx["check"]["labelMismatches"] == 0
    assert onnx["check"]["rows"] == 30
    compiled = cond(get(ws, "modelversion", "iris-v1"), "Compiled")
    assert (compiled["status"], compiled["reason"]) == ("True", "OnnxVerified")
    deployment = json.loads(ws.kubectl("get", "deployment", "iris-stable", "-o", "json"))
    assert "--format=onnx" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]

    skops = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris-skops"},
             "spec": {"model": {"name": "iris", "version": 1}, "replicas": 1, "runtime": "Skops"}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(skops))
    wait_cond(ws, "modeldeployment", "iris-skops", "Ready")
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris-skops", "-o", "json"))["items"]
    assert "--format=skops" in pods[0]["spec"]["containers"][0]["args"]
    skops_ip = pods[0]["status"]["podIP"]
    assert skops_ip.startswith("127.")  # loopback rule
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.3, 2.8, 5.1, 1.5]]
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    body = {"inputs": [{"name": n, "shape": [len(rows)], "datatype": "FP64", "data": [r[i] for r in rows]}
                       for i, n in enumerate(names)], "parameters": {"probabilities": True}}
    a = {o["name"]: o["data"] for o in _infer(onnx_ip, body)["outputs"]}
    b = {o["name"]: o["data"] for o in _infer(skops_ip, body)["outputs"]}
    assert a.keys() == b.keys() and len(a) >= 2
    for name, values in a.items():
        assert values == pytest.approx(b[name], abs=1e-9) if isinstance(values[0], float) else values == b[name]
    ws.kubectl("delete", "modeldeployment", "iris-skops")


def _training(name: str, **spec: Any) -> dict[str, Any]:
    base = dict(IRIS[3]["spec"])
    base.update(spec)
    return {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": name}, "spec": base}


def _no_version_from(ws: Workspace, tj: dict[str, Any]) -> None:
    uid = tj["metadata"]["uid"]
    mvs = json.loads(ws.kubectl("get", "modelversions", "-l", f"herder.dev/trainingjob-uid={uid}", "-o", "json"))
    assert mvs["items"] == []


def test_bad_training_inputs_fail_with_the_trainers_reason(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(IRIS[:3]))
    wait_cond(ws, "dataset", "iris", "Ready")
    bad = [
        _training("pinned", datasetRef={"name": "iris", "digest": "sha256:" + "0" * 64}),
        _training("badparam", estimator={"class": "LogisticRegression", "params": {"C": "-1"}}),
        _training("slow", deadline="1s"),
    ]
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(bad))
    pinned = wait_cond(ws, "trainingjob", "pinned", "Failed")
    assert cond(pinned, "Failed")["reason"] == "DigestMismatch"
    assert "0000" in cond(pinned, "Failed")["message"]
    assert "pinned-train" not in ws.kubectl("get", "jobs", "-o", "name")  # refused before any Job ran

    badparam = wait_cond(ws, "trainingjob", "badparam", "Failed")
    assert cond(badparam, "Failed")["reason"] == "InvalidTrainingInput"
    assert "'C'" in badparam["status"]["failure"]["message"] or " C " in badparam["status"]["failure"]["message"]
    assert badparam["status"]["failure"]["exitCode"] == 2

    slow = wait_cond(ws, "trainingjob", "slow", "Failed")
    assert cond(slow, "Failed")["reason"] == "DeadlineExceeded"
    for tj in (pinned, badparam, slow):
        _no_version_from(ws, tj)
    # numbers belong to versions that exist: the failed runs burnt none, the first good run is version 1
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(_training("good")))
    good = wait_cond(ws, "trainingjob", "good", "Succeeded", timeout=300)
    assert good["status"]["producedVersion"] == 1

    # deleting the TrainingJobs leaves no Job and no pod behind (ownerReferences + garbage collection)
    ws.kubectl("delete", "trainingjobs", "badparam", "slow")
    wait_until(lambda: not [n for n in ws.kubectl("get", "jobs,pods", "-o", "name").split()
                            if "badparam" in n or "slow" in n], 60, what="the Jobs and pods to be collected")


def test_data_that_breaks_the_schema(workspace: Workspace) -> None:
    ws = workspace
    broken = json.loads(json.dumps(IRIS[0]))
    broken["metadata"]["name"] = "iris-strict"
    broken["spec"]["schema"]["columns"][2]["max"] = "5"  # petal_length goes up to 6.9
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(broken))
    ds = wait_cond(ws, "dataset", "iris-strict", "Validated", status="False", timeout=120)
    assert cond(ds, "Ready")["status"] == "False"
    validated = cond(ds, "Validated")
    assert validated["reason"] == "InvalidData"
    assert "petal_length" in validated["message"]
    assert "5" in validated["message"]


def test_operator_restart_during_training_makes_one_job_and_one_version(workspace: Workspace) -> None:
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(IRIS[:4]))
    wait_until(lambda: cond(get(ws, "trainingjob", "iris-v1"), "Running").get("status") == "True", 120,
               interval=0.5, what="training to start")
    ws.operator.restart()
    tj = wait_cond(ws, "trainingjob", "iris-v1", "Succeeded")
    jobs = [n for n in ws.kubectl("get", "jobs", "-o", "name").split() if "train" in n]
    assert jobs == ["job.batch/iris-v1-train"]
    uid = tj["metadata"]["uid"]
    mvs = json.loads(ws.kubectl("get", "modelversions", "-l", f"herder.dev/trainingjob-uid={uid}", "-o", "json"))
    assert [m["spec"]["version"] for m in mvs["items"]] == [1]


def test_trainer_crash_is_failed_with_its_exit_code_and_last_words(workspace: Workspace) -> None:
    """A trainer that dies (here: SIGKILL, as an OOM kill would) fails the run with TrainerCrashed, the exit
    code and the trainer's last log lines; no ModelVersion appears."""
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:3], _training("crash", backoffLimit=0)]))

    def trainer_pid() -> int | None:
        pods = json.loads(ws.kubectl("get", "pods", "-l", "job-name=crash-train", "-o", "json"))["items"]
        for p in pods:
            for cs in p.get("status", {}).get("containerStatuses") or []:
                if "running" in cs.get("state", {}) and cs.get("containerID"):
                    return int(cs["containerID"].rsplit("/", 1)[1])
        return None

    pid = wait_until(trainer_pid, 120, interval=0.2, what="the trainer process")
    os.kill(pid, signal.SIGKILL)
    crashed = wait_cond(ws, "trainingjob", "crash", "Failed")
    assert cond(crashed, "Failed")["reason"] == "TrainerCrashed"
    assert crashed["status"]["failure"]["exitCode"] == 137
    _no_version_from(ws, crashed)
