"""Fake Kubernetes clients for unit tests of the controllers.

``Recorder`` / ``FakeClients``: every call is recorded and answers ``{}`` (the scaffold's tests need no more).

``FakeCluster``: the same recorder with an in-memory API server behind the calls the ModelDeployment controller
makes -- Deployments, Services, PodDisruptionBudgets and HPAs (read, create, apply, delete), pods listed by label
selector, the status subresource of custom objects (merge patch) and Events -- plus what the real cluster would do
by itself: :meth:`FakeCluster.settle` rolls every Deployment out (status, and one running pod per replica with a
loopback IP), and :meth:`FakeCluster.metrics` answers a pod's ``/metrics`` from per-version request counters the
test drives. No thread, no network: a reconcile is a plain function call.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from kubernetes.client.rest import ApiException


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **_: Any) -> dict[str, Any]:
            self.calls.append((name, args))
            return {}
        return record


class FakeClients:
    def __init__(self) -> None:
        self.custom = Recorder()
        self.core = Recorder()


class Raw:
    """What a client call with ``_preload_content=False`` returns."""

    def __init__(self, obj: Any) -> None:
        self.data = json.dumps(obj).encode()


def not_found(kind: str, name: str) -> ApiException:
    e = ApiException(status=404, reason="Not Found")
    e.body = json.dumps({"message": f"{kind} {name!r} not found"})
    return e


def merge(live: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply, roughly: our fields replace, maps merge, lists are replaced whole."""
    out = copy.deepcopy(live)
    for k, v in desired.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386: None removes a key."""
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_patch(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0


class Objects:
    """read/create/patch/delete of one kind, stored by (namespace, name)."""

    def __init__(self, cluster: FakeCluster, kind: str) -> None:
        self.cluster, self.kind = cluster, kind
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def read(self, name: str, namespace: str, **kw: Any) -> Any:
        obj = self.items.get((namespace, name))
        if obj is None:
            raise not_found(self.kind, name)
        return Raw(obj) if kw.get("_preload_content") is False else copy.deepcopy(obj)

    def create(self, namespace: str, body: dict[str, Any], **kw: Any) -> Any:
        name = body["metadata"]["name"]
        if (namespace, name) in self.items:
            raise ApiException(status=409, reason="AlreadyExists")
        obj = copy.deepcopy(body)
        obj["metadata"].update(namespace=namespace, uid=f"uid-{name}", generation=1,
                               resourceVersion=self.cluster.revision())
        self.items[(namespace, name)] = obj
        self.cluster.writes.append(("create", self.kind, name))
        return Raw(obj) if kw.get("_preload_content") is False else copy.deepcopy(obj)

    def patch(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> Any:
        live = self.items.get((namespace, name))
        if live is None:
            raise not_found(self.kind, name)
        new = merge(live, body)
        if new.get("spec") != live.get("spec"):
            new["metadata"]["generation"] = int(live["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = self.cluster.revision()
        self.items[(namespace, name)] = new
        self.cluster.writes.append(("apply", self.kind, name))
        return copy.deepcopy(new)

    def delete(self, name: str, namespace: str, **_: Any) -> Any:
        if self.items.pop((namespace, name), None) is None:
            raise not_found(self.kind, name)
        self.cluster.writes.append(("delete", self.kind, name))
        if self.kind == "Deployment":
            self.cluster.pods = [p for p in self.cluster.pods if p.owner != (namespace, name)]
        return {}


def methods(objects: Objects, suffix: str) -> dict[str, Any]:
    return {f"read_namespaced_{suffix}": objects.read, f"create_namespaced_{suffix}": objects.create,
            f"patch_namespaced_{suffix}": objects.patch, f"delete_namespaced_{suffix}": objects.delete}


class Api(Recorder):
    """A recorder that answers the calls in ``table`` from the fake cluster."""

    def __init__(self, table: dict[str, Any]) -> None:
        super().__init__()
        self.table = table

    def __getattr__(self, name: str) -> Any:
        if name in self.__dict__.get("table", {}):
            return self.table[name]
        return super().__getattr__(name)


@dataclass
class Pod:
    owner: tuple[str, str]
    labels: dict[str, str]
    ip: str
    name: str

    def view(self) -> Any:
        return SimpleNamespace(metadata=SimpleNamespace(name=self.name, uid=f"uid-{self.name}", labels=self.labels,
                                                        deletion_timestamp=None),
                               status=SimpleNamespace(pod_ip=self.ip, phase="Running"))


@dataclass
class FakeCluster:
    """The fake API server (see the module doc). ``clients`` goes into ``OperatorContext(clients=...)``."""

    namespace: str = "ns"
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    traffic: dict[int, Counters] = field(default_factory=dict)
    """Cumulative inference requests per model version, summed over its pods (each pod reports its share)."""
    claims: set[str] = field(default_factory=lambda: {"herder-store"})
    custom_objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _rv: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _ips: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.kinds = {k: Objects(self, k) for k in ("Deployment", "Service", "PodDisruptionBudget",
                                                    "HorizontalPodAutoscaler")}
        self.apps = Api(methods(self.kinds["Deployment"], "deployment"))
        self.core = Api({**methods(self.kinds["Service"], "service"), "list_namespaced_pod": self.list_pods,
                         "create_namespaced_event": self.create_event,
                         "read_namespaced_persistent_volume_claim": self.read_claim})
        self.policy = Api(methods(self.kinds["PodDisruptionBudget"], "pod_disruption_budget"))
        self.autoscaling = Api(methods(self.kinds["HorizontalPodAutoscaler"], "horizontal_pod_autoscaler"))
        self.custom = Api({"patch_namespaced_custom_object_status": self.patch_status})
        self.batch = Api({})
        self.api = SimpleNamespace(sanitize_for_serialization=lambda o: o)
        self.clients = SimpleNamespace(core=self.core, apps=self.apps, custom=self.custom, batch=self.batch,
                                       api=self.api)

    def revision(self) -> str:
        return str(next(self._rv))

    # ------------------------------------------------------------------ what the API server answers
    def list_pods(self, namespace: str, label_selector: str = "", **_: Any) -> Any:
        want = dict(kv.split("=", 1) for kv in label_selector.split(",") if kv)
        return SimpleNamespace(items=[p.view() for p in self.pods if p.owner[0] == namespace
                                      and all(p.labels.get(k) == v for k, v in want.items())])

    def create_event(self, namespace: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.events.append(body)
        return body

    def read_claim(self, name: str, namespace: str, **_: Any) -> dict[str, Any]:
        if name not in self.claims:
            raise not_found("PersistentVolumeClaim", name)
        return {"metadata": {"name": name, "namespace": namespace}}

    def patch_status(self, group: str, version: str, namespace: str, plural: str, name: str,
                     body: dict[str, Any], **_: Any) -> dict[str, Any]:
        key = (plural, namespace, name)
        live = self.custom_objects.get(key, {"metadata": {"name": name, "namespace": namespace}})
        new = merge_patch(live, body)
        new.setdefault("metadata", {})["resourceVersion"] = self.revision()
        self.custom_objects[key] = new
        self.writes.append(("patch-status", plural, name))
        return copy.deepcopy(new)

    # ------------------------------------------------------------------ what the cluster does by itself
    def deployment(self, name: str) -> dict[str, Any] | None:
        return self.kinds["Deployment"].items.get((self.namespace, name))

    def settle(self) -> None:
        """Every Deployment rolled out: one running pod per replica of its current template, status up to date."""
        for (ns, name), dep in self.kinds["Deployment"].items.items():
            replicas = int(dep["spec"].get("replicas", 1))
            labels = dict(dep["spec"]["template"]["metadata"]["labels"])
            mine = [p for p in self.pods if p.owner == (ns, name) and p.labels == labels]
            self.pods = [p for p in self.pods if p.owner != (ns, name)] + mine[:replicas]
            for i in range(len(mine), replicas):
                self.pods.append(Pod((ns, name), labels, f"127.77.0.{next(self._ips)}",
                                     f"{name}-{labels.get('herder.dev/model-version')}-{i}"))
            dep["status"] = {"observedGeneration": dep["metadata"]["generation"], "replicas": replicas,
                             "updatedReplicas": replicas, "readyReplicas": replicas}

    def serve(self, version: int, requests: int, errors: int = 0) -> None:
        """``requests`` more inference requests answered by the pods of ``version``, ``errors`` of them 5xx."""
        c = self.traffic.setdefault(version, Counters())
        c.requests += requests
        c.errors += errors

    def metrics(self, ip: str) -> str:
        """A pod's /metrics: its equal share of its version's counters (the server's exposition format)."""
        pod = next((p for p in self.pods if p.ip == ip), None)
        if pod is None:
            raise OSError(f"connection refused: {ip}")
        version = int(pod.labels["herder.dev/model-version"])
        peers = sum(1 for p in self.pods if p.labels.get("herder.dev/model-version") == str(version))
        c = self.traffic.get(version, Counters())
        ok, bad = (c.requests - c.errors) / peers, c.errors / peers
        return (f'herder_requests_total{{model="m",version="{version}",protocol="v2",code="200"}} {ok}\n'
                f'herder_requests_total{{model="m",version="{version}",protocol="v2",code="500"}} {bad}\n')

    def event_reasons(self) -> list[str]:
        return [str(e["reason"]) for e in self.events]


class FakeTime:
    """``time.time`` and ``time.monotonic`` that move only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
