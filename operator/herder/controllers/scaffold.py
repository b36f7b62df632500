"""The one reconcile scaffold every kind uses (DESIGN.md section 3):

1. parse the body into the pydantic model — an invalid spec becomes ``Ready=False, reason=InvalidSpec`` with the
   validation message, and is not retried (only a new generation can fix it);
2. the kind's reconcile resolves references (missing -> a condition naming the object, retried soon and again
   as soon as the missing object appears), builds children with pure builders and reads their state;
3. the status is written once, through the status subresource, and only when it changed — so a resync with
   nothing changed makes zero writes; Events are posted only for condition transitions.

Everything here is synchronous and runs on worker threads: blocking client calls never touch kopf's loop.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from kubernetes.client.rest import ApiException
from pydantic import BaseModel

from herder.api.parsing import InvalidSpecError, parse_spec
from herder.controllers import lookups
from herder.controllers.context import ObjKey, OperatorContext
from herder.policy.conditions import Cond, merge_conditions, transitions
from herder.policy.timestamps import rfc3339

log = logging.getLogger("herder.operator")
M = TypeVar("M", bound=BaseModel)

# Condition types where "True" is the bad news.
NEGATIVE_TYPES = frozenset({"Degraded", "Failed", "Rejected", "Stalled"})
# Reasons that describe normal progress, not a problem, even while a condition is False -- including waiting for
# another object that is itself on its way (a Dataset still validating, a Model with no production version yet):
# if that object has a problem, it posts the Warning itself.
QUIET_REASONS = frozenset({"Pending", "Progressing", "Running", "Waiting", "Creating", "Validating", "Training",
                           "DatasetNotReady", "FeatureSetNotReady", "AliasNotSet", "NoProductionVersion"})


class SpecError(ValueError):
    """The spec cannot be parsed; the message names the field path and the bad value."""


@dataclass
class Outcome:
    """What a kind's reconcile decided; the scaffold turns it into at most one status write."""

    conditions: list[Cond]
    fields: dict[str, Any] = field(default_factory=dict)
    """Other top-level status fields to set (None removes a field)."""
    depends_on: set[ObjKey] = field(default_factory=set)
    """Objects whose appearance or change should re-run this reconcile."""
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """Extra Events (type, reason, message) beyond condition transitions, e.g. "created Job x"."""


def waiting(ctx: OperatorContext, conditions: list[Cond], depends_on: set[ObjKey]) -> Outcome:
    """The one "waiting for a reference" outcome: the conditions that name what is missing (e.g. a Model, a
    Dataset, the artifact store's claim), looked at again after ``missing_reference_retry_seconds`` -- and as soon
    as one of ``depends_on`` appears or changes."""
    return Outcome(conditions, depends_on=depends_on, requeue_after=ctx.config.missing_reference_retry_seconds)


def missing_reference(ctx: OperatorContext, kind: str, name: str, *, namespace: str, field_path: str,
                      depends_on: set[ObjKey]) -> Outcome:
    """Waiting for the ``kind`` named at ``field_path``: ReferencesResolved=False and Ready=False with the same
    reason (e.g. ModelNotFound) and message."""
    c = lookups.missing(kind, name, namespace, field_path)
    return waiting(ctx, [c, Cond("Ready", "False", c.reason, c.message)], depends_on)


class KindController(Protocol):
    kind: str
    plural: str

    def parse(self, body: dict[str, Any]) -> Any: ...

    def reconcile(self, obj: Any, body: dict[str, Any], ctx: OperatorContext) -> Outcome: ...


def parse_spec_as(kind: str, body: dict[str, Any], model: type[M]) -> M:
    """The typed spec of ``body``; SpecError (naming the field path and value) when it does not parse."""
    try:
        spec = parse_spec(kind, body)
    except InvalidSpecError as e:
        raise SpecError(str(e)) from None
    assert isinstance(spec, model)
    return spec


