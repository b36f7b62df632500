"""ModelDeployment benchmark (not a test), against the real local control plane; everything talks to 127.0.0.1.

    .venv/bin/python tests/bench/operator/bench_modeldeployments.py [--applies 50] [--breaches 5] [--scale 1000]

Three parts (any can be skipped with 0):

1. apply -> Ready, real serving processes (the node agent runs ``herder serve`` on a loopback address): a
   ModelDeployment of the trained iris model is created, the time until its serving Deployment exists and until
   the ModelDeployment says Ready=True is taken, then it is deleted; repeated ``--applies`` times.
2. breach -> rollback: a ModelDeployment serving version 1 is changed to version 2, a copy of version 1 whose
   pods answer every prediction with 500 (the tests/demos-only ``herder.dev/inject-error-rate`` annotation).
   Bounded load runs over the ready pods; the time from the first 500 to the abort on status (Degraded=True,
   abortedVersion 2) and to the moment no version-2 pod is ready is taken; analysis interval 3 s, failureLimit 1.
3. scale on kwok: the local node is cordoned and kwok nodes are added, ``--scale`` ModelDeployments are created at
   once; the time until every one is Ready, the operator's peak RSS and CPU while converging, and the operator's
   API writes and CPU during a full no-op resync period afterwards.

Prints tables and writes bench-results/modeldeployments.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "hack"))
sys.path.insert(0, str(ROOT))

from kubernetes import client, config, watch  # noqa: E402
from localcluster.cluster import LocalCluster, free_port  # noqa: E402

from tests.bench.operator.bench_apply_latency import Seen, percentile  # noqa: E402

NS = "bench"
GROUP, VERSION = "herder.dev", "v1alpha1"
ROW = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()
RESYNC = 30.0


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_s": round(percentile(values, 50), 3), "p99_s": round(percentile(values, 99), 3),
            "mean_s": round(statistics.mean(values), 3), "max_s": round(max(values), 3)}


def is_ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


class FirstSeen(Seen):
    """When each name first satisfied a predicate in a watch stream (local monotonic clock)."""

    def follow(self, list_fn: Any, stop: threading.Event, pred: Any = lambda o: True) -> None:
        w = watch.Watch()
        while not stop.is_set():
            for ev in w.stream(list_fn, timeout_seconds=5):
                obj = ev["object"]
                body = obj if isinstance(obj, dict) else client.ApiClient().sanitize_for_serialization(obj)
                if ev["type"] != "DELETED" and pred(body):
                    with self.cond:
                        self.at.setdefault(body["metadata"]["name"], time.monotonic())
                        self.cond.notify_all()


class Operator:
    def __init__(self, cluster: LocalCluster, log: Path) -> None:
        self.metrics_port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "herder.cli", "operator", f"--kubeconfig={cluster.kubeconfig}",
             f"--metrics-port={self.metrics_port}", f"--liveness=http://127.0.0.1:{free_port()}/healthz",
             f"--resync-seconds={RESYNC}"], stdout=log.open("wb"), stderr=subprocess.STDOUT)

    def writes(self) -> dict[str, float]:
        """herder_operator_api_writes_total by its labels (kind, target, verb)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {line.rsplit(" ", 1)[0].removeprefix("herder_operator_api_writes_total"): float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line.startswith("herder_operator_api_writes_total{")}

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def mdep(name: str, version: int, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelDeployment", "metadata": {"name": name},
            "spec": {"model": {"name": "iris", "version": version}, "replicas": replicas, **spec}}


