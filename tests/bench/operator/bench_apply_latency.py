"""Operator latency benchmark (not a test): time from a TrainingJob created to its batch/v1 Job existing, and from
a ModelDeployment created to its serving Deployment existing, measured against the real local control plane.

    .venv/bin/python tests/bench/operator/bench_apply_latency.py [--trainings 100] [--deployments 50]

Prints a table and writes bench-results/operator-apply.json. The local node is cordoned after the iris model is
trained, so the created Jobs/Deployments stay Pending: this measures the operator, not scikit-learn.
Everything talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "hack"))

from kubernetes import client, config, watch  # noqa: E402
from localcluster.cluster import LocalCluster, free_port  # noqa: E402

NS = "bench"


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


class Seen:
    """Records when each object name is first seen by a watch (local monotonic clock)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.cond = threading.Condition()

    def wait(self, name: str, timeout: float = 30) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: name in self.at, timeout):
                raise TimeoutError(f"{name} never appeared")
            return self.at[name]


def watch_names(list_fn: Any, seen: Seen, stop: threading.Event) -> None:
    w = watch.Watch()
    while not stop.is_set():
        for ev in w.stream(list_fn, NS, timeout_seconds=5):
            with seen.cond:
                seen.at.setdefault(ev["object"].metadata.name, time.monotonic())
                seen.cond.notify_all()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainings", type=int, default=100)
    ap.add_argument("--deployments", type=int, default=50)
    args = ap.parse_args()
    run = Path(tempfile.mkdtemp(prefix="herder-bench-"))
    cluster = LocalCluster(run / "cluster", kwok=False)
    cluster.start()
    op = None
    stop = threading.Event()
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"))
        cluster.kubectl("create", "namespace", NS)
        store = cluster.provision_storage(NS)
        (store / "datasets").mkdir(parents=True)
        shutil.copy(ROOT / "examples" / "data" / "iris.csv", store / "datasets" / "iris.csv")
        log = (run / "operator.log").open("wb")
        op = subprocess.Popen([sys.executable, "-m", "herder.cli", "operator", f"--kubeconfig={cluster.kubeconfig}",
                               f"--metrics-port={free_port()}", f"--liveness=http://127.0.0.1:{free_port()}/healthz"],
                              stdout=log, stderr=subprocess.STDOUT)
        iris = [d for d in yaml.safe_load_all((ROOT / "examples" / "iris.yaml").read_text()) if d]
        cluster.kubectl("apply", "-n", NS, "-f", "-", input=yaml.safe_dump_all(iris[:4]))
        cluster.kubectl("wait", "-n", NS, "tj/iris-v1", "--for=condition=Succeeded", "--timeout=300s")
        cluster.kubectl("cordon", "herder-local")  # from here on, nothing runs: only the operator is measured
        config.load_kube_config(str(cluster.kubeconfig))
        custom, batch, apps = client.CustomObjectsApi(), client.BatchV1Api(), client.AppsV1Api()
        jobs, deps = Seen(), Seen()
        for fn, seen in ((batch.list_namespaced_job, jobs), (apps.list_namespaced_deployment, deps)):
            threading.Thread(target=watch_names, args=(fn, seen, stop), daemon=True).start()
        time.sleep(1)
        results: dict[str, list[float]] = {"trainingjob_to_job": [], "modeldeployment_to_deployment": []}
        template = iris[3]
        for i in range(args.trainings):
            body = {**template, "metadata": {"name": f"tj-{i}"}}
            t0 = time.monotonic()
            custom.create_namespaced_custom_object("herder.dev", "v1alpha1", NS, "trainingjobs", body)
            results["trainingjob_to_job"].append(jobs.wait(f"tj-{i}-train") - t0)
        mdep = iris[4]
        for i in range(args.deployments):
            body = {**mdep, "metadata": {"name": f"dep-{i}"}}
            t0 = time.monotonic()
            custom.create_namespaced_custom_object("herder.dev", "v1alpha1", NS, "modeldeployments", body)
            results["modeldeployment_to_deployment"].append(deps.wait(f"dep-{i}-stable") - t0)
        table = {k: {"n": len(v), "p50_ms": round(percentile(v, 50) * 1000, 1),
                     "p99_ms": round(percentile(v, 99) * 1000, 1), "mean_ms": round(statistics.mean(v) * 1000, 1),
                     "max_ms": round(max(v) * 1000, 1)} for k, v in results.items() if v}  # --deployments 0: none
        print(f"{'measure':<32} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
        for k, r in table.items():
            print(f"{k:<32} {r['n']:>4} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['mean_ms']:>8} {r['max_ms']:>8}")
        out = ROOT / "bench-results" / "operator-apply.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"results": table, "machine": "2 cores, 24 GiB", "at": time.time()}, indent=2))
        print(f"wrote {out}")
        return 0
    finally:
        stop.set()
        if op is not None:
            op.terminate()
            op.wait(timeout=30)
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
