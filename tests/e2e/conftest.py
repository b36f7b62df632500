"""End-to-end fixtures: a namespace with Herder's store claim and the example data in it, and a real Prometheus
scraping it (for the Prometheus provider and triggers). The helpers the modules share are in helpers.py."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from localcluster.prometheus import LocalPrometheus

from tests.e2e.helpers import Workspace
from tests.integration.conftest import ROOT, RunningOperator


@pytest.fixture
def workspace(operator: RunningOperator) -> Iterator[Workspace]:
    cluster = operator.cluster
    ns = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", ns)
    # Every pod the operator generates (validation, training, serving) must be admitted under Pod Security
    # Standards "restricted": the API server's PodSecurity admission enforces it for the whole e2e run.
    cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/enforce-version=latest")
    store = cluster.provision_storage(ns)
    (store / "datasets").mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "examples" / "data").iterdir():
        shutil.copy(f, store / "datasets" / f.name)
    yield Workspace(cluster, operator, ns, store)
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def prometheus(workspace: Workspace, tmp_path: Path) -> Iterator[LocalPrometheus]:
    with LocalPrometheus(workspace.cluster.kubeconfig, tmp_path / "prometheus", (workspace.namespace,)) as prom:
        yield prom


@pytest.fixture
def operator_with_prometheus(workspace: Workspace, prometheus: LocalPrometheus,
                             monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalPrometheus]:
    """The session's operator restarted with HERDER_PROMETHEUS_URL (as the chart's prometheus.url sets it), and
    restarted without it afterwards so later tests see the operator they expect."""
    monkeypatch.setenv("HERDER_PROMETHEUS_URL", prometheus.url)
    workspace.operator.restart()
    try:
        yield prometheus
    finally:
        monkeypatch.delenv("HERDER_PROMETHEUS_URL")
        workspace.operator.restart()


@dataclass
class S3:
    endpoint: str
    secret: str


@pytest.fixture
def operator_with_s3(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """An S3-compatible server (moto) on 127.0.0.1, a credentials Secret in the workspace, and the session's
    operator restarted as the chart runs it with storage.s3.secretName (HERDER_STORAGE_SECRET, and the Secret's
    keys as its environment); restarted without them afterwards."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"  # loopback rule
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    workspace.kubectl("create", "secret", "generic", "herder-s3", *[f"--from-literal={k}={v}" for k, v in keys.items()])
    for k, v in {**keys, "HERDER_STORAGE_SECRET": "herder-s3"}.items():
        monkeypatch.setenv(k, v)
    workspace.operator.restart()
    try:
        yield S3(keys["AWS_ENDPOINT_URL"], "herder-s3")
    finally:
        for k in [*keys, "HERDER_STORAGE_SECRET"]:
            monkeypatch.delenv(k)
        workspace.operator.restart()
        server.stop()