def predict(ip: str) -> int:
    req = urllib.request.Request(f"http://{ip}:8080/v1/models/iris:predict", method="POST", data=ROW,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def ready_pods(core: client.CoreV1Api, serving: str) -> list[tuple[str, str]]:
    """(ip, model version) of the ready serving pods of one ModelDeployment."""
    out = []
    for p in core.list_namespaced_pod(NS, label_selector=f"herder.dev/serving={serving}").items:
        ok = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        if ok and p.status.pod_ip and not p.metadata.deletion_timestamp:
            assert p.status.pod_ip.startswith("127."), p.status.pod_ip  # loopback rule
            out.append((p.status.pod_ip, p.metadata.labels["herder.dev/model-version"]))
    return out


def part_applies(n: int, custom: client.CustomObjectsApi, stop: threading.Event) -> dict[str, Any]:
    apps = client.AppsV1Api()
    deps, ready = FirstSeen(), FirstSeen()
    threading.Thread(target=deps.follow, args=(lambda **kw: apps.list_namespaced_deployment(NS, **kw), stop),
                     daemon=True).start()
    threading.Thread(target=ready.follow, args=(
        lambda **kw: custom.list_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments", **kw), stop,
        is_ready), daemon=True).start()
    time.sleep(1)
    created, readied = [], []
    for i in range(n):
        name = f"apply-{i}"
        t0 = time.monotonic()
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments", mdep(name, 1))
        created.append(deps.wait(f"{name}-stable", timeout=120) - t0)
        readied.append(ready.wait(name, timeout=120) - t0)
        custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments", name)
        print(f"  apply {i + 1}/{n}: deployment {created[-1]:.3f}s, ready {readied[-1]:.3f}s", flush=True)
    return {"apply_to_deployment": summary(created), "apply_to_ready": summary(readied)}


def part_breaches(n: int, custom: client.CustomObjectsApi) -> dict[str, Any]:
    core = client.CoreV1Api()
    to_abort, to_gone = [], []
    canary = {"strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "30s"}]}},
              "analysis": {"interval": "3s", "metrics": [
                  {"name": "error-rate", "metric": "ErrorRate", "threshold": {"max": "0.05"}, "minSamples": 5,
                   "failureLimit": 1}]}}
    for i in range(n):
        name = f"breach-{i}"
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments",
                                               mdep(name, 1, replicas=2, **canary))
        deadline = time.monotonic() + 180
        while not is_ready(custom.get_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments", name)) \
                or len(ready_pods(core, name)) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} never became ready")
            time.sleep(0.5)
        custom.patch_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments", name,
                                              {"spec": {"model": {"version": 2}}})
        first_500 = aborted = gone = None
        pods: list[tuple[str, str]] = []
        refresh = 0.0
        k = 0
        deadline = time.monotonic() + 180
        while gone is None and time.monotonic() < deadline:  # bounded: ~20 requests/s, 3 minutes at most
            now = time.monotonic()
            if now >= refresh:
                pods = ready_pods(core, name)
                refresh = now + 0.5
                if aborted is None:
                    st = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments",
                                                             name).get("status") or {}
                    if st.get("abortedVersion") == 2:
                        aborted = now
                if aborted is not None and not any(v == "2" for _, v in pods):
                    gone = now
            if pods:
                ip, v = pods[k % len(pods)]
                k += 1
                if predict(ip) == 500 and v == "2" and first_500 is None:
                    first_500 = time.monotonic()
            time.sleep(0.05)
        if first_500 is None or aborted is None or gone is None:
            raise RuntimeError(f"{name}: first 500 {first_500}, aborted {aborted}, version-2 pods gone {gone}")
        to_abort.append(aborted - first_500)
        to_gone.append(gone - first_500)
        print(f"  breach {i + 1}/{n}: abort on status {to_abort[-1]:.2f}s, version 2 out of the endpoints "
              f"{to_gone[-1]:.2f}s after the first 500", flush=True)
        custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments", name)
    return {"breach_to_abort": summary(to_abort), "breach_to_canary_gone": summary(to_gone)}


