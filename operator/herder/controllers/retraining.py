"""The training half of the closed loop, as part of the Model's reconcile: read the triggers, ask the pure policy
(policy/retraining.py) what to do, create the retrain's TrainingJob, and record every step on the Model's history,
its ``Retraining`` condition and as an Event.

Restart safety: the TrainingJob is created *before* the status that counts it is written, under a name that status
determines (``<model>-retrain-<started + 1>``). A restarted operator that lost the status write decides the same
start again, finds the TrainingJob by that name (AlreadyExists, owned by this Model) and adopts it -- never a
second TrainingJob, so never a second version. The TrainingJob then goes through the usual path: a ModelVersion,
the gate against production, and the production alias (recorded by the registry half of the Model's reconcile).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes.client.rest import ApiException

from herder.api.model import ModelSpec, Retraining
from herder.controllers import lookups
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.modelversion import versions_of
from herder.policy.conditions import Cond
from herder.policy.retraining import Book, Breach, DataDrift, Decision, blocked_by, decide, finished, idle_message
from herder.policy.timestamps import rfc3339
from herder.resources.common import Owner, labels

log = logging.getLogger("herder.operator")

TRIGGER_ANNOTATION = "herder.dev/retrain-trigger"
"""On a retrain's TrainingJob: the trigger reason that started it (ManualRequest, Scheduled, DriftDetected...)."""


@dataclass
class RetrainOutcome:
    """The retraining part of a Model's status, and what the Model's reconcile should add to its own outcome."""

    status: dict[str, Any] | None
    conditions: list[Cond]
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    depends_on: set[ObjKey] = field(default_factory=set)
    requeue_after: float | None = None


def retraining_dataset(policy: Retraining, spec: ModelSpec) -> tuple[str, str]:
    """(Dataset name, the field that names it) a retrain trains on."""
    if policy.data is not None and policy.data.dataset_ref is not None:
        return policy.data.dataset_ref.name, "spec.retraining.data.datasetRef"
    assert spec.training is not None  # the API requires a template with retraining
    return spec.training.dataset_ref.name, "spec.training.datasetRef"


def build_training_job(spec: ModelSpec, model_body: dict[str, Any], name: str, decision: Decision,
                       group_version: str) -> dict[str, Any]:
    """Pure: the retrain's TrainingJob -- the Model's template, the retraining data, owned by the Model."""
    assert spec.training is not None
    assert spec.retraining is not None
    owner = Owner.from_body("Model", model_body)
    body_spec = spec.training.wire()
    if spec.retraining.data is not None and spec.retraining.data.dataset_ref is not None:
        # a different Dataset than the template's: its current content, whatever the template pinned
        body_spec["datasetRef"] = {"name": spec.retraining.data.dataset_ref.name}
    body_spec["modelRef"] = {"name": owner.name}
    reason = decision.request.reason if decision.request else decision.reason
    return {
        "apiVersion": group_version, "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": owner.namespace,
                     "labels": labels(owner, "retraining"),
                     "annotations": {TRIGGER_ANNOTATION: reason},
                     "ownerReferences": [owner.reference()]},
        "spec": body_spec,
    }


def ensure_training_job(ctx: OperatorContext, desired: dict[str, Any], model_uid: str) -> str:
    """Create the TrainingJob unless it exists; "created", "adopted" (ours already), or raise when the name is
    taken by something this Model does not own."""
    ns, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    try:
        ctx.clients.custom.create_namespaced_custom_object(ctx.group, ctx.version, ns, "trainingjobs", desired)
    except ApiException as e:
        if e.status != 409:
            raise
        live = ctx.clients.custom.get_namespaced_custom_object(ctx.group, ctx.version, ns, "trainingjobs", name)
        owners = {r.get("uid") for r in live.get("metadata", {}).get("ownerReferences") or []}
        if model_uid not in owners:
            raise NameTaken(f"TrainingJob {name!r} already exists and is not owned by this Model; delete or rename "
                            "it so the retrain can use its name") from None
        return "adopted"
    ctx.metrics.writes.labels("Model", "TrainingJob", "create").inc()
    return "created"


class NameTaken(RuntimeError):
    pass


