"""The local node agent: a tiny kubelet that runs Herder's own pods as local processes.

Why: there is no container runtime here, but the whole loop (training Jobs, serving Deployments) must really
execute. Pods scheduled to this agent's node whose image is the Herder image run their command/args/env as a
process bound to a pod IP from a loopback range; volumes map to local directories (emptyDir per pod, PVCs to
``<storage-root>/<namespace>/<claim>``, ConfigMaps/Secrets written out) and container paths in args/env are
rewritten to them. Readiness probes set Ready; exit codes become Succeeded/Failed (so Jobs retry and complete);
``terminationMessagePath`` is honoured; logs are files under ``<work-dir>/pods/<ns>_<name>/<container>.log``.
Graceful deletion works as in the kubelet: the pod is marked not ready, each container's preStop hook runs, then
SIGTERM, the rest of the grace period (``deletionGracePeriodSeconds``), SIGKILL, and only then is the pod object
removed (so a serving pod leaves its Service before it stops answering). Anything it cannot run gets a Failed
status naming the reason, never a hang.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import datetime as dt
import http.server
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .podspec import (
    DEFAULT_TERMINATION_PATH,
    PathMap,
    UnsupportedPod,
    container_env,
    expand,
    image_is_herder,
    launch_problem,
)
from .termination import Deadline, Target, stop_process

log = logging.getLogger("node-agent")
PR_SET_PDEATHSIG = 1


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _die_with_parent() -> None:
    """Pod processes die with the agent (SIGKILL on parent death), so a killed agent leaves nothing behind."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class IPAllocator:
    def __init__(self, cidr: str) -> None:
        self._hosts = ipaddress.ip_network(cidr).hosts()
        next(self._hosts)  # .1 is the "gateway": never handed out
        self._free: list[str] = []
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            return self._free.pop(0) if self._free else str(next(self._hosts))

    def put(self, ip: str) -> None:
        with self._lock:
            self._free.append(ip)


class Container:
    """One running container process, restarted per restartPolicy."""

    def __init__(self, runner: PodRunner, spec: dict[str, Any]) -> None:
        self.runner = runner
        self.spec = spec
        self.name: str = spec["name"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.ready = False
        self.started_at: str | None = None
        self.terminated: dict[str, Any] | None = None
        self.waiting: dict[str, Any] | None = {"reason": "ContainerCreating"}
        self.log_path = runner.dir / f"{self.name}.log"
        self.env: dict[str, str] | None = None
        self.cwd: Path | None = None
        self.term_path = runner.dir / f"{self.name}.termination-log"

    def status(self) -> dict[str, Any]:
        if self.proc is not None and self.proc.poll() is None:
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.terminated is not None and self.waiting is None:
            state = {"terminated": self.terminated}
        else:
            state = {"waiting": self.waiting or {"reason": "ContainerCreating"}}
        st: dict[str, Any] = {
            "name": self.name, "image": self.spec.get("image", ""), "imageID": "",
            "ready": self.ready, "restartCount": self.restarts, "started": "running" in state, "state": state,
        }
        if self.proc is not None:
            st["containerID"] = f"herder-local://{self.proc.pid}"
        if self.terminated is not None and "terminated" not in state:
            st["lastState"] = {"terminated": self.terminated}
        return st

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.term_path.write_text("")
        self.env, self.cwd = env, cwd  # exec hooks run with the container's environment
        with self.log_path.open("ab") as fh:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
            )
        self.started_at = _now()
        self.waiting = None
        self.terminated = None

    def record_exit(self, code: int) -> None:
        message = self.term_path.read_text(errors="replace")[-4096:] if self.term_path.exists() else ""
        if not message and code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            lines = self.log_path.read_text(errors="replace").splitlines()[-80:]
            message = "\n".join(lines)[-2048:]
        self.terminated = {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error",
            "startedAt": self.started_at, "finishedAt": _now(),
        }
        if code < 0:
            self.terminated.update(exitCode=128 - code, signal=-code)
        if message:
            self.terminated["message"] = message
        self.ready = False


