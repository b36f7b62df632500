"""Start and stop a real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok (simulated nodes) and the local node agent (runs Herder's own pods as processes).

Everything listens on 127.0.0.1 with ports picked at start; pod IPs come from loopback ranges, so nothing in
the cluster ever points at a non-loopback address. The state (pids, ports) is written to ``state.json`` in the
run directory so ``down`` works from another process, and ``stop`` leaves no process and no port behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import binaries, kwokconfig
from .pki import CertPair, LocalPKI

# Loopback address plan (DESIGN.md section 5): control plane on 127.0.0.1, kwok nodes and pods in 127.64/10-ish
# ranges, the node agent's pods in a /16 of 127.0.0.0/8 picked per cluster (127.65-127.254), so two clusters on one
# host (a test run beside `make up`) never hand out the same pod address. Services get ClusterIPs from a range
# nothing ever connects to.
KWOK_NODE_IP = "127.63.0.1"
KWOK_POD_CIDR = "127.64.0.0/16"
AGENT_NODE_IP = "127.0.0.1"


def agent_pod_cidr(taken: set[str]) -> str:
    """A loopback /16 for the node agent's pods that no other running local cluster uses."""
    free = [f"127.{octet}.0.0/16" for octet in range(65, 255) if f"127.{octet}.0.0/16" not in taken]
    return random.choice(free)


def running_pod_cidrs() -> set[str]:
    """Pod ranges of the node agents running on this host (read from their command lines)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"localcluster.nodeagent" in args:
            found |= {a.decode().split("=", 1)[1] for a in args if a.startswith(b"--pod-cidr=")}
    return found
SERVICE_CIDR = "10.96.0.0/16"
LOCAL_NODE = "herder-local"
HERDER_IMAGE = "ghcr.io/herder-dev/herder"


# The audit log records every write (at Metadata level), so tests can count the API writes a component makes
# instead of assuming them — e.g. "a resync with nothing changed makes zero writes".
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ProcessInfo:
    name: str
    pid: int
    log: str


@dataclass
class ClusterState:
    run_dir: str
    bin_dir: str
    kubeconfig: str
    server: str
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[ProcessInfo] = field(default_factory=list)

    def save(self) -> None:
        Path(self.run_dir, "state.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> ClusterState:
        raw = json.loads((run_dir / "state.json").read_text())
        raw["processes"] = [ProcessInfo(**p) for p in raw["processes"]]
        return cls(**raw)


class ClusterError(RuntimeError):
    pass


class KubectlError(RuntimeError):
    """A kubectl call that was expected to succeed did not; the message carries kubectl's own stderr."""


def _kubeconfig(path: Path, server: str, ca: Path, pair: CertPair, user: str) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "herder-local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)}}],
        "contexts": [{"name": "herder-local", "context": {"cluster": "herder-local", "user": user}}],
        "current-context": "herder-local",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