def part_scale(n: int, cluster: LocalCluster, op: Operator, custom: client.CustomObjectsApi) -> dict[str, Any]:
    core = client.CoreV1Api()
    cluster.kubectl("cordon", "herder-local")  # from here on every serving pod lands on a kwok node
    for i in range(10):
        core.create_node({"metadata": {"name": f"kwok-{i}", "labels": {"type": "kwok",
                                                                       "kubernetes.io/hostname": f"kwok-{i}"},
                                       "annotations": {"kwok.x-k8s.io/node": "fake"}},
                          "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1000"},
                                     "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "1000"}}})
    rss, cpu0, t0 = [op.rss_mib()], op.cpu_seconds(), time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: custom.create_namespaced_custom_object(
            GROUP, VERSION, NS, "modeldeployments", mdep(f"scale-{i}", 1)), range(n)))
    created = time.monotonic() - t0
    print(f"  {n} ModelDeployments created in {created:.1f}s", flush=True)
    ready = 0
    while True:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, NS, "modeldeployments")["items"]
        ready = sum(1 for o in items if o["metadata"]["name"].startswith("scale-") and is_ready(o))
        rss.append(op.rss_mib())
        if ready == n:
            break
        if time.monotonic() - t0 > 1800:
            raise TimeoutError(f"only {ready}/{n} Ready after 30 minutes")
        time.sleep(2)
    converge = time.monotonic() - t0
    cpu_converge = op.cpu_seconds() - cpu0
    print(f"  all {n} Ready after {converge:.1f}s", flush=True)
    time.sleep(RESYNC)  # let the first resync of everything pass (it is the one after converging)
    w0, c0, t1 = op.writes(), op.cpu_seconds(), time.monotonic()
    time.sleep(RESYNC * 2)
    w1 = op.writes()
    by_label = {k: v - w0.get(k, 0.0) for k, v in w1.items() if v != w0.get(k, 0.0)}
    idle = {"writes": sum(by_label.values()), "writes_by_label": by_label,
            "cpu_fraction": round((op.cpu_seconds() - c0) / (time.monotonic() - t1), 3),
            "seconds": round(time.monotonic() - t1, 1), "rss_mib": round(op.rss_mib(), 1)}
    return {"n": n, "create_seconds": round(created, 1), "converge_seconds": round(converge, 1),
            "converge_cpu_fraction": round(cpu_converge / converge, 3), "peak_rss_mib": round(max(rss), 1),
            "noop_resync": idle}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--applies", type=int, default=50)
    ap.add_argument("--breaches", type=int, default=5)
    ap.add_argument("--scale", type=int, default=1000)
    args = ap.parse_args()
    run = Path(tempfile.mkdtemp(prefix="herder-bench-mdep-"))
    cluster = LocalCluster(run / "cluster", kwok=args.scale > 0)
    cluster.start()
    op = None
    stop = threading.Event()
    results: dict[str, Any] = {}
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"))
        cluster.kubectl("create", "namespace", NS)
        store = cluster.provision_storage(NS)
        (store / "datasets").mkdir(parents=True)
        shutil.copy(ROOT / "examples" / "data" / "iris.csv", store / "datasets" / "iris.csv")
        op = Operator(cluster, run / "operator.log")
        iris = [d for d in yaml.safe_load_all((ROOT / "examples" / "iris.yaml").read_text()) if d]
        cluster.kubectl("apply", "-n", NS, "-f", "-", input=yaml.safe_dump_all(iris[:4]))
        cluster.kubectl("wait", "-n", NS, "tj/iris-v1", "--for=condition=Succeeded", "--timeout=300s")
        config.load_kube_config(str(cluster.kubeconfig))
        custom = client.CustomObjectsApi()
        v1 = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "modelversions", "iris-v1")
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, "modelversions", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelVersion",
            "metadata": {"name": "iris-v2", "annotations": {"herder.dev/inject-error-rate": "1"}},
            "spec": {"modelRef": {"name": "iris"}, "version": 2, "artifact": v1["spec"]["artifact"],
                     "metrics": v1["spec"]["metrics"], "description": "version 1's artifact, answering 500"}})
        if args.applies:
            print(f"apply -> Ready, {args.applies} times (real serving processes)", flush=True)
            results.update(part_applies(args.applies, custom, stop))
        if args.breaches:
            print(f"breach -> rollback, {args.breaches} times", flush=True)
            results.update(part_breaches(args.breaches, custom))
        if args.scale:
            print(f"{args.scale} ModelDeployments on kwok nodes", flush=True)
            results["scale"] = part_scale(args.scale, cluster, op, custom)
        print()
        print(f"{'measure':<28} {'n':>5} {'p50 s':>8} {'p99 s':>8} {'mean s':>8} {'max s':>8}")
        for k, r in results.items():
            if k != "scale":
                print(f"{k:<28} {r['n']:>5} {r['p50_s']:>8} {r['p99_s']:>8} {r['mean_s']:>8} {r['max_s']:>8}")
        if "scale" in results:
            s = results["scale"]
            print(f"\n{s['n']} ModelDeployments on kwok: created in {s['create_seconds']} s, all Ready after "
                  f"{s['converge_seconds']} s; operator peak RSS {s['peak_rss_mib']} MiB, CPU "
                  f"{s['converge_cpu_fraction']} cores while converging")
            idle = s["noop_resync"]
            print(f"no-op resync ({idle['seconds']} s, resync period {RESYNC:g} s): {idle['writes']:g} API writes, "
                  f"CPU {idle['cpu_fraction']} cores, RSS {idle['rss_mib']} MiB")
            for label, n in idle["writes_by_label"].items():
                print(f"  {n:g} writes {label}")
        out = ROOT / "bench-results" / "modeldeployments.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"results": results, "machine": "2 cores, 24 GiB", "at": time.time()}, indent=2))
        print(f"wrote {out}")
        return 0
    finally:
        stop.set()
        if op is not None:
            op.stop()
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
