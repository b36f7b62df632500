"""``make demo``: the main job. Brings up the local cluster, installs the CRDs, starts the operator, and takes the
iris example from a Dataset to a serving endpoint, printing the resources' status as it goes and a prediction at
the end. Everything talks to 127.0.0.0/8 only (the serving pod's IP is a loopback address).

KEEP=1 leaves the cluster and the operator running afterwards (``make down`` stops them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

from localcluster.cluster import LocalCluster, free_port  # noqa: E402

NAMESPACE = "herder-demo"
EXAMPLE = ROOT / "examples" / "iris.yaml"
KINDS = "datasets,featuresets,trainingjobs,models,modelversions,modeldeployments"


def say(msg: str) -> None:
    print(f"\n\033[1m== {msg}\033[0m", flush=True)


def main() -> int:
    run_dir = ROOT / ".run" / "cluster"
    t0 = time.monotonic()
    say("starting the local control plane (first run builds it from Go modules: ~12 min)")
    cluster = LocalCluster(run_dir)
    cluster.start()
    print(f"up in {time.monotonic() - t0:.1f}s — export KUBECONFIG={cluster.kubeconfig}")
    op: subprocess.Popen[bytes] | None = None
    try:
        say("installing the CRDs")
        print(cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds")).stdout.strip())
        cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"), "--timeout=60s")
        cluster.kubectl("create", "namespace", NAMESPACE)
        store = cluster.provision_storage(NAMESPACE)
        # the example's Dataset reads file:///var/lib/herder/store/datasets/iris.csv inside its pods
        (store / "datasets").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "examples" / "data" / "iris.csv", store / "datasets" / "iris.csv")

        say("starting the operator")
        log = (run_dir / "logs" / "operator.log").open("ab")
        op = subprocess.Popen([sys.executable, "-m", "herder.cli", "operator", f"--kubeconfig={cluster.kubeconfig}",
                               f"--metrics-port={free_port()}", f"--liveness=http://127.0.0.1:{free_port()}/healthz"],
                              stdout=log, stderr=subprocess.STDOUT)
        print(f"operator pid {op.pid}, log {run_dir / 'logs' / 'operator.log'}")

        say(f"applying {EXAMPLE.relative_to(ROOT)}")
        print(cluster.kubectl("apply", "-n", NAMESPACE, "-f", str(EXAMPLE)).stdout.strip())

        say("watching status (Dataset -> TrainingJob -> ModelVersion -> Model -> ModelDeployment)")
        deadline = time.monotonic() + 600
        last = ""
        url = None
        while time.monotonic() < deadline:
            if op.poll() is not None:
                raise SystemExit(f"the operator exited with {op.returncode}; see its log")
            table = cluster.kubectl("get", KINDS, "-n", NAMESPACE, check=False).stdout
            if table != last:
                print(time.strftime("%H:%M:%S"), "\n" + table, flush=True)
                last = table
            mdep = json.loads(cluster.kubectl("get", "modeldeployments", "-n", NAMESPACE, "-o", "json").stdout)
            ready = [m for m in mdep["items"] if any(c["type"] == "Ready" and c["status"] == "True"
                                                     for c in m.get("status", {}).get("conditions", []))]
            if ready:
                url = ready[0]["metadata"]["name"]
                break
            time.sleep(2)
        if url is None:
            raise SystemExit("the iris ModelDeployment did not become Ready within 10 minutes")

        say("a prediction through the serving pod (its IP is on the loopback range)")
        pods = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", f"herder.dev/serving={url}",
                                          "-o", "json").stdout)["items"]
        pod_ip = next(p["status"]["podIP"] for p in pods if p["status"].get("podIP"))
        model = pods[0]["metadata"]["labels"]["herder.dev/model"]
        body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}).encode()
        req = urllib.request.Request(f"http://{pod_ip}:8080/v1/models/{model}:predict", data=body,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            print(f"POST http://{pod_ip}:8080/v1/models/{model}:predict -> {r.status} {r.read().decode()}")
        say(f"done in {time.monotonic() - t0:.0f}s")
        return 0
    finally:
        if os.environ.get("KEEP") == "1":
            print("KEEP=1: the cluster and operator keep running; `make down` stops the cluster")
        else:
            if op is not None and op.poll() is None:
                op.send_signal(signal.SIGTERM)
                op.wait(timeout=30)
            cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
