"""``make demo``: the product's story on the local cluster, in a few minutes once the control plane is built.

1. the local control plane, the CRDs and the operator;
2. the iris Dataset and FeatureSet (examples/iris.yaml) and examples/closed-loop.yaml: version 1 is trained, passes
   the gate, becomes production and is served by two pods;
3. traffic on loopback, and one prediction;
4. the traffic drifts: the Model's drift check breaches, a retrain trains version 2, the gate passes it, and the
   ModelDeployment rolls it out by canary with live analysis and promotes it;
5. a bad version: a retrain by hand makes version 3, which is made to answer 500 (the fault-injection annotation
   that exists for tests and demos); the canary's analysis fails, the rollout is aborted and production is back on
   version 2;
6. ``herder report`` is written, and the demo prints what to look at.

One progress line per step (the detail under it), not kubectl tables; the operator's log is a file. Everything
talks to 127.0.0.0/8 only (pod IPs are loopback addresses). KEEP=1 leaves the cluster and the operator running
(``make down`` stops both); the traffic stops with the demo.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

from localcluster.cluster import LocalCluster, free_port  # noqa: E402

NAMESPACE = "herder-demo"
NAME = "loop"
RUN_DIR = ROOT / ".run"
REPORT_DIR = RUN_DIR / "demo-report"
DRIFT_CHECK = "feature-drift"
IRIS_ROWS = [[float(x) for x in line.split(",")[:4]]
             for line in (ROOT / "examples" / "data" / "iris.csv").read_text().splitlines()[1:] if line.strip()]
DRIFTED_ROWS = [[7.7, 2.6, 6.9, 2.3]] * 30
"""Every row in the top bins of every feature: far from the training distribution."""
TRAFFIC_SECONDS = 900
START = time.monotonic()
T = TypeVar("T")


class DemoError(RuntimeError):
    pass


def step(message: str) -> None:
    elapsed = int(time.monotonic() - START)
    print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {message}", flush=True)


def detail(message: str) -> None:
    print(f"        {message}", flush=True)


def cond(body: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in body.get("status", {}).get("conditions") or [] if c["type"] == type_), {})


class Demo:
    """The cluster and the operator, with the few reads the story needs."""

    def __init__(self, cluster: LocalCluster, operator: subprocess.Popen[bytes], operator_log: Path) -> None:
        self.cluster, self.operator, self.operator_log = cluster, operator, operator_log

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl(*args, "-n", NAMESPACE, input=input).stdout

    def get(self, kind: str, name: str) -> dict[str, Any]:
        r = self.cluster.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json", check=False)
        return dict(json.loads(r.stdout)) if r.returncode == 0 else {}

    def wait(self, what: str, check: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.operator.poll() is not None:
                raise DemoError(f"the operator exited with {self.operator.returncode}; log: {self.operator_log}")
            if value := check():  # None, False and an empty list all mean: not yet
                return value
            time.sleep(interval)
        raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")

    def succeeded(self, kind: str, name: str) -> dict[str, Any] | None:
        body = self.get(kind, name)
        if cond(body, "Failed").get("status") == "True":
            raise DemoError(f"{kind}/{name} failed: {cond(body, 'Failed').get('message')}")
        return body if cond(body, "Succeeded").get("status") == "True" else None

    def model(self) -> dict[str, Any]:
        return self.get("model", NAME)

    def production(self) -> int | None:
        v = (self.model().get("status", {}).get("aliases") or {}).get("production")
        return int(v) if v is not None else None

    def history(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.model().get("status", {}).get("history") or [] if e["action"] == action]

    def version(self, number: int) -> dict[str, Any] | None:
        items = json.loads(self.kubectl("get", "modelversions", "-o", "json"))["items"]
        return next((i for i in items if i["spec"]["modelRef"]["name"] == NAME and i["spec"]["version"] == number),
                    None)

    def settled_on(self, version: int) -> dict[str, Any] | None:
        """The ModelDeployment's status once it serves ``version`` only: stable, no canary, Ready."""
        body = self.get("modeldeployment", NAME)
        st = body.get("status") or {}
        ok = (st.get("stableVersion") == version and st.get("canaryVersion") is None
              and cond(body, "Progressing").get("status") == "False" and cond(body, "Ready").get("status") == "True")
        return dict(st) if ok else None

    def serving_pods(self) -> list[tuple[str, str]]:
        """(pod IP, version) of the ready serving pods."""
        pods = json.loads(self.kubectl("get", "pods", "-l", f"herder.dev/serving={NAME}", "-o", "json"))["items"]
        out = []
        for p in pods:
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
            ip = p["status"].get("podIP") or ""
            if ready and ip.startswith("127.") and not p["metadata"].get("deletionTimestamp"):
                out.append((ip, p["metadata"]["labels"]["herder.dev/model-version"]))
        return out


