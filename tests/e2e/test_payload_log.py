"""The payload log survives the pod, on the local cluster: a ModelDeployment with ``payloadLog`` writes every
sampled prediction and every feedback label to the store as parquet parts. A pod deleted the normal way loses
none of them; a pod SIGKILLed loses at most one flush interval. Counted: sent vs persisted."""

from __future__ import annotations

import copy
import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.e2e.helpers import IRIS, ROW, Workspace, get, serving_pods, wait_cond
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _persisted(ws: Workspace) -> list[dict[str, Any]]:
    root = ws.store / "payloads" / ws.namespace / "iris" / "v1"
    out: list[dict[str, Any]] = []
    for part in sorted(root.rglob("*.parquet")) if root.exists() else []:
        out.extend(pq.read_table(part).to_pylist())
    return out


def _post(ip: str, path: str, body: bytes) -> dict[str, Any]:
    req = urllib.request.Request(f"http://{ip}:8080{path}", method="POST", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as r:
        out: dict[str, Any] = json.loads(r.read())
        return out


def _send(ip: str, count: int, tag: str) -> list[str]:
    ids = []
    for i in range(count):
        req = urllib.request.Request(f"http://{ip}:8080/v1/models/iris:predict", method="POST", data=ROW,
                                     headers={"content-type": "application/json", "x-request-id": f"{tag}-{i}"})
        with urllib.request.urlopen(req, timeout=15) as r:
            assert r.status == 200
        ids.append(f"{tag}-{i}")
    return ids


def _pod(ws: Workspace, ip: str) -> dict[str, Any]:
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving=iris", "-o", "json"))["items"]
    return next(p for p in pods if p["status"].get("podIP") == ip)


def _logging_pods(ws: Workspace) -> list[str]:
    """IPs of ready serving pods that run with the payload log."""
    out = []
    for ip, _, _ in serving_pods(ws):
        if any(a.startswith("--payload-log=") for a in _pod(ws, ip)["spec"]["containers"][0]["args"]):
            out.append(ip)
    return out


def test_payload_log_survives_graceful_deletion_and_sigkill(workspace: Workspace) -> None:
    ws = workspace
    docs = copy.deepcopy(IRIS)
    deployment = next(d for d in docs if d["kind"] == "ModelDeployment")
    deployment["spec"]["payloadLog"] = {"sampleFraction": "1", "flushInterval": "1s"}
    deployment["spec"]["replicas"] = 1
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    wait_cond(ws, "modeldeployment", "iris", "Ready", timeout=300)
    [ip] = wait_until(lambda: (ips := _logging_pods(ws)) and ips, 120, what="a serving pod with the payload log")
    pod = _pod(ws, ip)
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "store")
    assert mount.get("readOnly", False) is False  # it writes its parts (the API server omits false)

    # graceful: predictions and feedback, then the pod is deleted as a rollout or a drain would
    ids = _send(ip, 120, "graceful")
    for rid in ids[:40]:
        _post(ip, "/v1/models/iris:feedback", json.dumps({"id": rid, "label": "setosa"}).encode())
    ws.kubectl("delete", "pod", pod["metadata"]["name"], "--wait=true", "--timeout=90s")
    records = _persisted(ws)
    predictions = [r for r in records if r["kind"] == "prediction"]
    feedback = [r for r in records if r["kind"] == "feedback"]
    assert sorted(r["id"] for r in predictions) == sorted(ids)  # none lost
    assert sorted(r["id"] for r in feedback) == sorted(ids[:40])
    assert {json.loads(r["labels"])[0] for r in feedback} == {"setosa"}
    assert all(json.loads(r["outputs"]) == ["setosa"] for r in predictions)
    names = {Path(p).name.split("-")[0] for p in map(str, (ws.store / "payloads").rglob("*.parquet"))}
    assert names == {"iris"}  # parts are named by the pod: iris-stable-<hash>-<id>-...

    # SIGKILL: what was flushed (older than one interval) is kept, at most the last interval is lost
    [ip] = wait_until(lambda: (ips := _logging_pods(ws)) and ips, 120, what="the replacement pod")
    flushed = _send(ip, 100, "kill")
    time.sleep(3.0)  # three flush intervals
    recent = _send(ip, 30, "recent")
    status = _pod(ws, ip)["status"]["containerStatuses"][0]
    os.kill(int(status["containerID"].rsplit("/", 1)[1]), signal.SIGKILL)
    time.sleep(1.0)
    after = {r["id"] for r in _persisted(ws) if r["kind"] == "prediction"}
    assert set(flushed) <= after  # everything older than a flush interval survived the SIGKILL
    assert set(after) <= set(ids) | set(flushed) | set(recent)  # and nothing was written twice or invented
    assert get(ws, "modeldeployment", "iris")["spec"]["payloadLog"]["flushInterval"] == "1s"