class LocalCluster:
    """One control plane in ``run_dir``. ``start()`` blocks until it serves; ``stop()`` kills all of it."""

    def __init__(
        self,
        run_dir: Path,
        *,
        kwok: bool = True,
        node_agent: bool = True,
        herder_image: str = HERDER_IMAGE,
        storage_root: Path | None = None,
    ) -> None:
        self.run_dir = run_dir.resolve()
        self.with_kwok = kwok
        self.with_node_agent = node_agent
        self.herder_image = herder_image
        self.storage_root = (storage_root or self.run_dir / "storage").resolve()
        self.state: ClusterState | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> ClusterState:
        bin_dir = binaries.bin_dir()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if (self.run_dir / "state.json").exists():
            stop_run_dir(self.run_dir)
        # every start is a fresh cluster (like `kind create`); only the storage root survives
        for stale in ("etcd-data", "node-agent", "pki", "logs"):
            shutil.rmtree(self.run_dir / stale, ignore_errors=True)
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        pki = LocalPKI(self.run_dir / "pki")
        ports = {
            name: free_port()
            for name in ("etcd", "etcd-peer", "etcd-metrics", "apiserver", "kcm", "scheduler", "kwok", "kwok-node")
        }
        server = f"https://127.0.0.1:{ports['apiserver']}"
        state = ClusterState(
            run_dir=str(self.run_dir), bin_dir=str(bin_dir), kubeconfig=str(self.run_dir / "kubeconfig"),
            server=server, ports=ports,
        )
        self.state = state
        try:
            self._start_all(state, pki, bin_dir, logs, deadline=time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return state

    def _spawn(self, state: ClusterState, name: str, argv: list[str], logs: Path,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = logs / f"{name}.log"
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, **(env or {})}, cwd=self.run_dir,
            )
        state.processes.append(ProcessInfo(name, proc.pid, str(log)))
        state.save()
        return proc

    def _start_all(self, state: ClusterState, pki: LocalPKI, bin_dir: Path, logs: Path, deadline: float) -> None:
        p = state.ports
        etcd_server = pki.issue("etcd-server", "etcd", server=True, client=True, ips=("127.0.0.1",),
                                dns=("localhost",))
        etcd_client = pki.issue("etcd-client", "kube-apiserver-etcd-client", client=True)
        apiserver = pki.issue(
            "apiserver", "kube-apiserver", server=True, ips=("127.0.0.1", "10.96.0.1"),
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"),
        )
        admin = pki.issue("admin", "herder-admin", org="system:masters", client=True)
        kcm = pki.issue("kcm", "system:kube-controller-manager", client=True)
        sched = pki.issue("scheduler", "system:kube-scheduler", client=True)
        sa = pki.service_account_keys()
        self.pki = pki
        audit_policy = self.run_dir / "audit-policy.yaml"
        audit_policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        kcm_serving = pki.issue("kcm-serving", "kube-controller-manager", server=True, ips=("127.0.0.1",))
        sched_serving = pki.issue("scheduler-serving", "kube-scheduler", server=True, ips=("127.0.0.1",))
        server = state.server
        kubeconfig = _kubeconfig(Path(state.kubeconfig), server, pki.ca, admin, "herder-admin")
        kcm_kc = _kubeconfig(self.run_dir / "kcm.kubeconfig", server, pki.ca, kcm, "kcm")
        sched_kc = _kubeconfig(self.run_dir / "scheduler.kubeconfig", server, pki.ca, sched, "scheduler")

        etcd_url = f"https://127.0.0.1:{p['etcd']}"
        self._spawn(state, "etcd", [
            str(bin_dir / "etcd"), "--name=default", f"--data-dir={self.run_dir / 'etcd-data'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
            f"--initial-cluster=default=http://127.0.0.1:{p['etcd-peer']}",
            f"--listen-metrics-urls=http://127.0.0.1:{p['etcd-metrics']}",
            f"--cert-file={etcd_server.cert}", f"--key-file={etcd_server.key}",
            f"--trusted-ca-file={pki.ca}", "--client-cert-auth=true",
            "--unsafe-no-fsync=true", "--quota-backend-bytes=4294967296", "--log-level=warn",
        ], logs)
        self._spawn(state, "kube-apiserver", [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}", f"--etcd-cafile={pki.ca}",
            f"--etcd-certfile={etcd_client.cert}", f"--etcd-keyfile={etcd_client.key}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={p['apiserver']}",
            f"--tls-cert-file={apiserver.cert}", f"--tls-private-key-file={apiserver.key}",
            f"--client-ca-file={pki.ca}", "--authorization-mode=RBAC",
            f"--requestheader-client-ca-file={pki.ca}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=none",
            "--allow-privileged=false", "--profiling=false", "--v=1",
            f"--audit-policy-file={audit_policy}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=blocking",
        ], logs)
        self._wait_http(f"{server}/readyz", pki, admin, deadline, "kube-apiserver")
        self._spawn(state, "kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kcm_kc}", f"--authentication-kubeconfig={kcm_kc}",
            f"--authorization-kubeconfig={kcm_kc}",
            "--bind-address=127.0.0.1", f"--secure-port={p['kcm']}", "--leader-elect=false",
            f"--service-account-private-key-file={sa.key}", f"--root-ca-file={pki.ca}",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
            "--concurrent-gc-syncs=5",
            # client-side rate limits above the defaults (20/30): with a thousand Deployments on kwok nodes the
            # controllers, not the API server, would set the pace
            "--kube-api-qps=200", "--kube-api-burst=400",
            f"--tls-cert-file={kcm_serving.cert}", f"--tls-private-key-file={kcm_serving.key}",
            "--profiling=false", "--v=1",
        ], logs)
        self._spawn(state, "kube-scheduler", [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={sched_kc}", f"--authentication-kubeconfig={sched_kc}",
            f"--authorization-kubeconfig={sched_kc}",
            "--bind-address=127.0.0.1", f"--secure-port={p['scheduler']}", "--leader-elect=false",
            f"--tls-cert-file={sched_serving.cert}", f"--tls-private-key-file={sched_serving.key}",
            "--kube-api-qps=200", "--kube-api-burst=400",
            "--profiling=false", "--v=1",
        ], logs)
        self._wait_http(f"https://127.0.0.1:{p['kcm']}/healthz", pki, admin, deadline, "kube-controller-manager")
        self._wait_http(f"https://127.0.0.1:{p['scheduler']}/healthz", pki, admin, deadline, "kube-scheduler")
        if self.with_kwok:
            stages = kwokconfig.write_config(binaries.assets_dir() / "kwok-stages", self.run_dir / "kwok.yaml")
            self._spawn(state, "kwok", [
                str(bin_dir / "kwok"), f"--kubeconfig={kubeconfig}", f"--config={stages}",
                "--manage-nodes-with-label-selector=type=kwok",
                f"--cidr={KWOK_POD_CIDR}", f"--node-ip={KWOK_NODE_IP}",
                f"--node-port={p['kwok-node']}", f"--server-address=127.0.0.1:{p['kwok']}",
                "--node-lease-duration-seconds=40",
            ], logs)
            self._wait_http(f"http://127.0.0.1:{p['kwok']}/healthz", pki, admin, deadline, "kwok")
        if self.with_node_agent:
            self.storage_root.mkdir(parents=True, exist_ok=True)
            agent_port = free_port()
            p["node-agent"] = agent_port
            self._spawn(state, "node-agent", [
                sys.executable, "-m", "localcluster.nodeagent", f"--kubeconfig={kubeconfig}",
                f"--node-name={LOCAL_NODE}", f"--node-ip={AGENT_NODE_IP}",
                f"--pod-cidr={agent_pod_cidr(running_pod_cidrs())}",
                f"--image={self.herder_image}", f"--work-dir={self.run_dir / 'node-agent'}",
                f"--storage-root={self.storage_root}", f"--health-port={agent_port}",
            ], logs, env={"PYTHONPATH": str(binaries.HACK) + os.pathsep + os.environ.get("PYTHONPATH", "")})
            self._wait_http(f"http://127.0.0.1:{agent_port}/healthz", pki, admin, deadline, "node-agent")
        # The service-account controller is the last thing a user's first `kubectl apply` of a pod depends on.
        self._wait_for(lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
                       deadline, "the default ServiceAccount (kube-controller-manager's serviceaccount controller)")

    def _wait_http(self, url: str, pki: LocalPKI, client: CertPair, deadline: float, what: str) -> None:
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        ctx.load_cert_chain(str(client.cert), str(client.key))

        def ok() -> bool:
            try:
                with urllib.request.urlopen(url, context=ctx if url.startswith("https") else None,
                                            timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        self._wait_for(ok, deadline, f"{what} at {url}")

    def _wait_for(self, ok: object, deadline: float, what: str) -> None:
        assert callable(ok)
        while time.monotonic() < deadline:
            self._check_alive()
            if ok():
                return
            time.sleep(0.2)
        raise ClusterError(f"timed out waiting for {what}; logs in {self.run_dir / 'logs'}")

    def _check_alive(self) -> None:
        assert self.state is not None
        for proc in self.state.processes:
            if not _alive(proc.pid):
                tail = Path(proc.log).read_text(errors="replace").splitlines()[-30:]
                raise ClusterError(f"{proc.name} exited during start; last lines of {proc.log}:\n"
                                   + "\n".join(tail))

    def run_beside(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start a process that belongs with this cluster (the demo's operator): recorded in state.json, so
        ``make down`` stops it with the cluster even after the caller exited (KEEP=1); log in logs/<name>.log."""
        assert self.state is not None
        return self._spawn(self.state, name, argv, self.run_dir / "logs")

    def stop(self) -> None:
        stop_run_dir(self.run_dir)

    @property
    def audit_log(self) -> Path:
        return self.run_dir / "logs" / "audit.jsonl"

    def writes_by(self, username: str, since_line: int = 0) -> list[dict[str, object]]:
        """Write requests (verb, resource, name, subresource) made by ``username``, from the audit log."""
        out: list[dict[str, object]] = []
        lines = self.audit_log.read_text().splitlines() if self.audit_log.exists() else []
        for line in lines[since_line:]:
            ev = json.loads(line)
            if ev.get("stage") == "ResponseComplete" and ev.get("user", {}).get("username") == username:
                ref = ev.get("objectRef", {})
                out.append({"verb": ev["verb"], "resource": ref.get("resource"), "name": ref.get("name"),
                            "namespace": ref.get("namespace"),
                            "subresource": ref.get("subresource"), "code": ev.get("responseStatus", {}).get("code")})
        return out

    def audit_lines(self) -> int:
        return len(self.audit_log.read_text().splitlines()) if self.audit_log.exists() else 0

    def provision_storage(self, namespace: str, claim: str = "herder-store", size: str = "10Gi") -> Path:
        """A bound PersistentVolumeClaim for Herder's store in ``namespace`` (a pre-bound hostPath PV — there
        is no dynamic provisioner here). The node agent maps the claim to the returned local directory."""
        local = self.storage_root / namespace / claim
        local.mkdir(parents=True, exist_ok=True)
        pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{claim}-{namespace}"},
              "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                       "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "herder-local",
                       "hostPath": {"path": str(local), "type": "DirectoryOrCreate"},
                       "claimRef": {"namespace": namespace, "name": claim}}}
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": namespace},
               "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "herder-local",
                        "volumeName": f"{claim}-{namespace}", "resources": {"requests": {"storage": size}}}}
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([pv, pvc]))
        return local

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for another client-certificate user (CN=user, O=groups) — e.g. the operator's own
        identity, so the audit log can tell its writes from the test's."""
        assert self.state is not None
        pair = self.pki.issue(f"user-{user}", user, org=",".join(groups) or None, client=True)
        return _kubeconfig(self.run_dir / f"{user}.kubeconfig", self.state.server, self.pki.ca, pair, user)

    # ---- conveniences ------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        assert self.state is not None
        return Path(self.state.kubeconfig)

    @property
    def bin_dir(self) -> Path:
        assert self.state is not None
        return Path(self.state.bin_dir)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.state is not None
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, text=True, capture_output=True, check=False, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie that is not our child still answers kill(0); read its state
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop_run_dir(run_dir: Path, grace: float = 10.0) -> None:
    """Kill every process recorded for ``run_dir`` (whole process groups, so the node agent's pods go too),
    in reverse start order: SIGTERM, wait, then SIGKILL."""
    state_file = run_dir / "state.json"
    if not state_file.exists():
        return
    state = ClusterState.load(run_dir)
    for proc in reversed(state.processes):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while _alive(proc.pid) and time.monotonic() < end:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        while _alive(proc.pid):
            time.sleep(0.05)
    state_file.unlink()
