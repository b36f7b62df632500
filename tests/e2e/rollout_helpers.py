"""Helpers of the rollout, monitoring and blue/green end-to-end tests: bounded load on loopback, the ready serving
pods, registering the iris artifact again as another version (optionally with the tests-only fault-injection
annotations, docs/rollout.md), pinning a ModelDeployment to a version, Events by reason."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import yaml

from tests.e2e.conftest import Workspace
from tests.e2e.test_iris import get, wait_cond

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


def events(ws: Workspace, reason: str, name: str = "iris") -> list[dict[str, Any]]:
    out = json.loads(ws.kubectl("get", "events", "--field-selector",
                                f"involvedObject.kind=ModelDeployment,involvedObject.name={name},reason={reason}",
                                "-o", "json"))
    return list(out["items"])


def collision_hint(ws: Workspace) -> str:
    """Pods whose server keeps exiting usually found their loopback address taken by another local cluster."""
    pods = json.loads(ws.kubectl("get", "pods", "-l", "herder.dev/serving", "-o", "json"))["items"]
    restarting = [f"{p['metadata']['name']} ({p['status'].get('podIP')}): {cs.get('restartCount')} restarts"
                  for p in pods for cs in p["status"].get("containerStatuses") or [] if cs.get("restartCount")]
    return "serving pods restarting: " + "; ".join(restarting) if restarting else "no serving pod restarted"