def key_of(kind: str, body: dict[str, Any]) -> ObjKey:
    meta = body.get("metadata", {})
    return ObjKey(kind, meta.get("namespace", ""), meta.get("name", ""))


# Condition types that describe an activity: its end is told by the outcome's own condition (Succeeded, Ready,
# Degraded), so "Running is False" or "Progressing is False" is no Event of its own.
ACTIVITY_TYPES = frozenset({"Running", "Progressing"})
ACTIVITY_DONE = frozenset({"Completed", "Stable"})
"""An activity's normal end: no Event (an abort or a rollback ending it is a Warning)."""


def event_type(c: Cond) -> str:
    """Warning only for something a user must look at: a negative condition turning True, or a positive one
    False for a reason that is not normal progress."""
    if c.type in NEGATIVE_TYPES:
        bad = c.status == "True"
    else:
        bad = c.status == "False" and c.reason not in QUIET_REASONS and c.reason not in ACTIVITY_DONE
    return "Warning" if bad else "Normal"


def transition_events(old: list[dict[str, Any]] | None, outcome: Outcome) -> list[tuple[str, str, str]]:
    """The Events of one status write: one per transition worth telling, each text once. Left out: an activity
    ending (Running/Progressing False: the outcome's condition says how it ended), a negative condition that
    appears as False (``Failed=False`` on a success is not news; a recovery from True is), and a transition or
    extra Event whose reason or message an earlier one of this write already carried."""
    was = {c.get("type"): c.get("status") for c in old or []}
    out: list[tuple[str, str, str]] = []
    said: set[str] = set()
    for c in transitions(old, outcome.conditions):
        if c.type in ACTIVITY_TYPES and c.status != "True" and c.reason in ACTIVITY_DONE:
            continue
        if c.type in NEGATIVE_TYPES and c.status != "True" and was.get(c.type) != "True":
            continue
        message = c.message or f"{c.type} is {c.status}"
        if c.reason in said or message in said:
            continue
        said |= {c.reason, message}
        out.append((event_type(c), c.reason, message))
    for etype, reason, message in outcome.events:
        if message not in said:
            said.add(message)
            out.append((etype, reason, message))
    return out


def reconcile_object(
    controller: KindController, body: dict[str, Any], ctx: OperatorContext,
    requeue: Callable[[ObjKey, float], None] | None = None,
) -> Outcome | None:
    """Run one reconcile of one object; returns the outcome (None when the object is being deleted)."""
    key = key_of(controller.kind, body)
    with ctx.store.lock_for(key):
        # another thread may have reconciled (and written) while we waited for the lock: use the newest copy
        body = ctx.store.get(key) or body
        if body.get("metadata", {}).get("deletionTimestamp"):
            return None
        started = time.perf_counter()
        result = "ok"
        try:
            obj = controller.parse(body)
        except SpecError as e:
            outcome = Outcome([Cond("Ready", "False", "InvalidSpec", str(e))])
            result = "invalid"
        else:
            try:
                outcome = controller.reconcile(obj, body, ctx)
            except ApiException as e:
                ctx.metrics.errors.labels(controller.kind, "ApiException").inc()
                log.warning("%s: API error during reconcile: %s %s", key, e.status, e.reason)
                message = f"Kubernetes API answered {e.status} {e.reason}; will retry"
                outcome = Outcome([Cond("Ready", "False", "ApiError", message)],
                                  requeue_after=ctx.config.missing_reference_retry_seconds)
                result = "error"
            except Exception as e:
                ctx.metrics.errors.labels(controller.kind, type(e).__name__).inc()
                log.exception("%s: reconcile failed", key)
                outcome = Outcome([Cond("Ready", "False", "ReconcileError", f"{type(e).__name__}: {e}")],
                                  requeue_after=ctx.config.resync_seconds)
                result = "error"
        if result == "ok" and any(c.type == "ReferencesResolved" and not c.ok for c in outcome.conditions):
            result = "waiting"
        ctx.store.set_dependencies(key, outcome.depends_on)
        write_status(controller, key, body, outcome, ctx)
        if outcome.requeue_after is not None and requeue is not None:
            requeue(key, outcome.requeue_after)
        ctx.metrics.reconciles.labels(controller.kind, result).inc()
        ctx.metrics.duration.labels(controller.kind).observe(time.perf_counter() - started)
        return outcome


