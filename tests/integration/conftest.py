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
from localcluster.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for its finalization)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)



class RunningOperator:
    """``herder operator`` as a real subprocess against the local cluster, under its own client-certificate
    identity (user ``herder-operator``), so the API server's audit log can count exactly its writes."""

    USER = "herder-operator"

    # The shared test operator watches only these namespaces, so tests that write statuses themselves (the CRD
    # contract tests) never race it.
    NAMESPACES = ("op-*", "e2e-*")

    def __init__(self, cluster: LocalCluster, log_path: Path, resync_seconds: float = 2.0) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.resync_seconds = resync_seconds
        self.kubeconfig = cluster.user_kubeconfig(self.USER, ("system:masters",))
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


@pytest.fixture(scope="session")
def crds(cluster: LocalCluster) -> LocalCluster:
    """The generated CRDs installed (server-side apply) and Established."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"), "--timeout=60s")
    return cluster


@pytest.fixture(scope="session")
def operator(crds: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOperator]:
    op = RunningOperator(crds, tmp_path_factory.mktemp("operator") / "operator.log")
    op.start()
    try:
        yield op
    finally:
        op.stop()
