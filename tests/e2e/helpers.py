"""What the end-to-end modules share (fixtures are in conftest.py): the Workspace a test runs in; reading objects
and waiting for conditions; serving pods, bounded load on loopback, registering the iris artifact again as another
version (optionally with the tests-only fault-injection annotations, docs/rollout.md), pinning a ModelDeployment
to a version, Events by reason; the retraining Model of examples/retraining-loop.yaml, its history and the drift
traffic; the Prometheus label selector of docs/prometheus.md. A test module imports from here, never from another
test module."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from localcluster.cluster import LocalCluster

from tests.integration.conftest import ROOT, RunningOperator
from tests.integration.k8s import wait_until


@dataclass
class Workspace:
    cluster: LocalCluster
    operator: RunningOperator
    namespace: str
    store: Path
    """The store claim's directory as the node agent maps it (/var/lib/herder/store inside pods)."""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl(*args, "-n", self.namespace, input=input, check=check).stdout


# ---------------------------------------------------------------------------------------- objects, conditions
IRIS = list(yaml.safe_load_all((ROOT / "examples" / "iris.yaml").read_text()))


def get(ws: Workspace, kind: str, name: str) -> dict[str, Any]:
    return dict(json.loads(ws.kubectl("get", kind, name, "-o", "json")))


def cond(body: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in body.get("status", {}).get("conditions") or [] if c["type"] == type_), {})


def wait_cond(ws: Workspace, kind: str, name: str, type_: str, status: str = "True", timeout: float = 180
              ) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = get(ws, kind, name)
        if type_ == "Succeeded" and cond(body, "Failed").get("status") == "True":
            raise AssertionError(f"{kind}/{name} failed: {cond(body, 'Failed')}")
        return body if cond(body, type_).get("status") == status else None

    return dict(wait_until(check, timeout, interval=1, what=f"{kind}/{name} {type_}={status}"))


# ------------------------------------------------------------------------------------ serving, rollouts, load
ROW = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()


def serving_pods(ws: Workspace, name: str = "iris", track: str | None = None) -> list[tuple[str, str, str]]:
    """(ip, track, version) of every ready, not terminating serving pod of ModelDeployment ``name``."""
    selector = f"herder.dev/serving={name}" + (f",herder.dev/track={track}" if track else "")
    pods = json.loads(ws.kubectl("get", "pods", "-l", selector, "-o", "json"))["items"]
    out = []
    for p in pods:
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
        ip = p["status"].get("podIP")
        if ready and ip and not p["metadata"].get("deletionTimestamp"):
            assert ip.startswith("127."), ip  # loopback rule
            labels = p["metadata"]["labels"]
            out.append((ip, labels["herder.dev/track"], labels["herder.dev/model-version"]))
    return out


def predict(ip: str, errors: list[str] | None = None) -> int:
    """The HTTP status of one prediction (0: no answer, the reason appended to ``errors``)."""
    req = urllib.request.Request(f"http://{ip}:8080/v1/models/iris:predict", method="POST", data=ROW,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:  # generous: a loaded machine is slow, not failing
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError as e:
        if errors is not None:
            errors.append(f"{time.monotonic():.2f} {ip}: {e}")
        return 0


class Load(threading.Thread):
    """~``rate`` predictions/s round-robin over the ready pods of ``track`` (all tracks when None), re-listed every
    second, stopping by itself after ``seconds``. Records (time, track, version, status)."""

    def __init__(self, ws: Workspace, seconds: float = 120, rate: float = 20, track: str | None = None) -> None:
        super().__init__(daemon=True)
        self.ws, self.seconds, self.rate, self.track = ws, seconds, rate, track
        self.stop = threading.Event()
        self.results: list[tuple[float, str, str, int]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        pods: list[tuple[str, str, str]] = []
        refresh = 0.0
        i = 0
        while not self.stop.is_set() and time.monotonic() < end:
            now = time.monotonic()
            if now >= refresh:
                with contextlib.suppress(Exception):  # an API hiccup keeps the last view
                    pods = serving_pods(self.ws, track=self.track)
                refresh = now + 1.0
            if pods:
                ip, track, version = pods[i % len(pods)]
                i += 1
                self.results.append((time.monotonic(), track, version, predict(ip, self.errors)))
            self.stop.wait(1 / self.rate)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=10)


def register(ws: Workspace, version: int, annotations: dict[str, str] | None = None,
             metrics: dict[str, str] | None = None, ready: bool = True) -> None:
    """The iris artifact of version 1 registered again as ``version`` (its own metrics when given)."""
    v1 = get(ws, "modelversion", "iris-v1")
    mv = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelVersion",
          "metadata": {"name": f"iris-v{version}", "annotations": annotations or {}},
          "spec": {"modelRef": {"name": "iris"}, "version": version, "artifact": v1["spec"]["artifact"],
                   "metrics": metrics or v1["spec"]["metrics"], "description": "same artifact as version 1"}}
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump(mv))
    if ready:
        wait_cond(ws, "modelversion", f"iris-v{version}", "Ready", timeout=60)


