"""Graceful pod deletion on the local node agent, against the real API server: a deleted pod turns not ready (it
leaves its Services' ready endpoints) and keeps answering through its preStop hook; only then is it stopped and its
object removed. A force delete cuts a long preStop short.

(The API server refuses loopback addresses in EndpointSlices, so the local cluster's slices stay empty; what an
endpoint consumer sees here is the pod: Ready, and the deletionTimestamp that makes an endpoint terminating.)

The preStop hook here waits for a file the test creates, so every "meanwhile" below is a state the test holds
open, not a race it hopes to win.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from localcluster.cluster import LocalCluster

from tests.integration.k8s import get_json, wait_until
from tests.integration.test_localcluster import apply, local_pod

pytestmark = pytest.mark.integration


def web_pod(name: str, pre_stop: list[str], grace: int) -> dict[str, Any]:
    spec = local_pod(
        name, ["python", "-m", "http.server", "--bind", "$(POD_IP)", "8080"],
        restartPolicy="Always", terminationGracePeriodSeconds=grace,
        container={
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1},
            "lifecycle": {"preStop": {"exec": {"command": pre_stop}}},
        },
    )
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}


def hold_until(started: Path, release: Path) -> list[str]:
    """A preStop command that says it started, then blocks until ``release`` exists."""
    script = (f"import os, time\nopen({str(started)!r}, 'w').close()\n"
              f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.1)\n")
    return ["python", "-c", script]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def start_and_wait_ready(cluster: LocalCluster, namespace: str, pod: dict[str, Any]) -> tuple[int, str]:
    name = pod["metadata"]["name"]
    apply(cluster, namespace, pod)
    cluster.kubectl("wait", "-n", namespace, f"pod/{name}", "--for=condition=Ready", "--timeout=90s")
    status = get_json(cluster, "pod", name, "-n", namespace)["status"]
    pid = int(status["containerStatuses"][0]["containerID"].rsplit("/", 1)[1])
    ip = status["podIP"]
    assert ip.startswith("127.")  # loopback rule
    return pid, ip


def pod_gone(cluster: LocalCluster, namespace: str, name: str) -> bool:
    out = cluster.kubectl("get", "pod", name, "-n", namespace, "--ignore-not-found", "-o", "name").stdout
    return not out.strip()


def test_a_deleted_pod_leaves_its_endpoints_and_answers_until_its_pre_stop_ends(
        cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    started, release = tmp_path / "prestop-started", tmp_path / "prestop-release"
    pid, ip = start_and_wait_ready(cluster, namespace, web_pod("web", hold_until(started, release), grace=120))

    cluster.kubectl("delete", "pod", "web", "-n", namespace, "--wait=false")
    wait_until(started.exists, 60, what="the preStop hook to start")
    # meanwhile (the hook holds): the pod is still there, terminating and not ready (marked so before the hook
    # started), so no endpoint consumer sends it new requests; and the server still answers the stragglers
    pod = get_json(cluster, "pod", "web", "-n", namespace)
    assert pod["metadata"]["deletionTimestamp"]
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 120
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert (conditions["Ready"], conditions["ContainersReady"]) == ("False", "False")
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    assert "running" in pod["status"]["containerStatuses"][0]["state"]
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=30) as r:
        assert r.status == 200
    assert alive(pid)

    release.touch()  # the hook ends: SIGTERM, the server exits, the object goes
    wait_until(lambda: pod_gone(cluster, namespace, "web"), 60, what="the pod object to be removed")
    wait_until(lambda: not alive(pid), 30, what=f"process {pid} to stop")


def test_a_force_delete_cuts_a_long_pre_stop_short(cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    started, never = tmp_path / "prestop-started", tmp_path / "never-created"
    pid, _ = start_and_wait_ready(cluster, namespace, web_pod("stuck", hold_until(started, never), grace=3600))

    cluster.kubectl("delete", "pod", "stuck", "-n", namespace, "--wait=false")
    wait_until(started.exists, 60, what="the preStop hook to start")
    assert alive(pid)
    cluster.kubectl("delete", "pod", "stuck", "-n", namespace, "--grace-period=0", "--force", "--wait=false")
    wait_until(lambda: not alive(pid), 60, what=f"process {pid} to be killed despite its hour-long grace period")
    wait_until(lambda: pod_gone(cluster, namespace, "stuck"), 60, what="the pod object to be removed")
