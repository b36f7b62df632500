"""The local control plane behaves like a real cluster: the API server, controllers, kwok and the node agent."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.cluster import HERDER_IMAGE, LocalCluster

from tests.integration.k8s import get_json, wait_until

pytestmark = pytest.mark.integration

KWOK_NODE = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "kwok-node-0", "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-0"},
                 "annotations": {"kwok.x-k8s.io/node": "fake"}},
    "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
}


def apply(cluster: LocalCluster, namespace: str, *docs: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))


def local_pod(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    """A pod spec for the node agent: Herder image, pinned to the local node."""
    container = {"name": "main", "image": f"{HERDER_IMAGE}:dev", "command": command, **extra.pop("container", {})}
    return {"restartPolicy": "Never", "nodeSelector": {"type": "herder-local"},
            "automountServiceAccountToken": False, "containers": [container], **extra}


def pod_of(cluster: LocalCluster, namespace: str, selector: str) -> dict[str, Any]:
    items = get_json(cluster, "pods", "-n", namespace, "-l", selector)["items"]
    return items[0] if items else {}


def test_deployment_on_kwok_becomes_available(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(KWOK_NODE))
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "nodeSelector": {"type": "kwok"},
                     "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                     "containers": [{"name": "c", "image": "nginx:1.27"}]}}},
    }
    apply(cluster, namespace, deploy)
    cluster.kubectl("wait", "-n", namespace, "deployment/web", "--for=condition=Available", "--timeout=60s")
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "app=web")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"] * 3
    assert all(ipaddress.ip_address(p["status"]["podIP"]).is_loopback for p in pods)

    # deleting the owner garbage-collects its children (ReplicaSet, then pods)
    cluster.kubectl("delete", "-n", namespace, "deployment/web", "--cascade=background")
    wait_until(lambda: not get_json(cluster, "replicasets,pods", "-n", namespace)["items"], 60,
               what="garbage collection of the Deployment's ReplicaSet and pods")


def test_owner_reference_garbage_collection(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = get_json(cluster, "configmap", "owner", "-n", namespace)["metadata"]["uid"]
    child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "child", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}}
    apply(cluster, namespace, child)
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_until(lambda: cluster.kubectl("get", "configmap", "child", "-n", namespace, check=False).returncode != 0,
               60, what="the child ConfigMap to be garbage-collected")


def test_job_on_node_agent_runs_a_real_process(cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    script = ("import os; open('/out/result.txt', 'w').write(os.environ['POD_IP']);"
              "open('/dev/termination-log', 'w').write('wrote result.txt')")
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "writer"},
        "spec": {"backoffLimit": 0, "template": {"spec": local_pod(
            "writer", ["python", "-c", script],
            volumes=[{"name": "out", "emptyDir": {}}],
            container={"env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                       "volumeMounts": [{"name": "out", "mountPath": "/out"}]},
        )}},
    }
    apply(cluster, namespace, job)
    cluster.kubectl("wait", "-n", namespace, "job/writer", "--for=condition=Complete", "--timeout=60s")
    pod = pod_of(cluster, namespace, "job-name=writer")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["message"] == "wrote result.txt"  # terminationMessagePath honoured
    pod_ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip).is_loopback
    written = list((cluster.run_dir / "node-agent" / "pods").glob(f"{namespace}_*/volumes/out/result.txt"))
    assert [p.read_text() for p in written] == [pod_ip]


def test_failing_job_is_retried_then_failed(cluster: LocalCluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "crasher"},
        "spec": {"backoffLimit": 1, "template": {"spec": local_pod(
            "crasher", ["python", "-c", "import sys; print('boom'); sys.exit(1)"])}},
    }
    apply(cluster, namespace, job)
    cluster.kubectl("wait", "-n", namespace, "job/crasher", "--for=condition=Failed", "--timeout=90s")
    status = get_json(cluster, "job", "crasher", "-n", namespace)["status"]
    assert status["failed"] == 2  # the first run plus backoffLimit=1 retry
    reasons = {c["reason"] for c in status["conditions"] if c["type"] == "Failed"}
    assert reasons == {"BackoffLimitExceeded"}
    pods = get_json(cluster, "pods", "-n", namespace, "-l", "job-name=crasher")["items"]
    assert sorted(p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods) == [1, 1]


def _server_pod(path: str) -> dict[str, Any]:
    return local_pod(
        "web", ["python", "-m", "http.server", "--bind", "$(POD_IP)", "8080"],
        restartPolicy="Always",
        container={
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 1,
                               "failureThreshold": 1},
        },
    )


def test_readiness_probe_decides_ready(cluster: LocalCluster, namespace: str) -> None:
    good = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "good"}, "spec": _server_pod("/")}
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": _server_pod("/missing")}
    apply(cluster, namespace, good, bad)
    cluster.kubectl("wait", "-n", namespace, "pod/good", "--for=condition=Ready", "--timeout=60s")
    pod = get_json(cluster, "pod", "bad", "-n", namespace)
    assert pod["status"]["phase"] == "Running"
    conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conds["Ready"] == "False"


def test_pod_deletion_kills_the_process(cluster: LocalCluster, namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
           "spec": {**local_pod("sleeper", ["python", "-c", "import time; time.sleep(600)"]),
                    "terminationGracePeriodSeconds": 2}}
    apply(cluster, namespace, pod)
    running = wait_until(
        lambda: (get_json(cluster, "pod", "sleeper", "-n", namespace)["status"].get("containerStatuses")
                 or [{}])[0].get("state", {}).get("running"), 30, what="the sleeper to run")
    assert running
    cid = get_json(cluster, "pod", "sleeper", "-n", namespace)["status"]["containerStatuses"][0]["containerID"]
    pid = int(cid.rsplit("/", 1)[1])
    os.kill(pid, 0)  # the process is real
    cluster.kubectl("delete", "pod", "sleeper", "-n", namespace, "--timeout=30s")

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"

    wait_until(gone, 15, what=f"process {pid} to be killed")


def test_unsupported_image_gets_a_clear_failed_status(cluster: LocalCluster, namespace: str) -> None:
    spec = local_pod("nginx", ["nginx"])
    spec["containers"][0]["image"] = "nginx:1.27"
    apply(cluster, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"}, "spec": spec})
    status = wait_until(
        lambda: (s := get_json(cluster, "pod", "nginx", "-n", namespace)["status"]).get("phase") == "Failed" and s,
        30, what="the pod to fail")
    assert status["reason"] == "UnsupportedImage"
    assert "'nginx:1.27'" in status["message"] and "kwok" in status["message"]


def test_rbac_is_enforced(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "robot", "-n", namespace)
    who = f"--as=system:serviceaccount:{namespace}:robot"
    denied = cluster.kubectl("get", "configmaps", "-n", namespace, who, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower() and "robot" in denied.stderr
    cluster.kubectl("create", "role", "reader", "--verb=get,list", "--resource=configmaps", "-n", namespace)
    cluster.kubectl("create", "rolebinding", "robot-reader", "--role=reader",
                    f"--serviceaccount={namespace}:robot", "-n", namespace)
    wait_until(lambda: cluster.kubectl("get", "configmaps", "-n", namespace, who, check=False).returncode == 0,
               10, what="the RoleBinding to take effect")


def _listening_addresses(pids: set[int]) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket owned by ``pids``, read from /proc."""
    inodes: dict[str, int] = {}
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else []:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if m := re.fullmatch(r"socket:\[(\d+)\]", target):
                inodes[m.group(1)] = pid
    found = []
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A = LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip)
            ip = (ipaddress.IPv4Address(raw[::-1]) if family == 4
                  else ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
            name = Path(f"/proc/{inodes[cols[9]]}/comm").read_text().strip()
            found.append((name, str(ip), int(hex_port, 16)))
    return found


def _descendants(pids: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += children.get(p, [])
    return out


def test_every_listener_is_on_loopback(cluster: LocalCluster, namespace: str) -> None:
    # a served pod too, so the node agent's pods are part of the picture
    apply(cluster, namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                               "spec": _server_pod("/")})
    cluster.kubectl("wait", "-n", namespace, "pod/web", "--for=condition=Ready", "--timeout=60s")
    assert cluster.state is not None
    pids = _descendants({p.pid for p in cluster.state.processes})
    listeners = _listening_addresses(pids)
    names = {n for n, _, _ in listeners}
    assert {"etcd", "kube-apiserver", "kwok", "python"} <= names, listeners
    assert any(n.startswith("kube-controller") for n in names) and any(n.startswith("kube-schedul") for n in names)
    outside = [entry for entry in listeners if not ipaddress.ip_address(entry[1]).is_loopback]
    assert outside == [], f"listeners outside 127.0.0.0/8: {outside}"


def test_start_stop_twice_leaves_nothing_behind(tmp_path: Path) -> None:
    for round_ in range(2):
        c = LocalCluster(tmp_path / f"round{round_}")
        state = c.start()
        pids = {p.pid for p in state.processes}
        assert c.kubectl("get", "--raw", "/readyz").stdout == "ok"
        ports = set(state.ports.values())
        c.stop()
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(pid)
        assert alive == []
        assert not any(port in ports for _, _, port in _listening_addresses(_descendants({os.getpid()})))
