"""Create-or-repair of the objects the operator owns, writing only when something differs.

"Differs" means: some field we set is missing or has another value in the live object. Fields the API server or
other controllers add (defaults, status, annotations of others) are not ours and never trigger a write — that is
what makes a resync with nothing changed cost zero writes. Repairs use server-side apply with our field manager,
so we own exactly the fields we set and a user's extra labels survive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from herder.controllers.context import OperatorContext

FIELD_MANAGER = "herder-operator"


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field in ``desired`` is present in ``live`` with the same value (lists element-wise)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and is_subset(v, live[k]) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(
            is_subset(d, x) for d, x in zip(desired, live, strict=True))
    if (isinstance(desired, int | float) and isinstance(live, str)) or (isinstance(desired, str) and isinstance(
            live, int | float)):
        return str(desired) == str(live)
    return bool(desired == live)


class _Api:
    """read/create/apply/delete for one kind, over the generated clients (dicts in, dicts out)."""

    def __init__(self, ctx: OperatorContext, kind: str) -> None:
        c = ctx.clients
        self.api = c.api
        custom = c.custom
        apps, batch, core = c.apps, c.batch, c.core
        policy = k8s.PolicyV1Api(c.api)
        hpa = k8s.AutoscalingV2Api(c.api)
        table: dict[str, tuple[Callable[..., Any], ...]] = {
            "Deployment": (apps.read_namespaced_deployment, apps.create_namespaced_deployment,
                           apps.patch_namespaced_deployment, apps.delete_namespaced_deployment),
            "Job": (batch.read_namespaced_job, batch.create_namespaced_job, batch.patch_namespaced_job,
                    batch.delete_namespaced_job),
            "Service": (core.read_namespaced_service, core.create_namespaced_service,
                        core.patch_namespaced_service, core.delete_namespaced_service),
            "PodDisruptionBudget": (policy.read_namespaced_pod_disruption_budget,
                                    policy.create_namespaced_pod_disruption_budget,
                                    policy.patch_namespaced_pod_disruption_budget,
                                    policy.delete_namespaced_pod_disruption_budget),
            "HorizontalPodAutoscaler": (hpa.read_namespaced_horizontal_pod_autoscaler,
                                        hpa.create_namespaced_horizontal_pod_autoscaler,
                                        hpa.patch_namespaced_horizontal_pod_autoscaler,
                                        hpa.delete_namespaced_horizontal_pod_autoscaler),
        }
        if kind == "HTTPRoute":
            g, v, p = "gateway.networking.k8s.io", "v1", "httproutes"

            def patch(name: str, ns: str, body: dict[str, Any], **kw: Any) -> Any:
                return custom.patch_namespaced_custom_object(g, v, ns, p, name, body, **kw)

            self.read: Callable[..., Any] = lambda name, ns, **kw: custom.get_namespaced_custom_object(
                g, v, ns, p, name, **kw)
            self.create: Callable[..., Any] = lambda ns, body, **kw: custom.create_namespaced_custom_object(
                g, v, ns, p, body, **kw)
            self.patch: Callable[..., Any] = patch
            self.delete: Callable[..., Any] = lambda name, ns: custom.delete_namespaced_custom_object(
                g, v, ns, p, name)
        else:
            self.read, self.create, self.patch, self.delete = table[kind]

    def to_dict(self, obj: Any) -> dict[str, Any]:
        return obj if isinstance(obj, dict) else dict(self.api.sanitize_for_serialization(obj))


def _raw(response: Any) -> dict[str, Any]:
    """The JSON body as a dict. Reads skip the generated client's model classes: deserialising into them and
    back costs more than the request itself on a busy operator."""
    return dict(json.loads(response.data))


def read(ctx: OperatorContext, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    api = _Api(ctx, kind)
    try:
        return _raw(api.read(name, namespace, _preload_content=False))
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def ensure(ctx: OperatorContext, owner_kind: str, desired: dict[str, Any], *, update: bool = True
           ) -> tuple[dict[str, Any], str]:
    """Make ``desired`` exist; returns (live object, "created" | "updated" | "unchanged").

    ``update=False`` for objects whose spec must never be patched (Jobs: their pod template is immutable).
    """
    kind = desired["kind"]
    meta = desired["metadata"]
    api = _Api(ctx, kind)
    live = read(ctx, kind, meta["name"], meta["namespace"])
    if live is None:
        try:
            created = api.to_dict(api.create(meta["namespace"], desired))
        except ApiException as e:
            if e.status != 409:  # created by a concurrent reconcile: fall through to compare
                raise
            live = read(ctx, kind, meta["name"], meta["namespace"])
            assert live is not None
        else:
            ctx.metrics.writes.labels(owner_kind, kind, "create").inc()
            return created, "created"
    if not update or is_subset(desired, live):
        return live, "unchanged"
    patched = api.to_dict(api.patch(meta["name"], meta["namespace"], desired, field_manager=FIELD_MANAGER,
                                    force=True, _content_type="application/apply-patch+yaml"))
    ctx.metrics.writes.labels(owner_kind, kind, "apply").inc()
    return patched, "updated"


def create_if_absent(ctx: OperatorContext, owner_kind: str, desired: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Create ``desired``, or adopt the live object of that name if it already exists; returns (live object,
    "created" | "unchanged"). Never patches.

    For children whose spec must never change once created (Jobs) and which usually do not exist yet: one POST
    instead of ensure()'s GET + POST on the hot path of a fresh run; the GET only happens on AlreadyExists
    (a restarted operator, or a concurrent reconcile). The created object is parsed from the raw JSON answer.
    """
    meta = desired["metadata"]
    api = _Api(ctx, desired["kind"])
    try:
        created = _raw(api.create(meta["namespace"], desired, _preload_content=False))
    except ApiException as e:
        if e.status != 409:
            raise
        live = read(ctx, desired["kind"], meta["name"], meta["namespace"])
        if live is None:  # deleted again in between: let the next reconcile decide
            raise
        return live, "unchanged"
    ctx.metrics.writes.labels(owner_kind, desired["kind"], "create").inc()
    return created, "created"


def delete(ctx: OperatorContext, owner_kind: str, kind: str, name: str, namespace: str) -> bool:
    api = _Api(ctx, kind)
    try:
        api.delete(name, namespace)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    ctx.metrics.writes.labels(owner_kind, kind, "delete").inc()
    return True


def delete_custom(ctx: OperatorContext, owner_kind: str, plural: str, name: str, namespace: str) -> bool:
    try:
        ctx.clients.custom.delete_namespaced_custom_object(ctx.group, ctx.version, namespace, plural, name)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    ctx.metrics.writes.labels(owner_kind, plural, "delete").inc()
    return True


def pods_of_job(ctx: OperatorContext, job_name: str, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _raw(ctx.clients.core.list_namespaced_pod(
        namespace, label_selector=f"job-name={job_name}", _preload_content=False))["items"]
    return sorted(items, key=lambda p: p["metadata"].get("creationTimestamp") or "")


def termination_message(pod: dict[str, Any]) -> tuple[int | None, str]:
    """(exit code, message) of the pod's first terminated container."""
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if term:
            return term.get("exitCode"), (term.get("message") or "").strip()
    return None, ""
