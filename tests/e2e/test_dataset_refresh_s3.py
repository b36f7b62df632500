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


def test_a_partitioned_s3_source_takes_new_partitions_in_its_window_and_an_empty_window_loses_nothing(
        workspace: Workspace, operator_with_s3: S3) -> None:
    """parquet parts under dt=YYYY-MM-DD/ prefixes, a window of the newest two partitions and spec.refresh: a new
    partition is noticed by itself (the listing changed) and becomes revision 2 with the window moved on; a
    source whose parts all disappear is a failed revision naming the URI, and revision 2 stays current."""
    import io

    import pandas as pd

    ws = workspace
    s3 = boto3.client("s3", endpoint_url=operator_with_s3.endpoint)
    s3.create_bucket(Bucket="clicks")
    frame = pd.read_csv(ROOT / "examples" / "data" / "iris.csv").sample(frac=1.0, random_state=0)

    def put(day: int, rows: pd.DataFrame) -> None:
        out = io.BytesIO()
        rows.to_parquet(out, index=False)
        s3.put_object(Bucket="clicks", Key=f"iris/dt=2026-12-0{day}/part-0.parquet", Body=out.getvalue())

    for day in (1, 2, 3):
        put(day, frame.iloc[(day - 1) * 40:day * 40])
    dataset = json.loads(json.dumps(IRIS[0]))
    dataset["metadata"]["name"] = "iris-parts"
    dataset["spec"]["source"] = {"uri": "s3://clicks/iris/", "format": "parquet", "window": {"newest": 2}}
    dataset["spec"]["validation"]["minRows"] = 50
    dataset["spec"]["refresh"] = {"interval": "2s"}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(dataset))
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris-parts")).get("status", {}).get("currentRevision") == 1
                    and b, 180, what="revision 1 from two partitions")
    assert ds["status"]["rows"] == 80 and ds["status"]["sourceFingerprint"].startswith("parts=2;")
    first = ws.store / ds["status"]["snapshot"].removeprefix("file:///var/lib/herder/store/")
    assert len(pd.read_parquet(first)) == 80  # one file of the combined parts

    put(4, frame.iloc[120:150])  # a new day: the window moves to days 3 and 4
    ds = wait_until(lambda: (b := get(ws, "dataset", "iris-parts")).get("status", {}).get("currentRevision") == 2
                    and b, 120, what="revision 2 after a new partition")
    assert ds["status"]["rows"] == 70

    # a size cap the content breaks: a failed revision naming the URI and both sizes; revision 2 stays current
    ws.kubectl("patch", "dataset", "iris-parts", "--type=merge", "-p", '{"spec":{"source":{"maxBytes":1000}}}')
    big = wait_until(lambda: (r := get(ws, "dataset", "iris-parts")["status"]["revisions"]) and r[0]["number"] == 3
                     and r[0], 120, what="revision 3 (over the cap)")
    assert big["result"] == "Failed" and "the 2 parts of s3://clicks/iris/ hold" in str(big["message"]) \
        and "over the cap of 1000 bytes" in str(big["message"]), big
    assert get(ws, "dataset", "iris-parts")["status"]["currentRevision"] == 2
    ws.kubectl("patch", "dataset", "iris-parts", "--type=json", "-p",
               '[{"op": "remove", "path": "/spec/source/maxBytes"}]')

    for day in (1, 2, 3, 4):
        s3.delete_object(Bucket="clicks", Key=f"iris/dt=2026-12-0{day}/part-0.parquet")
    empty = wait_until(lambda: (r := get(ws, "dataset", "iris-parts")["status"]["revisions"])
                       and "no parts" in str(r[0].get("message")) and r[0], 120, what="a revision with no parts left")
    assert empty["result"] == "Failed" and "no parts in the window (newest 2 partition(s)) of s3://clicks/iris/" \
        in str(empty["message"]), empty
    ds = get(ws, "dataset", "iris-parts")
    assert ds["status"]["currentRevision"] == 2 and cond(ds, "Ready")["status"] == "True"
    assert first.exists()  # nothing lost: revision 1's snapshot is still in the store
