"""How the local node agent stops a container on graceful pod deletion, the kubelet's way: the preStop hook, then
SIGTERM, then the rest of the grace period, then SIGKILL.

Why the order matters: a deleted serving pod leaves its Service's EndpointSlice at once (terminating endpoints are
not ready), but clients (kube-proxy, or a test's load thread) only notice on their next refresh. The preStop hook
keeps the server answering meanwhile; SIGTERM afterwards starts the server's own drain. Killing at once instead
drops every request sent in that window ("connection refused").

No API calls here: the agent marks the pod not ready before and removes the object after, so this part runs
against real processes in unit tests, without a cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("node-agent")

MIN_GRACE_AFTER_PRE_STOP = 2.0
"""The kubelet's ``minimumGracePeriodInSeconds``: SIGTERM always gets this long, even when the preStop hook used up
the grace period -- unless the deletion was forced (a grace period of 0 or a shortened one)."""


class Deadline:
    """The moment by which a pod's containers must be gone. A later deletion with a shorter grace period (a force
    delete, or an agent shutdown) brings it forward, never back, and wakes whoever waits on it."""

    def __init__(self, grace: float, forced: bool = False) -> None:
        self._at = time.monotonic() + max(0.0, grace)
        self.forced = forced or grace <= 0
        """Forced: no preStop hook, and no minimum time after SIGTERM."""
        self._changed = threading.Condition()

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def shorten(self, grace: float) -> None:
        with self._changed:
            at = time.monotonic() + max(0.0, grace)
            if at < self._at:
                self._at = at
                self.forced = True
                self._changed.notify_all()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, but not past the deadline (which may move closer while sleeping)."""
        until = time.monotonic() + seconds
        with self._changed:
            while (left := min(until, self._at) - time.monotonic()) > 0:
                self._changed.wait(left)


@dataclass
class Target:
    """What a hook needs to know about the container it runs for."""

    host: str
    """The pod IP (loopback): where an httpGet hook without a host goes."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """Named container ports, for ``port: http``."""
    env: Mapping[str, str] | None = None
    cwd: Path | None = None


def _port(port: int | str, target: Target) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    if port in target.ports:
        return int(target.ports[port])
    raise ValueError(f"preStop httpGet: named port {port!r} is not declared by the container")


def run_pre_stop(hook: Mapping[str, Any], target: Target, deadline: Deadline) -> str | None:
    """Run one preStop handler until it finishes or the deadline passes. Returns why it failed, or None.

    A failing hook does not stop the termination (the kubelet reports FailedPreStopHook and kills anyway)."""
    if "sleep" in hook:
        deadline.sleep(float(hook["sleep"].get("seconds", 0)))
        return None
    if "exec" in hook:
        command = list(hook["exec"].get("command") or [])
        if not command:
            return "preStop exec: empty command"
        try:
            proc = subprocess.Popen(command, env=dict(target.env) if target.env is not None else None,
                                    cwd=target.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            return f"preStop exec {command[0]!r}: {e}"
        while proc.poll() is None and deadline.remaining() > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(0.1, deadline.remaining() or 0.01))
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"preStop exec {command}: still running at the end of the grace period"
        return None if proc.returncode == 0 else f"preStop exec {command}: exit code {proc.returncode}"
    if "httpGet" in hook:
        g = hook["httpGet"]
        if str(g.get("scheme", "HTTP")).upper() != "HTTP":
            return f"preStop httpGet: scheme {g.get('scheme')!r} is not supported by the local node agent"
        try:
            url = f"http://{g.get('host') or target.host}:{_port(g['port'], target)}{g.get('path', '/')}"
        except ValueError as e:
            return str(e)
        if not url.startswith("http://127."):
            return f"preStop httpGet {url}: not a loopback address (the local node agent only calls 127.0.0.0/8)"
        headers = {h["name"]: h["value"] for h in g.get("httpHeaders") or []}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=max(0.1, deadline.remaining())) as r:
                return None if 200 <= int(r.status) < 400 else f"preStop httpGet {url}: HTTP {r.status}"
        except OSError as e:
            return f"preStop httpGet {url}: {e}"
    return f"preStop handler {sorted(hook)} is not supported by the local node agent (exec, httpGet, sleep are)"


def stop_process(proc: subprocess.Popen[bytes], pre_stop: Mapping[str, Any] | None, target: Target,
                 deadline: Deadline, what: str = "container") -> int:
    """The kubelet's killContainer for one process group: preStop (if there is time), SIGTERM, wait for the rest
    of the grace period (at least MIN_GRACE_AFTER_PRE_STOP unless forced), SIGKILL. Returns the exit status
    (negative: the signal)."""
    if proc.poll() is None and pre_stop and not deadline.forced and deadline.remaining() > 0:
        log.info("%s: running preStop %s", what, sorted(pre_stop))
        failure = run_pre_stop(pre_stop, target, deadline)
        if failure:
            log.warning("%s: FailedPreStopHook: %s", what, failure)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        floor = time.monotonic() + (0.0 if deadline.forced else MIN_GRACE_AFTER_PRE_STOP)
        while proc.poll() is None:
            left = deadline.remaining() if deadline.forced else max(deadline.remaining(), floor - time.monotonic())
            if left <= 0:
                log.info("%s: still running at the end of the grace period: SIGKILL", what)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(0.1, left))
    code = proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever the process left behind in its group goes with it
    return code
