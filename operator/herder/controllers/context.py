"""What every reconcile gets: clients, settings, metrics and the operator's view of objects — all kept in
kopf's memo (no module globals), built once at startup."""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from herder import API_GROUP, API_VERSION
from herder.controllers.config import OperatorConfig
from herder.controllers.metrics import OperatorMetrics
from herder.monitoring.builtin import ScrapeMemory


@dataclass(frozen=True, order=True)
class ObjKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class Clients:
    """One pooled ApiClient shared by all threads (urllib3 pools are thread-safe)."""

    def __init__(self, cfg: OperatorConfig) -> None:
        conf = k8s.Configuration()
        if cfg.kubeconfig:
            k8s_config.load_kube_config(config_file=cfg.kubeconfig, client_configuration=conf)
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=conf)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(client_configuration=conf)
        conf.connection_pool_maxsize = cfg.max_workers + 4
        self.configuration = conf
        self.api = k8s.ApiClient(conf)
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)
        self.batch = k8s.BatchV1Api(self.api)
        self.custom = k8s.CustomObjectsApi(self.api)


class ObjectStore:
    """The latest body of every watched object (fed by the watch, so reading it costs no API call) and who
    depends on whom (so a Dataset appearing re-reconciles the TrainingJobs that were waiting for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[ObjKey, dict[str, Any]] = {}
        self._dependents: dict[ObjKey, set[ObjKey]] = defaultdict(set)
        self._depends_on: dict[ObjKey, set[ObjKey]] = {}
        self._object_locks: dict[ObjKey, threading.Lock] = defaultdict(threading.Lock)

    def put(self, key: ObjKey, body: dict[str, Any]) -> None:
        with self._lock:
            self._objects[key] = body

    def put_latest(self, key: ObjKey, body: dict[str, Any]) -> dict[str, Any]:
        """Keep ``body`` unless the store already holds a later version of the same object; returns what it keeps.

        Why: after a status write the store holds the written object (its resourceVersion from the answer), while
        the watch may still deliver events for earlier versions -- late under load, with a thousand objects. Put
        blindly, such an event would bring old status back, the next reconcile would write the new status again,
        and two writers of one object would ping-pong. resourceVersions are compared as numbers (the etcd
        revision; every API server built on etcd gives them) and only for the same uid; anything else counts as
        newer, as before."""
        with self._lock:
            held = self._objects.get(key)
            if held is not None and _older(body, held):
                return held
            self._objects[key] = body
            return body

    def delete(self, key: ObjKey) -> None:
        with self._lock:
            self._objects.pop(key, None)
            for dep in self._depends_on.pop(key, set()):
                self._dependents[dep].discard(key)

    def get(self, key: ObjKey) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get(key)

    def items(self, kind: str | None = None) -> list[tuple[ObjKey, dict[str, Any]]]:
        with self._lock:
            return [(k, v) for k, v in self._objects.items() if kind is None or k.kind == kind]

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for k in self._objects if k.kind == kind)

    def set_dependencies(self, key: ObjKey, deps: set[ObjKey]) -> None:
        with self._lock:
            for old in self._depends_on.get(key, set()) - deps:
                self._dependents[old].discard(key)
            for new in deps:
                self._dependents[new].add(key)
            self._depends_on[key] = deps

    def dependents_of(self, key: ObjKey) -> list[ObjKey]:
        with self._lock:
            return sorted(self._dependents.get(key, set()))

    def lock_for(self, key: ObjKey) -> threading.Lock:
        with self._lock:
            return self._object_locks[key]


@dataclass
class OperatorContext:
    """The memo's one entry: everything shared, built at startup."""

    config: OperatorConfig
    clients: Clients
    metrics: OperatorMetrics
    store: ObjectStore = field(default_factory=ObjectStore)
    scrapes: ScrapeMemory = field(default_factory=ScrapeMemory)
    """The previous /metrics scrape of each rollout's canary pods (builtin analysis compares two scrapes)."""
    executor: ThreadPoolExecutor | None = None
    group: str = API_GROUP
    version: str = API_VERSION


def _older(incoming: dict[str, Any], held: dict[str, Any]) -> bool:
    """True when ``incoming`` is an earlier version of the very object ``held`` is (same uid, lower revision)."""
    a, b = incoming.get("metadata") or {}, held.get("metadata") or {}
    if a.get("uid") != b.get("uid"):
        return False
    try:
        return int(str(a.get("resourceVersion"))) < int(str(b.get("resourceVersion")))
    except (TypeError, ValueError):
        return False
