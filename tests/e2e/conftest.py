"""End-to-end fixtures: a namespace with Herder's store claim and the example data in it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from localcluster.cluster import LocalCluster

from tests.integration.conftest import ROOT, RunningOperator


@dataclass
class Workspace:
    cluster: LocalCluster
    operator: RunningOperator
    namespace: str
    store: Path
    """The store claim's directory as the node agent maps it (/var/lib/herder/store inside pods)."""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl(*args, "-n", self.namespace, input=input, check=check).stdout


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
