"""A real Prometheus (Debian's ``prometheus`` package) on 127.0.0.1 that scrapes the local cluster's Herder serving
pods, for the Prometheus-provider tests and for trying queries by hand.

Debian builds Prometheus without Kubernetes service discovery (its client library is not packaged), so discovery
goes through ``http_sd_configs`` instead: :class:`PodDiscovery`, a small HTTP endpoint on 127.0.0.1, lists the pods
from the local API server (with the kubeconfig's CA and client certificate) and hands Prometheus one target per
container port carrying the same ``__meta_kubernetes_pod_*`` labels that ``kubernetes_sd_configs`` (role pod) gives.
Prometheus then applies exactly the relabelling recommended in docs/prometheus.md (:data:`SERVING_RELABEL_CONFIGS`;
a unit test checks the doc shows the same), so the tests prove that relabelling against the operator's real pods.
Its own data directory, random free ports, a short scrape interval and a bounded retention; ``stop()`` leaves no
process behind.

    PYTHONPATH=hack .venv/bin/python -m localcluster.prometheus --kubeconfig .run/cluster/kubeconfig \\
        --run-dir .run/prometheus [--namespace NS]     # runs until Ctrl-C, prints its URL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from .cluster import free_port

SERVING_RELABEL_CONFIGS: list[dict[str, Any]] = [
    # only Herder's serving pods (label herder.dev/serving=<ModelDeployment>), only their "http" port
    {"source_labels": ["__meta_kubernetes_pod_label_herder_dev_serving"], "regex": ".+", "action": "keep"},
    {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "http", "action": "keep"},
    {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
    # the labels Herder's queries use: {{namespace}}, {{deployment}}, {{version}} (and track, pod for people)
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_label_herder_dev_serving"], "target_label": "deployment"},
    {"source_labels": ["__meta_kubernetes_pod_label_herder_dev_model_version"], "target_label": "version"},
    {"source_labels": ["__meta_kubernetes_pod_label_herder_dev_track"], "target_label": "track"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
]
SERVING_METRIC_RELABEL_CONFIGS: list[dict[str, Any]] = [
    # the server's own "version" label equals the pod's; Prometheus renames it exported_version on the clash
    {"regex": "exported_version", "action": "labeldrop"},
]


def serving_scrape_config(sd: dict[str, Any], interval: str = "15s", sd_kind: str = "kubernetes_sd_configs"
                          ) -> dict[str, Any]:
    """The scrape job for Herder's serving pods; ``sd`` is one ``kubernetes_sd_configs`` entry (role pod), or an
    ``http_sd_configs`` entry pointing at :class:`PodDiscovery` (same target labels)."""
    return {
        "job_name": "herder-serving",
        "scrape_interval": interval,
        "metrics_path": "/metrics",
        sd_kind: [sd],
        "relabel_configs": SERVING_RELABEL_CONFIGS,
        "metric_relabel_configs": SERVING_METRIC_RELABEL_CONFIGS,
    }


class PrometheusError(RuntimeError):
    pass


def sanitize(name: str) -> str:
    """Prometheus' label-name sanitising of Kubernetes label keys (herder.dev/serving -> herder_dev_serving)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_targets(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The target groups ``kubernetes_sd_configs`` (role pod) makes of one pod: one per container port, with the
    ``__meta_kubernetes_*`` labels the recommended relabelling reads (and the usual others)."""
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    ip = status.get("podIP")
    if not ip:
        return []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    common = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_pod_name": meta["name"],
        "__meta_kubernetes_pod_uid": meta.get("uid", ""),
        "__meta_kubernetes_pod_ip": ip,
        "__meta_kubernetes_pod_node_name": spec.get("nodeName", ""),
        "__meta_kubernetes_pod_host_ip": status.get("hostIP", ""),
        "__meta_kubernetes_pod_phase": status.get("phase", ""),
        "__meta_kubernetes_pod_ready": "true" if ready else "false",
    }
    for key, value in (meta.get("labels") or {}).items():
        common[f"__meta_kubernetes_pod_label_{sanitize(key)}"] = value
        common[f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"] = "true"
    for key, value in (meta.get("annotations") or {}).items():
        common[f"__meta_kubernetes_pod_annotation_{sanitize(key)}"] = value
        common[f"__meta_kubernetes_pod_annotationpresent_{sanitize(key)}"] = "true"
    groups = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            groups.append({"targets": [f"{ip}:{port['containerPort']}"], "labels": {
                **common, "__meta_kubernetes_pod_container_name": container["name"],
                "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP")}})
    return groups


class PodDiscovery:
    """An ``http_sd_configs`` endpoint on 127.0.0.1 that answers every GET with the current pods' targets, read
    from the API server at that moment (so it is as fresh as Prometheus' refresh interval)."""

    def __init__(self, kubeconfig: Path, namespaces: tuple[str, ...] = ()) -> None:
        kc = yaml.safe_load(kubeconfig.read_text())
        cluster, user = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        self.tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.tls.load_cert_chain(user["client-certificate"], user["client-key"])
        self.namespaces = namespaces
        discovery = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    body, status = json.dumps(discovery.targets()).encode(), 200
                except (OSError, ValueError, KeyError) as e:  # Prometheus keeps the last good list on an error
                    body, status = str(e).encode(), 503
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # Prometheus stopped meanwhile
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/targets"
        self.thread = threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def pods(self) -> list[dict[str, Any]]:
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in self.namespaces] or ["/api/v1/pods"]
        items: list[dict[str, Any]] = []
        for path in paths:
            with urllib.request.urlopen(self.server + path, context=self.tls, timeout=10) as r:
                items += json.loads(r.read())["items"]
        return items

    def targets(self) -> list[dict[str, Any]]:
        return [group for pod in self.pods() for group in pod_targets(pod)]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise PrometheusError("prometheus is not on PATH: install Debian's package (`make prometheus` runs "
                              "apt-get install -y prometheus)")
    return found


