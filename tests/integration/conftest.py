"""Fixtures for tests against the real local control plane (helpers live in tests/integration/k8s.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from localcluster.cluster import LocalCluster


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for its finalization)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