def predict(ip: str, rows: list[list[float]]) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{ip}:8080/v1/models/{NAME}:predict", method="POST",
                                 data=json.dumps({"instances": rows}).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()
    except OSError:
        return 0, b""


class Traffic(threading.Thread):
    """Bounded load on loopback: 30 rows to every ready serving pod ~5 times a second, the iris rows in order
    (the training distribution) or DRIFTED_ROWS; stops by itself after TRAFFIC_SECONDS."""

    def __init__(self, demo: Demo) -> None:
        super().__init__(daemon=True)
        self.demo = demo
        self.drifted = False
        self.stop = threading.Event()
        self.requests = 0
        self.errors = 0

    def run(self) -> None:
        i, pods, refreshed, end = 0, [], 0.0, time.monotonic() + TRAFFIC_SECONDS
        while not self.stop.is_set() and time.monotonic() < end:
            if time.monotonic() - refreshed > 1:
                try:
                    pods, refreshed = self.demo.serving_pods(), time.monotonic()
                except Exception:  # a failed listing keeps the last pods; the demo goes on
                    refreshed = time.monotonic()
            rows = DRIFTED_ROWS if self.drifted else [IRIS_ROWS[(i + k) % len(IRIS_ROWS)] for k in range(30)]
            i += 30
            for ip, _ in pods:
                code, _ = predict(ip, rows)
                self.requests += 1
                self.errors += code != 200
            self.stop.wait(0.2)


def start(cluster: LocalCluster) -> Demo:
    step("starting the local control plane (the first run builds it from Go modules: ~13 min)")
    t0 = time.monotonic()
    cluster.start()
    detail(f"up in {time.monotonic() - t0:.0f}s; export KUBECONFIG={cluster.kubeconfig}")
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "-f", str(ROOT / "crds"), "--timeout=60s")
    cluster.kubectl("create", "namespace", NAMESPACE)
    # every pod the operator makes must pass Pod Security Standards "restricted": the API server enforces it here
    cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    store = cluster.provision_storage(NAMESPACE)
    (store / "datasets").mkdir(parents=True, exist_ok=True)
    (store / "datasets" / "iris.csv").write_bytes((ROOT / "examples" / "data" / "iris.csv").read_bytes())
    operator = cluster.run_beside("operator", [
        sys.executable, "-m", "herder.cli", "operator", f"--kubeconfig={cluster.kubeconfig}",
        f"--namespace={NAMESPACE}", "--resync-seconds=2", "--metrics-address=127.0.0.1",
        f"--metrics-port={free_port()}", f"--liveness=http://127.0.0.1:{free_port()}/healthz"])
    log = cluster.run_dir / "logs" / "operator.log"
    step(f"CRDs installed, namespace {NAMESPACE} (PSS restricted), operator pid {operator.pid} (log {log})")
    return Demo(cluster, operator, log)


def first_version(demo: Demo) -> None:
    iris = list(yaml.safe_load_all((ROOT / "examples" / "iris.yaml").read_text()))[:2]  # Dataset, FeatureSet
    loop = list(yaml.safe_load_all((ROOT / "examples" / "closed-loop.yaml").read_text()))
    demo.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*iris, *loop]))
    step("applied the iris Dataset and FeatureSet and examples/closed-loop.yaml (Model, TrainingJob, "
         "ModelDeployment)")
    ds = demo.wait("Dataset iris to be validated", lambda: (b := demo.get("dataset", "iris"))
                   and cond(b, "Ready").get("status") == "True" and b, 180)
    step(f"Dataset iris validated: {cond(ds, 'Ready').get('message', '')}")
    tj = demo.wait("TrainingJob loop-v1", lambda: demo.succeeded("trainingjob", "loop-v1"), 300)
    metrics = tj.get("status", {}).get("metrics") or {}
    step(f"TrainingJob loop-v1 trained version 1: {', '.join(f'{k} {v}' for k, v in sorted(metrics.items()))}")
    demo.wait("version 1 to become production", lambda: demo.production() == 1, 120)
    demo.wait("the ModelDeployment to serve version 1", lambda: demo.settled_on(1), 300)
    step(f"version 1 is production and serving: {len(demo.serving_pods())} pods")