class LocalPrometheus:
    """One Prometheus in ``run_dir`` scraping the serving pods of the cluster behind ``kubeconfig``."""

    def __init__(self, kubeconfig: Path, run_dir: Path, namespaces: tuple[str, ...] = (),
                 scrape_interval: str = "1s", retention: str = "1h") -> None:
        self.kubeconfig = kubeconfig
        self.run_dir = run_dir.resolve()
        self.namespaces = namespaces
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.discovery: PodDiscovery | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.run_dir / "prometheus.log"

    def config(self, discovery_url: str) -> dict[str, Any]:
        """The recommended scrape job, its targets from :class:`PodDiscovery` (see the module doc)."""
        sd = {"url": discovery_url, "refresh_interval": self.scrape_interval}
        return {"global": {"scrape_interval": self.scrape_interval, "evaluation_interval": "1m"},
                "scrape_configs": [serving_scrape_config(sd, self.scrape_interval, "http_sd_configs")]}

    def start(self, timeout: float = 60.0) -> LocalPrometheus:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.discovery = PodDiscovery(self.kubeconfig, self.namespaces)
        self.discovery.start()
        config = self.run_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(self.discovery.url), sort_keys=False))
        self.port = free_port()
        argv = [binary(), f"--config.file={config}", f"--storage.tsdb.path={self.run_dir / 'data'}",
                f"--storage.tsdb.retention.time={self.retention}", "--storage.tsdb.retention.size=256MB",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (rc := self.process.poll()) is not None:
                self.stop()
                raise PrometheusError(f"prometheus exited with {rc}; log {self.log}:\n"
                                      + self.log.read_text()[-3000:])
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus not ready at {self.url} after {timeout:.0f}s; log {self.log}")

    def stop(self, grace: float = 10.0) -> None:
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(grace)
        d, self.discovery = self.discovery, None
        if d is not None:
            d.stop()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result list (for tests waiting on what Prometheus has scraped)."""
        body = urllib.parse.urlencode({"query": promql}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=body, timeout=10) as r:
            answer = json.loads(r.read())
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets?state=active", timeout=10) as r:
            active: list[dict[str, Any]] = json.loads(r.read())["data"]["activeTargets"]
            return active

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster.prometheus", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", type=Path, required=True)
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--namespace", action="append", default=[], help="discover pods only here (repeatable)")
    ap.add_argument("--scrape-interval", default="1s")
    args = ap.parse_args(argv)
    prom = LocalPrometheus(args.kubeconfig, args.run_dir, tuple(args.namespace), args.scrape_interval).start()
    print(f"prometheus at {prom.url} (log {prom.log}); Ctrl-C stops it", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    finally:
        prom.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
