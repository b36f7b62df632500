"""The operator's store on S3 (the chart's storage.s3.uri): validation, training and serving pods read and write
s3:// locations with the credentials Secret's keys (no claim, no volume); snapshots and artifacts are written
once. The S3-compatible server (moto) runs on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import boto3
import pytest
import yaml

from tests.e2e.conftest import S3
from tests.e2e.helpers import IRIS, Workspace, get, predict, serving_pods, wait_cond
from tests.integration.conftest import ROOT
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def s3_store(workspace: Workspace, operator_with_s3: S3, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """The operator restarted with HERDER_STORAGE_URI=s3://store/herder (as the chart sets it from storage.s3.uri),
    and back to the claim afterwards (before operator_with_s3 restarts it without credentials)."""
    boto3.client("s3", endpoint_url=operator_with_s3.endpoint).create_bucket(Bucket="store")
    monkeypatch.setenv("HERDER_STORAGE_URI", "s3://store/herder")
    workspace.operator.restart()
    try:
        yield operator_with_s3
    finally:
        monkeypatch.delenv("HERDER_STORAGE_URI")


def keys(s3: object, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket="store", Prefix=prefix)  # type: ignore[attr-defined]
    return sorted(o["Key"] for o in listed.get("Contents") or [])


def test_validate_train_and_serve_with_the_store_on_s3(workspace: Workspace, s3_store: S3) -> None:
    ws = workspace
    s3 = boto3.client("s3", endpoint_url=s3_store.endpoint)
    s3.create_bucket(Bucket="events")
    original = (ROOT / "examples" / "data" / "iris.csv").read_bytes()
    s3.put_object(Bucket="events", Key="iris.csv", Body=original)
    docs = json.loads(json.dumps(IRIS))
    docs[0]["spec"]["source"]["uri"] = "s3://events/iris.csv"
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    ds = wait_cond(ws, "dataset", "iris", "Ready", timeout=180)
    digest = hashlib.sha256(original).hexdigest()
    assert ds["status"]["snapshot"] == f"s3://store/herder/snapshots/sha256/{digest}.csv"
    assert s3.get_object(Bucket="store", Key=f"herder/snapshots/sha256/{digest}.csv")["Body"].read() == original

    tj = wait_cond(ws, "trainingjob", "iris-v1", "Succeeded", timeout=300)
    mv = get(ws, "modelversion", tj["status"]["modelVersionName"])
    artifact = mv["spec"]["artifact"]
    assert artifact["uri"].startswith("s3://store/herder/artifacts/"), artifact
    key = artifact["uri"].removeprefix("s3://store/")
    body = s3.get_object(Bucket="store", Key=key)["Body"].read()
    assert "sha256:" + hashlib.sha256(body).hexdigest() == artifact["digest"]
    folder = key.rsplit("/", 1)[0] + "/"
    assert {k.rsplit("/", 1)[-1] for k in keys(s3, folder)} >= {"model.skops", "metadata.json"}
    assert mv["spec"]["lineage"]["dataset"]["snapshot"] == ds["status"]["snapshot"]

    wait_cond(ws, "modeldeployment", "iris", "Ready", timeout=300)
    pods = wait_until(lambda: serving_pods(ws), 120, what="a ready serving pod")
    assert all(predict(ip) == 200 for ip, _, _ in pods)
    for kind in ("job", "deployment"):
        specs = json.loads(ws.kubectl("get", kind, "-o", "json"))["items"]
        for item in specs:
            pod = item["spec"]["template"]["spec"]
            assert all("persistentVolumeClaim" not in v for v in pod.get("volumes") or []), item["metadata"]["name"]
            assert "testing" not in json.dumps(pod)  # the credentials only by secretKeyRef