def pin(ws: Workspace, version: int, name: str = "iris") -> None:
    ws.kubectl("patch", "modeldeployment", name, "--type=merge", "-p",
               json.dumps({"spec": {"model": {"name": "iris", "version": version}}}))


def _events(ws: Workspace, selector: str) -> list[dict[str, Any]]:
    out = json.loads(ws.kubectl("get", "events", "--field-selector", selector, "-o", "json"))
    return list(out["items"])


def events(ws: Workspace, reason: str, name: str = "iris") -> list[dict[str, Any]]:
    """Events of ``reason`` about ModelDeployment ``name``."""
    return _events(ws, f"involvedObject.kind=ModelDeployment,involvedObject.name={name},reason={reason}")


def collision_hint(ws: Workspace) -> str:
    """Pods whose server keeps exiting usually found their loopback address taken by another local cluster."""
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving", "-o", "json"))["items"]
    restarting = [f"{p['metadata']['name']} ({p['status'].get('podIP')}): {cs.get('restartCount')} restarts"
                  for p in pods for cs in p["status"].get("containerStatuses") or [] if cs.get("restartCount")]
    return "serving pods restarting: " + "; ".join(restarting) if restarting else "no serving pod restarted"


# ----------------------------------------------------------------------------------------------- retraining
LOOP = yaml.safe_load((ROOT / "examples" / "retraining-loop.yaml").read_text())


def model(name: str, **retraining: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(LOOP))
    body["metadata"]["name"] = name
    body["spec"]["retraining"].update(retraining)
    return dict(body)


def history(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return list(get(ws, "model", name).get("status", {}).get("history") or [])


def wait_history(ws: Workspace, name: str, action: str, count: int = 1, timeout: float = 120) -> list[dict[str, Any]]:
    """The history once it holds ``count`` entries of ``action``."""
    return list(wait_until(lambda: (h := history(ws, name)) and sum(e["action"] == action for e in h) >= count and h,
                           timeout, interval=1, what=f"{count} {action} entr(ies) on Model {name}'s history"))


def training_jobs(ws: Workspace, model_name: str) -> list[str]:
    items = json.loads(ws.kubectl("get", "trainingjobs", "-o", "json"))
    return sorted(i["metadata"]["name"] for i in items["items"] if i["spec"]["modelRef"]["name"] == model_name)


def model_events(ws: Workspace, reason: str) -> list[dict[str, Any]]:
    """Events of ``reason`` about any Model of the namespace."""
    return _events(ws, f"involvedObject.kind=Model,reason={reason}")


def production(ws: Workspace, name: str) -> int | None:
    aliases = get(ws, "model", name).get("status", {}).get("aliases") or {}
    return aliases.get("production")


def trigger_metric(ws: Workspace, name: str, check: str) -> dict[str, Any]:
    metrics = get(ws, "model", name).get("status", {}).get("triggerMetrics") or []
    return dict(next((m for m in metrics if m["name"] == check), {}))


ROWS = [[float(x) for x in line.split(",")[:4]]
        for line in (ROOT / "examples" / "data" / "iris.csv").read_text().splitlines()[1:] if line.strip()]
DRIFTED = [[7.7, 2.6, 6.9, 2.3]] * 30  # every row in the top bins: far from the training distribution


class Traffic(threading.Thread):
    """Bounded load on loopback: a batch of rows to every ready serving pod of ``name`` ~5 times a second. Cycles
    through the iris rows in order (stationary: every window sees the training distribution) or sends DRIFTED."""

    def __init__(self, ws: Workspace, name: str) -> None:
        super().__init__(daemon=True)
        self.ws, self.name = ws, name
        self.drifted = False
        self.stop = threading.Event()
        self.sent = 0

    def pods(self) -> list[str]:
        items = json.loads(self.ws.kubectl("get", "pods", "-l", f"herder.dev/serving={self.name}", "-o", "json"))
        ips = []
        for p in items["items"]:
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
            if ready and p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp"):
                assert p["status"]["podIP"].startswith("127.")  # loopback rule
                ips.append(p["status"]["podIP"])
        return ips

    def run(self) -> None:
        i, ips, refreshed = 0, [], 0.0
        while not self.stop.is_set():
            if time.monotonic() - refreshed > 1:
                ips, refreshed = self.pods(), time.monotonic()
            rows = DRIFTED if self.drifted else [ROWS[(i + k) % len(ROWS)] for k in range(30)]
            i += 30
            for ip in ips:
                req = urllib.request.Request(f"http://{ip}:8080/v1/models/{self.name}:predict", method="POST",
                                             data=json.dumps({"instances": rows}).encode(),
                                             headers={"content-type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=10):
                        self.sent += len(rows)
                except OSError:
                    pass
            self.stop.wait(0.2)


# ----------------------------------------------------------------------------------------------- Prometheus
SELECTOR = 'namespace="{{namespace}}",deployment="{{deployment}}",version="{{version}}",protocol!="feedback"'
