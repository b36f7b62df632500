"""Fixtures for tests against the real local control plane (helpers live in tests/integration/k8s.py)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from localcluster.cluster import LocalCluster

from tests.integration.k8s import helm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for its finalization)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)



class RunningOperator:
    """``herder operator`` as a real subprocess against the local cluster, under the Helm chart's own
    ServiceAccount (a real token), so every test that uses it also proves the chart's RBAC is sufficient, and the
    API server's audit log can count exactly its writes."""

    # The shared test operator watches only these namespaces, so tests that write statuses themselves (the CRD
    # contract tests) never race it.
    NAMESPACES = ("op-*", "e2e-*")

    def __init__(self, cluster: LocalCluster, log_path: Path, kubeconfig: Path, user: str,
                 resync_seconds: float = 2.0) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.resync_seconds = resync_seconds
        self.kubeconfig = kubeconfig
        self.user = user
        """The identity the API server sees (and the audit log records) for this operator."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.liveness_port = 0

    def start(self) -> None:
        self.metrics_port, self.liveness_port = free_port(), free_port()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "herder.cli", "operator", f"--kubeconfig={self.kubeconfig}",
                 f"--resync-seconds={self.resync_seconds}", "--metrics-address=127.0.0.1",
                 f"--metrics-port={self.metrics_port}",
                 f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
                 *[f"--namespace={ns}" for ns in self.NAMESPACES]],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator not live after 60s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def op_namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace the test operator watches."""
    name = f"op-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


CHART_RELEASE = "herder-tests"
CHART_NAMESPACE = "herder-system-tests"


def helm_ok(cluster: LocalCluster, *args: str) -> str:
    result = helm(cluster, *args)
    assert result.returncode == 0, f"helm {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def chart_service_account_kubeconfig(cluster: LocalCluster) -> tuple[Path, str]:
    """``helm install`` the chart cluster-wide (its operator pod pinned to no node: the test runs the operator as
    a process instead) and return a kubeconfig with a real token of the chart's ServiceAccount."""
    helm_ok(cluster, "install", CHART_RELEASE, str(ROOT / "charts" / "herder"), "--namespace", CHART_NAMESPACE,
         "--create-namespace", "--set", f"fullnameOverride={CHART_RELEASE}",
         "--set", "nodeSelector.herder\\.dev/test-only=no-such-node")
    # The one grant beyond the chart: the test narrows the operator to its own namespaces with kopf's glob
    # patterns (so it never races tests that write statuses by hand), and kopf discovers matching namespaces by
    # listing them. Everything the operator does to Herder objects and their children uses the chart's RBAC.
    sa = f"{CHART_NAMESPACE}:{CHART_RELEASE}"
    cluster.kubectl("create", "clusterrole", "herder-tests-namespace-read", "--verb=get,list,watch",
                    "--resource=namespaces")
    cluster.kubectl("create", "clusterrolebinding", "herder-tests-namespace-read",
                    "--clusterrole=herder-tests-namespace-read", f"--serviceaccount={sa}")
    token = cluster.kubectl("create", "token", CHART_RELEASE, "-n", CHART_NAMESPACE, "--duration=2h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    path = cluster.run_dir / "chart-sa.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": admin["clusters"],
        "users": [{"name": "herder-sa", "user": {"token": token}}],
        "contexts": [{"name": "herder-sa", "context": {"cluster": admin["clusters"][0]["name"], "user": "herder-sa"}}],
        "current-context": "herder-sa"}))
    return path, f"system:serviceaccount:{CHART_NAMESPACE}:{CHART_RELEASE}"
