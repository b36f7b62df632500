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


# The operator fixtures live with the integration tests; e2e tests use them too.
from tests.integration.conftest import crds, operator  # noqa: E402, F401
