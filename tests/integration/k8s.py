"""Small helpers for tests against the real local control plane."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from localcluster.cluster import LocalCluster


def get_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def wait_until(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "") -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail with ``what`` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value: {last!r}")


def helm(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """The cached helm binary against ``cluster``, with its own helm home under the run directory."""
    home = cluster.run_dir / "helm"
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data"), "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run([str(cluster.bin_dir / "helm"), *args], capture_output=True, text=True, check=False,
                          env=env, timeout=180)