def desired_status(old: dict[str, Any], outcome: Outcome, generation: int | None) -> dict[str, Any]:
    """Pure: the status after this outcome (the caller compares it with ``old``)."""
    new = dict(old.items())
    for k, v in outcome.fields.items():
        if v is None:
            new.pop(k, None)
        else:
            new[k] = v
    new["conditions"] = merge_conditions(old.get("conditions"), outcome.conditions, generation, rfc3339())
    if generation is not None:
        new["observedGeneration"] = generation
    return new


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal except for the timestamps a fresh merge would invent (they only move on transitions)."""
    def strip(s: dict[str, Any]) -> dict[str, Any]:
        conds = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in s.get("conditions") or []]
        return {**s, "conditions": conds}
    return strip(old) == strip(new)


def write_status(
    controller: KindController, key: ObjKey, body: dict[str, Any], outcome: Outcome, ctx: OperatorContext
) -> bool:
    old = body.get("status") or {}
    generation = body.get("metadata", {}).get("generation")
    new = desired_status(old, outcome, generation)
    if _same(old, new):
        return False
    patch = {"status": {**new, **{k: None for k in old if k not in new}}}
    try:
        written = ctx.clients.custom.patch_namespaced_custom_object_status(
            ctx.group, ctx.version, key.namespace, controller.plural, key.name, patch,
            _content_type="application/merge-patch+json",
        )
    except ApiException as e:
        if e.status != 404:
            raise
        # Gone (e.g. its namespace was deleted: kopf stops a namespace's watch without DELETED events when the
        # namespace goes away), so forget it instead of reconciling a ghost every resync.
        log.info("%s: no longer exists; forgetting it", key)
        ctx.store.delete(key)
        return False
    ctx.metrics.writes.labels(controller.kind, controller.kind, "patch-status").inc()
    # until the watch delivers our own write, later reconciles in this process must see it (no duplicate writes)
    # (with the written resourceVersion, so watch events of earlier versions arriving late cannot replace it)
    meta = dict(body.get("metadata") or {})
    version = (written.get("metadata") or {}).get("resourceVersion") if isinstance(written, dict) else None
    if version is not None:
        meta["resourceVersion"] = version
    ctx.store.put(key, {**body, "metadata": meta, "status": new})
    for c in transitions(old.get("conditions"), outcome.conditions):
        log.info("%s: %s=%s (%s) %s", key, c.type, c.status, c.reason, c.message)
    for etype, reason, message in transition_events(old.get("conditions"), outcome):
        post_event(ctx, controller.kind, body, etype, reason, message=message)
    return True


def post_event(
    ctx: OperatorContext, kind: str, body: dict[str, Any], etype: str, reason: str, *, message: str
) -> None:
    """A core/v1 Event (what ``kubectl describe`` and ``kubectl events`` show) on the object."""
    meta = body["metadata"]
    now = rfc3339()
    event = {
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": f"{ctx.group}/{ctx.version}", "kind": kind, "name": meta["name"],
                           "namespace": meta["namespace"], "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "type": etype, "reason": reason, "message": message[:1024],
        "source": {"component": "herder-operator"}, "reportingComponent": "herder.dev/operator",
        "reportingInstance": socket.gethostname(), "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }
    try:
        ctx.clients.core.create_namespaced_event(meta["namespace"], event)
        ctx.metrics.writes.labels(kind, "Event", "create").inc()
    except ApiException as e:  # an Event is best effort: never fail a reconcile over it
        log.warning("could not post Event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], e.reason)