def read_training_job(ctx: OperatorContext, ns: str, name: str) -> dict[str, Any] | None:
    """From the watch-fed store, else from the API (a TrainingJob created a moment ago may not be in the store)."""
    body = ctx.store.get(ObjKey("TrainingJob", ns, name))
    if body is not None:
        return body
    try:
        return dict(ctx.clients.custom.get_namespaced_custom_object(ctx.group, ctx.version, ns, "trainingjobs", name))
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def merge_patchable(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """``new`` with an explicit None for every key of ``old`` it drops: status is written as a JSON merge patch,
    where a nested key that is merely absent is kept (an inFlight that finished would never clear)."""
    if not old or new is None:
        return new
    return {**{k: None for k in old if k not in new}, **new}


def data_drift(ctx: OperatorContext, body: dict[str, Any], dataset: dict[str, Any]) -> DataDrift | None:
    """The retraining Dataset's current revision against the revision the production version was trained on
    (read from the revision's drift on the Dataset's status); None without a production version."""
    meta = body["metadata"]
    prod = ((body.get("status") or {}).get("aliases") or {}).get("production")
    mv = versions_of(ctx, meta["namespace"], meta["name"]).get(prod) if prod else None
    lineage = (((mv or {}).get("spec") or {}).get("lineage") or {}).get("dataset") or {}
    if mv is None or lineage.get("name") != dataset["metadata"]["name"]:
        return None
    against = lineage.get("revision") if isinstance(lineage.get("revision"), int) else None
    st = dataset.get("status") or {}
    number = st.get("currentRevision")
    latest: dict[str, Any] = next((r for r in st.get("revisions") or [] if r.get("number") == number), {})
    if against == number:
        return DataDrift(against, Decimal(0))
    measured: dict[str, Any] = next((d for d in latest.get("drift") or [] if d.get("againstRevision") == against), {})
    return DataDrift(against, Decimal(measured["value"]) if "value" in measured else None)


def reconcile_retraining(spec: ModelSpec, body: dict[str, Any], ctx: OperatorContext, now: dt.datetime,
                         breaches: list[Breach] | None = None) -> RetrainOutcome:
    meta = body["metadata"]
    ns, name = meta["namespace"], meta["name"]
    status = body.get("status") or {}
    at = rfc3339(now)
    policy = spec.retraining
    if policy is None:
        had = any(c.get("type") == "Retraining" for c in status.get("conditions") or [])
        conds = [Cond("Retraining", "False", "NotConfigured", "spec.retraining is not set")] if had else []
        return RetrainOutcome(None, conds)
    book = Book.from_wire(status.get("retraining"))
    out = RetrainOutcome(None, [])

    # 1. the retrain in flight: finished?
    if (running := book.in_flight) is not None:
        out.depends_on.add(ObjKey("TrainingJob", ns, running))
        tj = read_training_job(ctx, ns, running)
        if tj is None:
            out.history.append({"at": at, "action": "RetrainFailed", "reason": "TrainingJobDeleted",
                                "trainingJob": running,
                                "message": f"TrainingJob {running} was deleted before it finished"})
            out.events.append(("Warning", "RetrainFailed", f"TrainingJob {running} was deleted"))
            book = finished(book, running)
        elif lookups.is_true(tj, "Succeeded"):
            book = finished(book, running)
        elif lookups.is_true(tj, "Failed"):
            c = lookups.condition(tj, "Failed") or {}
            reason = str(c.get("reason") or "TrainingFailed")
            message = f"TrainingJob {running} failed: {c.get('message') or reason}"
            out.history.append({"at": at, "action": "RetrainFailed", "reason": reason,
                                "trainingJob": running, "message": message[:4000]})
            out.events.append(("Warning", "RetrainFailed", message))
            book = finished(book, running)

    # 2. what a retrain would train on must exist (and be something we can build)
    if policy.data is not None and policy.data.payload_log is not None:
        msg = ("spec.retraining.data.payloadLog: building the retraining Dataset from the payload log is not "
               "implemented yet; set spec.retraining.data.datasetRef, or omit data to retrain on the training "
               "template's Dataset")
        out.status = book.wire()
        out.conditions.append(_running(book) or Cond("Retraining", "False", "PayloadLogNotSupported", msg))
        return out
    ds_name, ds_field = retraining_dataset(policy, spec)
    out.depends_on.add(ObjKey("Dataset", ns, ds_name))
    if (dataset := lookups.get(ctx, "Dataset", ns, ds_name)) is None:
        missing = lookups.missing("Dataset", ds_name, ns, ds_field)
        out.status = book.wire()
        out.conditions += [missing, _running(book) or Cond(
            "Retraining", "False", "DatasetNotFound",
            f"no retrain can start: {missing.message}; requests wait until it exists")]
        out.requeue_after = ctx.config.missing_reference_retry_seconds
        return out
    out.conditions.append(lookups.resolved())

    # 3. the decision
    annotations = meta.get("annotations") or {}
    decision = decide(policy, book, now, model=name, retrain_annotation=annotations.get("herder.dev/retrain"),
                      approve_annotation=annotations.get("herder.dev/approve-retrain"), breaches=breaches or [],
                      data_revision=(dataset.get("status") or {}).get("currentRevision"),
                      data_drift=data_drift(ctx, body, dataset) if policy.triggers.new_data_min_drift else None)
    request = decision.request
    if decision.action == "Start":
        job = decision.book.in_flight
        assert job is not None
        desired = build_training_job(spec, body, job, decision, f"{ctx.group}/{ctx.version}")
        try:
            how = ensure_training_job(ctx, desired, meta["uid"])
        except NameTaken as e:
            out.status = book.wire()
            out.conditions.append(Cond("Retraining", "False", "NameTaken", str(e)))
            return out
        log.info("Model %s/%s: retrain %s (%s): TrainingJob %s %s", ns, name, decision.reason, decision.message,
                 job, how)
        out.depends_on.add(ObjKey("TrainingJob", ns, job))
        out.history.append({"at": at, "action": "RetrainTriggered", "reason": decision.reason,
                            "message": decision.message[:4000], "trainingJob": job,
                            **({"metrics": dict(request.metrics)} if request and request.metrics else {})})
        out.events.append(("Normal", "RetrainTriggered", decision.message))
    elif decision.action == "Refuse":
        out.history.append({"at": at, "action": "RetrainSkipped", "reason": decision.reason,
                            "message": decision.message[:4000],
                            **({"metrics": dict(request.metrics)} if request and request.metrics else {})})
        out.events.append(("Warning", "RetrainSkipped", decision.message))
    elif decision.action == "AwaitApproval":
        out.history.append({"at": at, "action": "RetrainPending", "reason": decision.reason,
                            "message": decision.message[:4000],
                            **({"metrics": dict(request.metrics)} if request and request.metrics else {})})
        out.events.append(("Normal", "RetrainAwaitingApproval", decision.message))
    book = decision.book
    out.status = book.wire()
    out.conditions.append(_condition(policy, book, decision, now))
    if decision.frees_at is not None and decision.action == "Wait":
        out.requeue_after = max(1.0, (decision.frees_at - now).total_seconds() + 1)
    return out


def _running(book: Book) -> Cond | None:
    if not book.in_flight:
        return None
    since = f" since {rfc3339(book.last_triggered_at)}" if book.last_triggered_at else ""
    return Cond("Retraining", "True", "Training", f"TrainingJob {book.in_flight} is retraining{since}")


def _condition(policy: Retraining, book: Book, decision: Decision, now: dt.datetime) -> Cond:
    """``Retraining``: True while a retrain runs; otherwise False with the reason nothing runs. Reasons that need
    no one's attention are "Waiting" (no Event); a waiting breach or approval names its guardrail."""
    if (running := _running(book)) is not None:
        return running
    if book.pending is not None:
        return Cond("Retraining", "False", "AwaitingApproval", decision.message if decision.action in (
            "Wait", "AwaitApproval") else f"retrain ({book.pending.reason}) awaits the herder.dev/approve-retrain "
            "annotation")
    if decision.action == "Wait":
        return Cond("Retraining", "False", decision.reason, decision.message)
    block = blocked_by(policy, book, now)
    idle = idle_message(policy, book, now)
    if block is not None:
        return Cond("Retraining", "False", "Waiting", f"{idle}; a retrain now would be refused: {block[1]}")
    return Cond("Retraining", "False", "Waiting", idle)