class PodRunner(threading.Thread):
    """Runs one pod from admission to termination; owns its status."""

    def __init__(self, agent: NodeAgent, pod: dict[str, Any]) -> None:
        super().__init__(daemon=True, name=f"pod-{pod['metadata']['name']}")
        self.agent = agent
        self.pod = pod
        meta = pod["metadata"]
        self.ns: str = meta["namespace"]
        self.pod_name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.dir = agent.work_dir / "pods" / f"{self.ns}_{self.pod_name}_{self.uid[:8]}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ip: str | None = pod.get("status", {}).get("podIP") or None
        self.containers: list[Container] = [Container(self, c) for c in pod["spec"].get("containers", [])]
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.deadline: Deadline | None = None
        """Set by the first termination request; later ones can only bring it forward."""
        self._term_lock = threading.Lock()
        self.stopped = threading.Event()
        self._last_status: dict[str, Any] | None = None
        self.phase = "Pending"
        self.failure: tuple[str, str] | None = None

    # -- status ---------------------------------------------------------------------------------------
    def write_status(self) -> None:
        ready = self.phase == "Running" and all(c.ready for c in self.containers)
        cond = lambda t, ok: {"type": t, "status": "True" if ok else "False", "lastProbeTime": None}  # noqa: E731
        status: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": self.agent.node_ip, "hostIPs": [{"ip": self.agent.node_ip}],
            "conditions": [
                cond("PodScheduled", True), cond("Initialized", True),
                cond("ContainersReady", ready), cond("Ready", ready),
            ],
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.failure:
            status["reason"], status["message"] = self.failure
        comparable = {**status, "conditions": [(c["type"], c["status"]) for c in status["conditions"]]}
        if comparable == self._last_status:
            return
        now = _now()
        for c in status["conditions"]:
            c["lastTransitionTime"] = now
        status.setdefault("startTime", self.pod.get("status", {}).get("startTime") or now)
        try:
            self.agent.core.patch_namespaced_pod_status(self.pod_name, self.ns, {"status": status})
            self._last_status = comparable
        except ApiException as e:
            if e.status != 404:
                log.warning("pod %s/%s: status write failed: %s", self.ns, self.pod_name, e.reason)

    def fail(self, reason: str, message: str) -> None:
        log.info("pod %s/%s: Failed %s: %s", self.ns, self.pod_name, reason, message)
        self.failure = (reason, message)
        self.phase = "Failed"
        for c in self.containers:
            c.waiting = {"reason": reason, "message": message}
        self.write_status()

    # -- preparation ------------------------------------------------------------------------------------
    def _volumes(self) -> PathMap:
        paths = PathMap()
        local: dict[str, Path] = {}
        for vol in self.pod["spec"].get("volumes") or []:
            name = vol["name"]
            if "emptyDir" in vol or "projected" in vol or "downwardAPI" in vol:
                d = self.dir / "volumes" / name
            elif "persistentVolumeClaim" in vol:
                d = self.agent.storage_root / self.ns / vol["persistentVolumeClaim"]["claimName"]
            elif "configMap" in vol or "secret" in vol:
                d = self.dir / "volumes" / name
                self._materialize(vol, d)
            else:
                kinds = sorted(set(vol) - {"name"})
                raise UnsupportedPod("UnsupportedVolume",
                                     f"volume {name!r} of type {kinds} is not supported by the local node agent "
                                     "(emptyDir, persistentVolumeClaim, configMap, secret are)")
            d.mkdir(parents=True, exist_ok=True)
            local[name] = d
        for c in self.pod["spec"].get("containers", []):
            for m in c.get("volumeMounts") or []:
                target = local[m["name"]] / m["subPath"] if m.get("subPath") else local[m["name"]]
                target.mkdir(parents=True, exist_ok=True)
                paths.add(m["mountPath"], target)
        return paths

    def _materialize(self, vol: dict[str, Any], d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        if "configMap" in vol:
            obj = self.agent.core.read_namespaced_config_map(vol["configMap"]["name"], self.ns)
            data = {k: v.encode() for k, v in (obj.data or {}).items()}
        else:
            obj = self.agent.core.read_namespaced_secret(vol["secret"]["secretName"], self.ns)
            data = {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}
        for key, value in data.items():
            (d / key).write_bytes(value)

    def _lookup(self, kind: str, name: str, key: str) -> str | None:
        try:
            if kind == "secret":
                s = self.agent.core.read_namespaced_secret(name, self.ns)
                raw = (s.data or {}).get(key)
                return base64.b64decode(raw).decode() if raw is not None else None
            cm = self.agent.core.read_namespaced_config_map(name, self.ns)
            return (cm.data or {}).get(key)
        except ApiException:
            return None

    def _argv_env(self, c: Container, paths: PathMap) -> tuple[list[str], dict[str, str], Path]:
        spec = c.spec
        pod_paths = PathMap(list(paths.entries))
        pod_paths.add(spec.get("terminationMessagePath", DEFAULT_TERMINATION_PATH), c.term_path)
        base = {
            "PATH": self.agent.path, "HOME": str(self.dir), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "HOSTNAME": self.pod_name,
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.agent.api_port),
        }
        pod_view = {**self.pod, "status": {**self.pod.get("status", {}), "podIP": self.ip,
                                           "hostIP": self.agent.node_ip}}
        env = container_env(pod_view, spec, base, self._lookup)
        env = {k: pod_paths.translate(v) for k, v in env.items()}
        command = list(spec.get("command") or ["herder"])
        args = list(spec.get("args") or [])
        argv = [pod_paths.translate(expand(a, env)) for a in command + args]
        exe = shutil.which(argv[0], path=self.agent.path)
        if exe is None:
            raise UnsupportedPod("ExecutableNotFound", f"container {c.name!r}: {argv[0]!r} not found on PATH")
        argv[0] = exe
        problem = launch_problem(argv, env, c.name)
        if problem is not None:
            raise problem
        wd = spec.get("workingDir")
        cwd = Path(pod_paths.translate(wd)) if wd else self.dir
        cwd.mkdir(parents=True, exist_ok=True)
        return argv, env, cwd

    # -- run ----------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except UnsupportedPod as e:
            self.fail(e.reason, e.message)
        except Exception as e:  # a bug here must still end in a visible status, not a hang
            log.exception("pod %s/%s: agent error", self.ns, self.pod_name)
            self.fail("NodeAgentError", f"{type(e).__name__}: {e}")
        finally:
            # Containers are stopped from this thread, never after it ends: PR_SET_PDEATHSIG fires when the *thread*
            # that started a process exits, which would SIGKILL them in the middle of their preStop.
            if self.stop_requested.is_set() and self.deadline is not None:
                self._terminate_containers(self.deadline)
            else:  # finished or failed by itself: nothing graceful to do
                self._stop_containers(Deadline(0))
            self.done.set()

    def _run(self) -> None:
        spec = self.pod["spec"]
        for c in spec.get("containers", []):
            if not image_is_herder(c.get("image", ""), self.agent.image):
                raise UnsupportedPod(
                    "UnsupportedImage",
                    f"node {self.agent.node_name} runs only the Herder image ({self.agent.image}); container "
                    f"{c['name']!r} asks for {c.get('image')!r}. Schedule it to a kwok node instead.")
        if spec.get("initContainers"):
            raise UnsupportedPod("UnsupportedInitContainers", "init containers are not supported by the local agent")
        paths = self._volumes()
        if self.ip is None:
            self.ip = self.agent.ips.get()
        launches = {c.name: self._argv_env(c, paths) for c in self.containers}
        policy = spec.get("restartPolicy", "Always")
        for c in self.containers:
            c.start(*launches[c.name])
            log.info("pod %s/%s: started %s (pid %s) on %s", self.ns, self.pod_name, c.name, c.proc.pid if c.proc
                     else "?", self.ip)
        self.phase = "Running"
        self.write_status()
        probes = {c.name: _Probe(c.spec.get("readinessProbe"), self, c) for c in self.containers}
        backoff: dict[str, float] = {}
        while not self.stop_requested.is_set():
            for c in self.containers:
                proc = c.proc
                if proc is not None and proc.poll() is not None and c.terminated is None:
                    code = proc.returncode
                    c.record_exit(code)
                    log.info("pod %s/%s: %s exited %s", self.ns, self.pod_name, c.name, code)
                    if policy == "Always" or (policy == "OnFailure" and code != 0):
                        delay = min(60.0, 2 ** min(c.restarts, 6))
                        backoff[c.name] = time.monotonic() + delay
                        c.waiting = {"reason": "CrashLoopBackOff",
                                     "message": f"back-off {delay:.0f}s restarting failed container"}
                    else:
                        c.waiting = None
                if c.name in backoff and time.monotonic() >= backoff[c.name]:
                    del backoff[c.name]
                    c.restarts += 1
                    c.start(*launches[c.name])
                if proc is not None and proc.poll() is None:
                    c.ready = probes[c.name].check()
            if all(c.terminated is not None and c.waiting is None for c in self.containers) and not backoff:
                ok = all(c.terminated and c.terminated["exitCode"] == 0 for c in self.containers)
                self.phase = "Succeeded" if ok else "Failed"
                self.write_status()
                return
            self.write_status()
            self.stop_requested.wait(0.25)

    def _stop_containers(self, deadline: Deadline) -> None:
        """Stop every running container at once, each on its own thread (the kubelet kills containers in
        parallel, so one container's long preStop does not eat into another's grace period)."""
        running = [c for c in self.containers if c.proc is not None and c.proc.poll() is None]
        ports = {str(p["name"]): int(p["containerPort"]) for c in self.containers
                 for p in c.spec.get("ports") or [] if p.get("name")}

        def stop(c: Container) -> None:
            assert c.proc is not None
            pre_stop = (c.spec.get("lifecycle") or {}).get("preStop")
            target = Target(host=self.ip or "127.0.0.1", ports=ports, env=c.env, cwd=c.cwd)
            stop_process(c.proc, pre_stop, target, deadline, what=f"pod {self.ns}/{self.pod_name} {c.name}")

        threads = [threading.Thread(target=stop, args=(c,), daemon=True) for c in running]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in running:
            assert c.proc is not None
            if c.terminated is None:
                c.record_exit(c.proc.returncode)
            c.waiting = None

    def terminate(self, grace: float, forced: bool = False) -> None:
        """Graceful deletion, as the kubelet does it: the pod turns not ready first (its endpoints stop being
        ready ones), then each container runs its preStop hook, gets SIGTERM, the rest of the grace period and
        SIGKILL. A second call (a force delete, the agent's shutdown) can only shorten the grace period, and
        returns when the first one is done."""
        with self._term_lock:
            first = self.deadline is None
            if self.deadline is None:
                self.deadline = Deadline(grace, forced=forced)
            else:
                self.deadline.shorten(grace)
        if not first:
            self.stopped.wait()
            return
        deadline = self.deadline
        assert deadline is not None
        try:
            self.stop_requested.set()  # the run thread leaves its loop and terminates the containers itself
            if not self.done.wait(timeout=deadline.remaining() + 60):
                log.warning("pod %s/%s: the pod's thread is stuck; stopping its containers from here",
                            self.ns, self.pod_name)
                self._stop_containers(Deadline(0))
        finally:
            if self.ip:
                self.agent.ips.put(self.ip)
            self.stopped.set()

    def _terminate_containers(self, deadline: Deadline) -> None:
        if not any(c.proc is not None and c.proc.poll() is None for c in self.containers):
            return
        log.info("pod %s/%s: terminating, %.0fs left of the grace period%s", self.ns, self.pod_name,
                 deadline.remaining(), " (forced)" if deadline.forced else "")
        for c in self.containers:
            c.ready = False
        self.write_status()
        self._stop_containers(deadline)
        self.write_status()

    def hurry(self, grace: float) -> None:
        """A newer deletion with a shorter grace period: bring the running termination's deadline forward."""
        with self._term_lock:
            if self.deadline is not None:
                self.deadline.shorten(grace)


