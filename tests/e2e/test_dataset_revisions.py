"""Fresh data, first steps: a Dataset whose spec changes is validated again (it used to stay Validating for good),
``herder.dev/refresh`` reads a replaced source again, every distinct content is a revision on status with a
content-addressed snapshot in the store, a failing one is recorded with its reason and never becomes current, and
training reads the pinned revision's snapshot: a run after the source changed trains on the new revision, a run
while the source is broken trains on the last good one, and the first version's data can still be read."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import S3
from tests.e2e.helpers import (
    IRIS,
    LOOP,
    Traffic,
    Workspace,
    cond,
    get,
    history,
    model,
    production,
    training_jobs,
    wait_cond,
    wait_history,
)
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def revisions(ws: Workspace, name: str) -> list[dict[str, object]]:
    return list(get(ws, "dataset", name).get("status", {}).get("revisions") or [])


def local(ws: Workspace, uri: object) -> Path:
    """A store URI (as pods see it) as the local file the node agent maps it to."""
    return ws.store / str(uri).removeprefix("file:///var/lib/herder/store/")


def refresh(ws: Workspace, name: str, value: str) -> None:
    ws.kubectl("annotate", "dataset", name, f"herder.dev/refresh={value}", "--overwrite")


def test_spec_change_and_refresh_make_revisions_and_a_retrain_uses_the_new_one(workspace: Workspace) -> None:
    ws = workspace
    csv = ws.store / "datasets" / "iris.csv"
    original = csv.read_bytes()
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(IRIS[:2]))
    ds = wait_cond(ws, "dataset", "iris", "Ready")
    assert ds["status"]["currentRevision"] == 1 and ds["status"]["validationJob"] == "iris-validate-1"
    [first] = revisions(ws, "iris")
    assert (first["number"], first["result"], first["rows"]) == (1, "Passed", 150)
    assert first["sizeBytes"] == len(original)
    assert local(ws, first["snapshot"]).read_bytes() == original and ds["status"]["snapshot"] == first["snapshot"]

    # 1. a spec change is validated again and decided (the wedge: it stayed Ready=False/Validating for good);
    # the same bytes are no new revision
    ws.kubectl("patch", "dataset", "iris", "--type=merge", "-p", '{"spec":{"validation":{"minRows":120}}}')
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris"))["status"].get("validationJob") == "iris-validate-2"
                    and cond(b, "Ready").get("status") == "True" and b, 180, what="generation 2 validated")
    assert [r["number"] for r in revisions(ws, "iris")] == [1]

    # 2. the source is replaced: a refresh makes revision 2 and the Dataset pins its digest
    rows = original.decode().splitlines()
    shifted = [rows[0], *(",".join([str(float(v) + 0.5) for v in r.split(",")[:4]] + r.split(",")[4:])
                          for r in rows[1:] if r)]
    csv.write_text("\n".join(shifted[:131]) + "\n")  # 130 rows, every measurement shifted by 0.5
    refresh(ws, "iris", "after-the-shift")
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris"))["status"].get("currentRevision") == 2 and b, 180,
                    what="revision 2 current")
    new_digest = "sha256:" + hashlib.sha256(csv.read_bytes()).hexdigest()
    assert ds["status"]["digest"] == new_digest and ds["status"]["rows"] == 130
    assert ds["status"]["refreshRequest"] == "after-the-shift"
    assert [(r["number"], r["digest"]) for r in revisions(ws, "iris")][:1] == [(2, new_digest)]
    reasons = json.loads(ws.kubectl("get", "events", "--field-selector", "involvedObject.name=iris", "-o", "json"))
    assert any(e["reason"] == "Valid" and "revision 2: 130 rows match the schema" in e["message"]
               for e in reasons["items"])

    # 3. a TrainingJob created now pins revision 2 and trains (the old pin failed with "data changed")
    tj = json.loads(json.dumps(IRIS[3]))
    tj["metadata"]["name"] = "iris-after-shift"
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([IRIS[2], tj]))
    done = wait_cond(ws, "trainingjob", "iris-after-shift", "Succeeded", timeout=300)
    assert done["status"]["datasetDigest"] == new_digest and done["status"]["datasetRevision"] == 2
    mv = get(ws, "modelversion", done["status"]["modelVersionName"])
    lineage = mv["spec"]["lineage"]["dataset"]
    assert (lineage["digest"], lineage["revision"]) == (new_digest, 2)
    assert local(ws, lineage["snapshot"]).read_bytes() == csv.read_bytes()

    # 4. a broken source: recorded as a failed revision with its reason, never current
    csv.write_text("sepal_length,sepal_width\n1,2\n")
    refresh(ws, "iris", "broken")
    ds = wait_cond(ws, "dataset", "iris", "Validated", status="False", timeout=180)
    newest = revisions(ws, "iris")[0]
    assert (newest["number"], newest["result"], newest["reason"]) == (3, "Failed", "InvalidData")
    assert "petal_length" in str(newest["message"]) and "snapshot" not in newest
    assert ds["status"]["currentRevision"] == 2 and ds["status"]["digest"] == new_digest
    ready = cond(ds, "Ready")  # still usable: training keeps revision 2, whose bytes are in the store
    assert ready["status"] == "True" and "revision 3 failed validation: InvalidData" in ready["message"]
    assert "training keeps revision 2" in ready["message"]

    # 5. a run while the source is broken trains on revision 2's snapshot (it used to fail: "data changed");
    # the first revision's snapshot is still there, byte for byte
    tj["metadata"]["name"] = "iris-while-broken"
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(tj))
    done = wait_cond(ws, "trainingjob", "iris-while-broken", "Succeeded", timeout=300)
    assert done["status"]["datasetRevision"] == 2 and done["status"]["datasetDigest"] == new_digest
    assert local(ws, first["snapshot"]).read_bytes() == original

    # 6. the operator restarted: no duplicate Job and no duplicate revision
    ws.operator.restart()
    refresh(ws, "iris", "broken")  # the same value: not a new request
    jobs = json.loads(ws.kubectl("get", "jobs", "-o", "json"))["items"]
    assert sorted(j["metadata"]["name"] for j in jobs if j["metadata"]["name"].startswith("iris-validate")) == \
        sorted(["iris-validate-1", "iris-validate-2", *(r["job"] for r in revisions(ws, "iris")[:2])])
    assert [r["number"] for r in revisions(ws, "iris")] == [3, 2, 1]

    # 7. the source disappears: a failed revision that names the URI and the problem; revision 2 stays current and
    # its snapshot stays readable (nothing lost)
    csv.unlink()
    refresh(ws, "iris", "gone")
    gone = wait_until(lambda: (r := revisions(ws, "iris")) and r[0]["number"] == 4 and r[0], 180,
                      what="revision 4 recorded")
    assert gone["result"] == "Failed" and "iris.csv" in str(gone["message"]), gone
    assert "not found" in str(gone["message"]).lower() or "no such file" in str(gone["message"]).lower(), gone
    ds = get(ws, "dataset", "iris")
    assert ds["status"]["currentRevision"] == 2 and cond(ds, "Ready")["status"] == "True"
    assert local(ws, ds["status"]["snapshot"]).read_bytes() == local(ws, revisions(ws, "iris")[2]["snapshot"]) \
        .read_bytes()

    # 8. the operator restarts while a refresh is validating: one Job for the attempt, one new revision
    before = get(ws, "dataset", "iris")["status"]["validationJob"]
    csv.write_bytes(original)
    refresh(ws, "iris", "restored")
    wait_until(lambda: get(ws, "dataset", "iris")["status"].get("validationJob") != before, 60, interval=0.1,
               what="the refresh's validation Job")
    ws.operator.restart()  # the validation pod is still starting: a Job takes seconds to validate
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris"))["status"].get("currentRevision") == 5 and b, 180,
                    what="revision 5 (the restored bytes) current")
    assert ds["status"]["digest"] == "sha256:" + hashlib.sha256(original).hexdigest()
    assert [r["number"] for r in revisions(ws, "iris")] == [5, 4, 3, 2, 1]
    attempt = revisions(ws, "iris")[0]["job"]
    jobs = json.loads(ws.kubectl("get", "jobs", "-o", "json"))["items"]
    assert [j["metadata"]["name"] for j in jobs].count(attempt) == 1


@dataclass
class Source:
    """Where the loop's Dataset reads from, and how its content changes."""

    dataset: dict[str, Any]
    original: bytes
    change: Callable[[bytes], None]
    """Replace the content (and, for a source without spec.refresh, ask for a refresh)."""


