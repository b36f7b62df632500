"""Shared pytest wiring: ``hack/`` on the import path (the local control plane lives there) and the
``cluster`` session fixture — one real local control plane for every integration and end-to-end test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

from localcluster.cluster import LocalCluster  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A running control plane with kwok and the local node agent; torn down at the end of the session.

    Set HERDER_TEST_RUN_DIR to keep its logs somewhere you can read after a failure.
    """
    run_dir = Path(os.environ.get("HERDER_TEST_RUN_DIR") or tmp_path_factory.mktemp("cluster"))
    c = LocalCluster(run_dir)
    c.start()
    try:
        yield c
    finally:
        c.stop()


# Session fixtures shared by integration and e2e tests (defined once: a second definition would start a second
# operator racing the first).
from tests.integration.conftest import RunningOperator, chart_service_account_kubeconfig  # noqa: E402


@pytest.fixture(scope="session")
def crds(cluster: LocalCluster) -> LocalCluster:
    """The generated CRDs installed (server-side apply) and Established."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"), "--timeout=60s")
    return cluster


@pytest.fixture(scope="session")
def operator(crds: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOperator]:
    kubeconfig, user = chart_service_account_kubeconfig(crds)
    op = RunningOperator(crds, tmp_path_factory.mktemp("operator") / "operator.log", kubeconfig, user)
    op.start()
    try:
        yield op
    finally:
        op.stop()
