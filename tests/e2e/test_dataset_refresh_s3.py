"""A Dataset on S3 with spec.refresh: the operator asks the source for its metadata every interval (size, ETag),
a quiet source costs no validation Job and no status write, and new content becomes a revision by itself. The
S3-compatible server runs on 127.0.0.1; the pods get the credentials from the Secret, key by key."""

from __future__ import annotations

import hashlib
import json
import time

import boto3
import pytest
import yaml

from tests.e2e.conftest import S3
from tests.e2e.helpers import IRIS, Workspace, cond, get
from tests.integration.conftest import ROOT
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def validation_jobs(ws: Workspace) -> list[str]:
    return sorted(j["metadata"]["name"] for j in json.loads(ws.kubectl("get", "jobs", "-o", "json"))["items"]
                  if j["metadata"]["name"].startswith("iris-s3-validate"))


def test_a_refreshing_s3_dataset_costs_nothing_while_quiet_and_revises_itself_on_new_content(
        workspace: Workspace, operator_with_s3: S3) -> None:
    ws = workspace
    s3 = boto3.client("s3", endpoint_url=operator_with_s3.endpoint)
    s3.create_bucket(Bucket="events")
    original = (ROOT / "examples" / "data" / "iris.csv").read_bytes()
    s3.put_object(Bucket="events", Key="iris/iris.csv", Body=original)
    dataset = json.loads(json.dumps(IRIS[0]))
    dataset["metadata"]["name"] = "iris-s3"
    dataset["spec"]["source"]["uri"] = "s3://events/iris/iris.csv"
    dataset["spec"]["refresh"] = {"interval": "2s"}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(dataset))
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris-s3")).get("status", {}).get("currentRevision") == 1
                    and b, 180, what="revision 1 from S3")
    assert ds["status"]["digest"] == "sha256:" + hashlib.sha256(original).hexdigest()
    assert "size=" in ds["status"]["sourceFingerprint"] and "etag=" in ds["status"]["sourceFingerprint"]
    snapshot = ws.store / ds["status"]["snapshot"].removeprefix("file:///var/lib/herder/store/")
    assert snapshot.read_bytes() == original  # the S3 object's bytes, copied into the store

    # quiet: five refresh intervals, the source asked each time, no Job and no status write
    time.sleep(3)  # let the write of revision 1 reach the watch
    jobs, mark = validation_jobs(ws), ws.cluster.audit_lines()
    time.sleep(10)
    writes = [w for w in ws.cluster.writes_by(ws.operator.user, mark)
              if w["namespace"] == ws.namespace and w["resource"] == "datasets"]
    assert writes == [], writes
    assert validation_jobs(ws) == jobs and len(jobs) == 1

    # new content: a revision by itself within a few intervals, no annotation
    shifted = original.replace(b"5.1,3.5", b"5.2,3.6")
    s3.put_object(Bucket="events", Key="iris/iris.csv", Body=shifted)
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris-s3")).get("status", {}).get("currentRevision") == 2
                    and b, 120, what="revision 2 after the object changed")
    assert ds["status"]["digest"] == "sha256:" + hashlib.sha256(shifted).hexdigest()
    assert cond(ds, "Ready")["status"] == "True" and len(validation_jobs(ws)) == 2

    # the object disappears: a failed revision that names the URI; revision 2 stays current
    s3.delete_object(Bucket="events", Key="iris/iris.csv")
    gone = wait_until(lambda: (r := get(ws, "dataset", "iris-s3")["status"]["revisions"]) and r[0]["number"] == 3
                      and r[0], 120, what="revision 3 (the object is gone)")
    assert gone["result"] == "Failed" and "s3://events/iris/iris.csv" in str(gone["message"]), gone
    assert get(ws, "dataset", "iris-s3")["status"]["currentRevision"] == 2