def first_prediction(demo: Demo) -> Traffic:
    ip, _ = demo.serving_pods()[0]
    code, body = predict(ip, [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    step(f"POST http://{ip}:8080/v1/models/{NAME}:predict -> {code} {body.decode(errors='replace').strip()}")
    traffic = Traffic(demo)
    traffic.start()
    step("traffic started: 30 iris rows to every serving pod ~5 times a second")
    return traffic


def _drift_line(model: dict[str, Any]) -> str:
    m = next((m for m in model.get("status", {}).get("triggerMetrics") or [] if m["name"] == DRIFT_CHECK), {})
    worst = sorted((m.get("features") or {}).items(), key=lambda kv: float(kv[1]), reverse=True)[:4]
    per_feature = ", ".join(f"{k} {float(v):.2f}" for k, v in worst)
    return f"{DRIFT_CHECK} (PSI) {m.get('value', '?')} > 0.25 over {m.get('samples', '?')} rows; by feature: " \
           f"{per_feature}"


def drift_retrain_canary(demo: Demo, traffic: Traffic) -> dt.datetime:
    """Drifted traffic -> a retrain -> version 2 through the gate -> canary with live analysis -> promoted. Returns
    when the retrain was triggered (the cooldown counts from there)."""
    demo.wait("a conclusive Pass of the drift check on stationary traffic", lambda: next(
        (m for m in demo.model().get("status", {}).get("triggerMetrics") or []
         if m["name"] == DRIFT_CHECK and m.get("verdict") == "Pass"), None), 120)
    step("drift check passes on the training distribution; now the traffic drifts (every feature shifted up)")
    traffic.drifted = True
    [triggered] = demo.wait("the drift check to trigger a retrain", lambda: demo.history("RetrainTriggered"), 120)
    model = demo.model()
    traffic.drifted = False  # the drift ends, so the cooldown's end does not start another retrain
    step(f"retrain triggered ({triggered['reason']}): TrainingJob {triggered.get('trainingJob')}")
    detail(_drift_line(model))
    demo.wait("the retrain's TrainingJob", lambda: demo.succeeded("trainingjob", f"{NAME}-retrain-1"), 300)
    demo.wait("version 2 to become production", lambda: demo.production() == 2, 120)
    promoted = demo.history("Promoted")[-1]
    step(f"version 2 trained and through the gate: {promoted.get('message', '')}")
    demo.wait("the canary of version 2", lambda: (demo.get("modeldeployment", NAME).get("status") or {})
              .get("canaryVersion") == 2, 120, interval=0.5)
    step("canary: version 2 takes 50% of the pods, live analysis (error rate <= 5%) every 3s")
    st = demo.wait("version 2 to be promoted and stable", lambda: demo.settled_on(2), 240, interval=0.5)
    analysed = next((m for m in st.get("analysisMetrics") or [] if m["name"] == "error-rate"), {})
    step(f"version 2 promoted: analysis {analysed.get('verdict')} (error rate {analysed.get('value')} over "
         f"{analysed.get('samples')} requests); 2 pods serve version 2")
    return dt.datetime.fromisoformat(str(triggered["at"]).replace("Z", "+00:00"))


def bad_version_rolled_back(demo: Demo, last_retrain: dt.datetime) -> None:
    """A retrain by hand makes version 3, made to fail live: the canary is aborted, production is back on 2."""
    cooldown_ends = last_retrain + dt.timedelta(seconds=21)
    time.sleep(max(0.0, (cooldown_ends - dt.datetime.now(dt.UTC)).total_seconds()))
    demo.kubectl("annotate", "model", NAME, "herder.dev/retrain=demo-bad-version", "--overwrite")
    step("a retrain by hand (kubectl annotate mdl loop herder.dev/retrain=...)")
    v3 = demo.wait("version 3 to appear", lambda: demo.version(3), 300, interval=0.2)
    demo.kubectl("annotate", "modelversion", v3["metadata"]["name"], "herder.dev/inject-error-rate=1",
                 "--overwrite")
    step(f"version 3 exists; it is made to answer 500 (annotation herder.dev/inject-error-rate on "
         f"{v3['metadata']['name']}: fault injection for tests and demos)")
    demo.wait("the canary of version 3", lambda: (demo.get("modeldeployment", NAME).get("status") or {})
              .get("canaryVersion") == 3, 180, interval=0.5)
    step("canary: version 3 takes 50% of the pods; the live analysis measures it")
    [rolled] = demo.wait("the rollback", lambda: demo.history("RolledBack"), 240)
    step(f"rollout aborted: {rolled.get('message', '')}")
    demo.wait("version 2 alone serving again", lambda: demo.settled_on(2), 120, interval=0.5)
    pods = demo.wait("two version-2 pods", lambda: (p := demo.serving_pods()) and {v for _, v in p} == {"2"}
                     and len(p) == 2 and p, 120)
    codes = [predict(ip, IRIS_ROWS[:1])[0] for ip, _ in pods for _ in range(5)]
    step(f"production is version {demo.production()}; its pods answer {codes.count(200)}/{len(codes)} requests "
         "with 200")


def report(demo: Demo) -> Path:
    done = subprocess.run([sys.executable, "-m", "herder.cli", "report", NAME, "-n", NAMESPACE,
                           f"--kubeconfig={demo.cluster.kubeconfig}", f"--output={REPORT_DIR}"],
                          check=False, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise DemoError(f"herder report failed: {done.stderr.strip()}")
    index = REPORT_DIR / "index.html"
    step(f"report written: {index}")
    return index


def look_at(demo: Demo, index: Path, traffic: Traffic, keep: bool) -> None:
    ip = demo.serving_pods()[0][0]
    print(f"\nThe story took {time.monotonic() - START:.0f}s; the traffic sent {traffic.requests} requests "
          f"({traffic.errors} answered other than 200: version 3's injected errors during its canary).\n")
    print("What to look at" + (" (the cluster keeps running: KEEP=1; `make down` stops it):" if keep
                               else " (rerun with KEEP=1 to keep the cluster running):"))
    print(f"  export KUBECONFIG={demo.cluster.kubeconfig} PATH={demo.cluster.bin_dir}:$PATH")
    print(f"  kubectl -n {NAMESPACE} get herder                        # every kind, READY and STATUS")
    print(f"  kubectl -n {NAMESPACE} get mdl {NAME} -o jsonpath='{{range .status.history[*]}}{{.action}} "
          f"v{{.version}} {{.reason}}{{\"\\n\"}}{{end}}'")
    print(f"  kubectl -n {NAMESPACE} get events --sort-by=.lastTimestamp  # what the operator said, in order")
    print(f"  kubectl -n {NAMESPACE} describe mdep {NAME}                # rollout, analysis, last rollback")
    print(f"  open {index}")
    print(f"  curl -s -X POST http://{ip}:8080/v1/models/{NAME}:predict -H 'content-type: application/json' "
          "-d '{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}'")
    print(f"  operator log: {demo.operator_log}")


def main() -> int:
    keep = os.environ.get("KEEP") == "1"
    cluster = LocalCluster(RUN_DIR / "cluster")
    traffic: Traffic | None = None
    demo: Demo | None = None
    try:
        demo = start(cluster)
        first_version(demo)
        traffic = first_prediction(demo)
        last_retrain = drift_retrain_canary(demo, traffic)
        bad_version_rolled_back(demo, last_retrain)
        index = report(demo)
        look_at(demo, index, traffic, keep)
        return 0
    except DemoError as e:
        print(f"\nthe demo stopped: {e}", file=sys.stderr)
        if demo is not None:
            print(demo.cluster.kubectl("get", "herder", "-n", NAMESPACE, check=False).stdout, file=sys.stderr)
            tail = demo.operator_log.read_text(errors="replace").splitlines()[-20:]
            print("last lines of the operator log:\n" + "\n".join(tail), file=sys.stderr)
        return 1
    finally:
        if traffic is not None:
            traffic.stop.set()
            traffic.join(timeout=20)
        if not keep:
            cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