class _Probe:
    """A readiness probe with Kubernetes' counting rules (initial delay, period, thresholds)."""

    def __init__(self, spec: dict[str, Any] | None, runner: PodRunner, c: Container) -> None:
        self.spec = spec
        self.runner = runner
        self.c = c
        self.next = time.monotonic() + float((spec or {}).get("initialDelaySeconds", 0))
        self.ok = spec is None
        self.successes = 0
        self.failures = 0

    def _port(self, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in self.c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError(f"named port {port!r} not declared")

    def _once(self) -> bool:
        assert self.spec is not None
        timeout = float(self.spec.get("timeoutSeconds", 1))
        host = self.runner.ip or "127.0.0.1"
        try:
            if "httpGet" in self.spec:
                g = self.spec["httpGet"]
                url = f"http://{g.get('host') or host}:{self._port(g['port'])}{g.get('path', '/')}"
                if not url.startswith("http://127."):
                    return False  # loopback rule: never probe a non-loopback address
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    return 200 <= int(r.status) < 400
            if "tcpSocket" in self.spec:
                with socket.create_connection((host, self._port(self.spec["tcpSocket"]["port"])), timeout):
                    return True
            if "exec" in self.spec:
                return subprocess.run(self.spec["exec"]["command"], timeout=timeout, check=False,
                                      capture_output=True).returncode == 0
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return False
        return False

    def check(self) -> bool:
        if self.spec is None:
            return True
        now = time.monotonic()
        if now < self.next:
            return self.ok
        self.next = now + float(self.spec.get("periodSeconds", 10))
        if self._once():
            self.successes += 1
            self.failures = 0
            if self.successes >= int(self.spec.get("successThreshold", 1)):
                self.ok = True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures >= int(self.spec.get("failureThreshold", 3)):
                self.ok = False
        return self.ok


class NodeAgent:
    def __init__(self, args: argparse.Namespace) -> None:
        config.load_kube_config(args.kubeconfig)
        self.api = client.ApiClient()
        self.core = client.CoreV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self.node_name: str = args.node_name
        self.node_ip: str = args.node_ip
        self.image: str = args.image
        self.ips = IPAllocator(args.pod_cidr)
        self.work_dir = Path(args.work_dir)
        self.storage_root = Path(args.storage_root)
        self.api_port = int(str(self.api.configuration.host).rsplit(":", 1)[1])
        self.path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        self.runners: dict[str, PodRunner] = {}
        self.terminating: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- node ---------------------------------------------------------------------------------------
    def register(self) -> None:
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name, "labels": {
                "kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux", "type": "herder-local",
                "herder.dev/local-node": "true"}},
        }
        with contextlib.suppress(ApiException):
            self.core.create_node(node)
        self.heartbeat(first=True)

    def heartbeat(self, first: bool = False) -> None:
        now = _now()
        conds = [
            {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m,
             "lastHeartbeatTime": now, "lastTransitionTime": now}
            for t, r, m in [("MemoryPressure", "SufficientMemory", "ok"), ("DiskPressure", "NoDiskPressure", "ok"),
                            ("PIDPressure", "SufficientPID", "ok")]
        ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastTransitionTime": now,
              "message": "herder local node agent is posting ready status", "lastHeartbeatTime": now}]
        cap = {"cpu": str(os.cpu_count() or 2), "memory": "24Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        status = {"conditions": conds, "capacity": cap, "allocatable": cap,
                  "addresses": [{"type": "InternalIP", "address": self.node_ip},
                                {"type": "Hostname", "address": self.node_name}],
                  "nodeInfo": {"kubeletVersion": "v1.36.3-herder-local", "kubeProxyVersion": "",
                               "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion":
                               "herder-local://1", "machineID": "", "systemUUID": "", "bootID": "",
                               "kernelVersion": "", "osImage": "herder local node agent"}}
        self.core.patch_node_status(self.node_name, {"status": status})
        lease_body = {"metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
                      "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": 40,
                               "renewTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        try:
            self.coord.patch_namespaced_lease(self.node_name, "kube-node-lease", lease_body)
        except ApiException as e:
            if e.status != 404:
                raise
            self.coord.create_namespaced_lease("kube-node-lease", lease_body)

    def heartbeat_loop(self) -> None:
        while not self.stopping.wait(10):
            try:
                self.heartbeat()
            except Exception as e:
                log.warning("heartbeat failed: %s", e)

    # -- pods -----------------------------------------------------------------------------------------
    def handle(self, pod: dict[str, Any], deleted: bool = False) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            runner = self.runners.get(uid)
            if deleted:  # the object is gone already (a force delete): no grace left
                if runner is not None:
                    threading.Thread(target=self._finish, args=(runner, 0.0), daemon=True).start()
                return
            if pod["metadata"].get("deletionTimestamp"):
                grace = deletion_grace(pod)
                if uid not in self.terminating:
                    self.terminating.add(uid)
                    threading.Thread(target=self._finish_and_delete, args=(pod, runner, grace), daemon=True).start()
                elif runner is not None:
                    runner.hurry(grace)
                return
            if runner is None and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                runner = PodRunner(self, pod)
                self.runners[uid] = runner
                runner.start()

    def _finish_and_delete(self, pod: dict[str, Any], runner: PodRunner | None, grace: float) -> None:
        """Terminate gracefully, then remove the object (gracePeriodSeconds=0, as the kubelet does: only the node
        knows when the containers are really gone)."""
        if runner is not None:
            self._finish(runner, grace)
        meta = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(
                meta["name"], meta["namespace"], grace_period_seconds=0,
                body=client.V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": meta["uid"]}))
            log.info("pod %s/%s: terminated and deleted", meta["namespace"], meta["name"])
        except ApiException as e:
            if e.status != 404:
                log.warning("pod %s/%s: final delete failed: %s %s", meta["namespace"], meta["name"],
                            e.status, e.body)
        except Exception:
            log.exception("pod %s/%s: final delete failed", meta["namespace"], meta["name"])

    def _finish(self, runner: PodRunner, grace: float) -> None:
        runner.terminate(grace)
        with self.lock:
            self.runners.pop(runner.uid, None)

    def watch_loop(self) -> None:
        selector = f"spec.nodeName={self.node_name}"
        while not self.stopping.is_set():
            try:
                pods = self.api.sanitize_for_serialization(
                    self.core.list_pod_for_all_namespaces(field_selector=selector))
                for p in pods["items"]:
                    self.handle(p)
                rv = pods["metadata"]["resourceVersion"]
                w = watch.Watch()
                for ev in w.stream(self.core.list_pod_for_all_namespaces, field_selector=selector,
                                   resource_version=rv, timeout_seconds=60, _preload_content=True):
                    pod = self.api.sanitize_for_serialization(ev["object"])
                    self.handle(pod, deleted=ev["type"] == "DELETED")
                    if self.stopping.is_set():
                        break
            except Exception as e:
                if not self.stopping.is_set():
                    log.warning("pod watch restarting: %s", e)
                    time.sleep(1)

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            runners = list(self.runners.values())
        # the agent going away is not a pod deletion: no preStop, SIGTERM and at most 5 s, all pods at once
        threads = [threading.Thread(target=r.terminate, args=(5.0, True), daemon=True) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def deletion_grace(pod: dict[str, Any]) -> float:
    """The grace period of a pod being deleted: what the deletion asked for (the API server fills
    ``deletionGracePeriodSeconds`` from the request or the pod's ``terminationGracePeriodSeconds``)."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    for value in (meta.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds"), 30):
        if value is not None:
            return float(value)
    return 30.0


def _serve_health(port: int) -> None:
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--node-name", default="herder-local")
    ap.add_argument("--node-ip", default="127.0.0.1")
    ap.add_argument("--pod-cidr", default="127.65.0.0/16")
    ap.add_argument("--image", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--storage-root", required=True)
    ap.add_argument("--health-port", type=int, required=True)
    args = ap.parse_args(argv)
    for ip in (args.node_ip, args.pod_cidr.split("/")[0]):
        if not ipaddress.ip_address(ip).is_loopback:
            ap.error(f"{ip} is not a loopback address: the local node agent only hands out 127.0.0.0/8")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = NodeAgent(args)
    agent.register()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=agent.heartbeat_loop, daemon=True).start()
    threading.Thread(target=agent.watch_loop, daemon=True).start()
    _serve_health(args.health_port)
    log.info("node %s ready; pods get IPs from %s", args.node_name, args.pod_cidr)
    stop.wait()
    agent.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