def test_new_data_retrains_and_the_new_version_goes_through_gate_and_canary_to_production(
        workspace: Workspace) -> None:
    """The fresh-data loop on the store's claim: the file is replaced and herder.dev/refresh asks to read it."""
    csv = workspace.store / "datasets" / "iris.csv"

    def change(content: bytes) -> None:
        csv.write_bytes(content)
        refresh(workspace, "iris", "new-data")

    new_data_loop(workspace, Source(IRIS[0], csv.read_bytes(), change))


def test_new_data_on_s3_refreshes_by_itself_and_goes_through_gate_and_canary_to_production(
        workspace: Workspace, operator_with_s3: S3) -> None:
    """The fresh-data loop against the S3-compatible server on loopback: the object is replaced and the Dataset's
    spec.refresh notices by itself (no annotation)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=operator_with_s3.endpoint)
    s3.create_bucket(Bucket="events")
    original = (workspace.store / "datasets" / "iris.csv").read_bytes()
    s3.put_object(Bucket="events", Key="iris/iris.csv", Body=original)
    dataset = json.loads(json.dumps(IRIS[0]))
    dataset["spec"]["source"]["uri"] = "s3://events/iris/iris.csv"
    dataset["spec"]["refresh"] = {"interval": "2s"}
    new_data_loop(workspace, Source(dataset, original,
                                    lambda content: s3.put_object(Bucket="events", Key="iris/iris.csv", Body=content)))


def new_data_loop(ws: Workspace, source: Source) -> None:
    """The source changes -> a refresh makes revision 2, with its drift against revision 1 on status -> the Model's
    newData trigger (newDataMinDrift 0.1) retrains on it -> the gate -> the ModelDeployment that follows production
    rolls it out by canary with live analysis -> production. The lineage names revision 2; the first version's
    snapshot is still readable; the run posts no Warning and says nothing twice."""
    name = "fresh"
    original = source.original
    loop = model(name, triggers={"manual": True, "newData": True, "newDataMinDrift": "0.1"}, cooldown="1s",
                 maxPerDay=5)
    first = {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": f"{name}-v1"},
             "spec": {**LOOP["spec"]["training"], "modelRef": {"name": name}}}
    deployment = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
                  "spec": {"model": {"name": name, "alias": "production"}, "replicas": 2,
                           "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "3s"}]}},
                           "analysis": {"interval": "3s", "metrics": [
                               {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"},
                                "minSamples": 5, "failureLimit": 1}]}}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([source.dataset, IRIS[1], loop, first, deployment]))
    wait_until(lambda: production(ws, name) == 1 and get(ws, "modeldeployment", name).get("status", {})
               .get("stableVersion") == 1, 300, what="version 1 in production and served")
    v1 = get(ws, "modelversion", f"{name}-v1")["spec"]["lineage"]["dataset"]
    assert v1["revision"] == 1
    idle = cond(get(ws, "model", name), "Retraining")
    assert "a new Dataset revision (after revision 1)" in idle["message"]
    assert training_jobs(ws, name) == [f"{name}-v1"]

    traffic = Traffic(ws, name)
    traffic.start()
    try:
        # the source changes: every measurement shifted by 0.5 (the same 150 rows, so the same holdout accuracy)
        rows = original.decode().splitlines()
        shifted = ("\n".join([rows[0], *(",".join([str(float(v) + 0.5) for v in r.split(",")[:4]] + r.split(",")[4:])
                                         for r in rows[1:] if r)]) + "\n").encode()
        source.change(shifted)
        h = wait_history(ws, name, "RetrainTriggered", timeout=180)
        triggered = next(e for e in h if e["action"] == "RetrainTriggered")
        assert triggered["reason"] == "NewData" and triggered["trainingJob"] == f"{name}-retrain-1"
        assert "Dataset revision 2 is new (the last retrain took revision 1)" in triggered["message"]
        assert "against revision 1 (production's), reaches newDataMinDrift 0.1" in triggered["message"]
        # the new revision's drift against the one production was trained on, counted in revision 1's bins
        ds = get(ws, "dataset", "iris")["status"]
        [drift] = ds["revisions"][0]["drift"]
        assert drift["againstRevision"] == 1 and float(drift["value"]) > 0.1, drift
        assert drift["column"] in {"sepal_length", "sepal_width", "petal_length", "petal_width"}
        assert float(drift["columns"]["species"]) == 0  # the labels did not move
        assert [b["revision"] for b in ds["baselines"]] == [1]  # production v1 still measures against it
        assert f"drift against revision 1: PSI {drift['value']}" in cond(get(ws, "dataset", "iris"),
                                                                           "Validated")["message"]
        tj = wait_cond(ws, "trainingjob", f"{name}-retrain-1", "Succeeded", timeout=300)
        assert tj["status"]["datasetRevision"] == 2
        wait_until(lambda: production(ws, name) == 2, 120, what="production -> v2 (the gate)")
        st = wait_until(lambda: (s := get(ws, "modeldeployment", name).get("status") or {})
                        .get("stableVersion") == 2 and s.get("canaryVersion") is None and s, 240, interval=0.5,
                        what="version 2 rolled out by canary and stable")
    finally:
        traffic.stop.set()
        traffic.join(timeout=20)
    analysed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
    assert analysed["verdict"] == "Pass" and analysed["version"] == 2
    assert [e["action"] for e in history(ws, name)][-3:] == ["RetrainTriggered", "Trained", "Promoted"]
    v2 = get(ws, "modelversion", f"{name}-v2")["spec"]["lineage"]["dataset"]
    assert v2["revision"] == 2 and v2["digest"] == "sha256:" + hashlib.sha256(shifted).hexdigest()
    assert local(ws, v1["snapshot"]).read_bytes() == original  # the first version's data, byte for byte
    # one new revision, one retrain: no second retrain for the same revision
    time.sleep(5)
    assert training_jobs(ws, name) == [f"{name}-retrain-1", f"{name}-v1"]
    # a healthy run -- validate, train, serve, refresh, retrain, canary, promote -- says so without a Warning and
    # without telling anything twice
    events = [e for e in json.loads(ws.kubectl("get", "events", "-o", "json"))["items"]
              if e["involvedObject"]["apiVersion"].startswith("herder.dev/")]
    ready = cond(get(ws, "model", name), "Ready")  # Ready means: it has a production version
    assert (ready["status"], ready["reason"]) == ("True", "ProductionVersion") and "production v2" in ready["message"]
    told = sorted((e["reason"], e["message"].split(":")[0]) for e in events
                  if e["involvedObject"]["kind"] == "Model" and e["reason"].startswith("Version"))
    assert told == [("VersionPromoted", "version 1 is production"),
                    ("VersionPromoted", "version 2 is production (was v1)"),
                    ("VersionTrained", "version 1 registered"), ("VersionTrained", "version 2 registered")], told
    assert events, "the operator posted no Event"
    warnings = [(e["involvedObject"]["kind"], e["reason"], e["message"]) for e in events if e["type"] == "Warning"]
    assert warnings == [], warnings
    twice = [(e["involvedObject"]["name"], e["reason"], e["message"], e.get("count")) for e in events
             if (e.get("count") or 1) > 1 or (e.get("series") or {}).get("count", 1) > 1]
    assert twice == [], twice


def _dataset(name: str, file: str) -> dict[str, object]:
    body = json.loads(json.dumps(IRIS[0]))
    body["metadata"] = {"name": name}
    body["spec"]["source"]["uri"] = f"file:///var/lib/herder/store/datasets/{file}"
    return dict(body)


def test_snapshot_retention_sweeps_what_nothing_refers_to_and_keeps_what_a_version_trained_on(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator marks every snapshot a Dataset revision, a ModelVersion or a TrainingJob refers to; the next
    validation Job deletes the rest once they are old enough (1 s here, an hour by default). A version's training
    data outlives its Dataset and TrainingJob; a deleted Dataset's snapshot nobody trained on goes."""
    ws = workspace
    monkeypatch.setenv("HERDER_SNAPSHOT_MIN_AGE_SECONDS", "1")
    ws.operator.restart()
    try:
        original = (ws.store / "datasets" / "iris.csv").read_bytes()
        rows = original.decode().splitlines()
        for n, by in (("tmp.csv", 0.25), ("sweeper.csv", 0.75)):  # two other contents: two other snapshots
            (ws.store / "datasets" / n).write_text("\n".join(
                [rows[0], *(",".join([str(float(v) + by) for v in r.split(",")[:4]] + r.split(",")[4:])
                            for r in rows[1:] if r)]) + "\n")
        ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(IRIS[:4]))
        done = wait_cond(ws, "trainingjob", "iris-v1", "Succeeded", timeout=300)
        trained_on = get(ws, "modelversion", done["status"]["modelVersionName"])["spec"]["lineage"]["dataset"]
        assert local(ws, trained_on["snapshot"]).read_bytes() == original
        ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(_dataset("tmp", "tmp.csv")))
        scratch = str(wait_cond(ws, "dataset", "tmp", "Ready")["status"]["snapshot"])
        assert local(ws, scratch).exists()
        # the Dataset, FeatureSet and TrainingJob go: only the ModelVersion refers to the first snapshot now, and
        # nothing to tmp's
        ws.kubectl("delete", "trainingjob", "iris-v1", "--wait=true")
        ws.kubectl("delete", "featureset", "iris-features", "--wait=true")
        ws.kubectl("delete", "dataset", "iris", "tmp", "--wait=true")
        time.sleep(1.5)  # older than the minimum age
        ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(_dataset("sweeper", "sweeper.csv")))
        own = str(wait_cond(ws, "dataset", "sweeper", "Ready")["status"]["snapshot"])
        assert not local(ws, scratch).exists(), "an unreferenced snapshot was kept"
        assert local(ws, trained_on["snapshot"]).read_bytes() == original  # a kept version's training data
        assert local(ws, own).exists()
    finally:
        monkeypatch.delenv("HERDER_SNAPSHOT_MIN_AGE_SECONDS")
        ws.operator.restart()
