"""The retraining policy as one pure function: (spec.retraining, status.retraining, now, annotations, metric
verdicts) -> start a retrain, wait, refuse, await approval, or nothing -- with the bookkeeping to write back.

Why each rule is what it is:

- A request is remembered by identity, never by "it happened recently": the herder.dev/retrain annotation's
  value (a new value is a new request), the schedule's latest occurrence, a metric check's breach. Status keeps
  what was handled, so a restarted operator decides exactly what the previous one would have.
- One-off requests (the annotation, a schedule occurrence) blocked by a guardrail are *refused*, said so on the
  history with the time the guardrail frees: a click or a cron tick must not fire hours later, when nobody expects
  it. A metric breach is a state, not an event: blocked, it *waits*, and starts when the guardrail frees if the
  breach is still there.
- Guardrails, in this order: one retrain in flight; cooldown since the last start; at most maxPerDay starts in any
  24 hours. They are checked before approval is asked for (no point asking a person for something that cannot
  run), and nothing else starts while a retrain awaits approval.
- requireApproval applies to every trigger, the annotation included (four eyes: whoever asks is not necessarily
  who approves). Only an approve-retrain value set *after* the retrain began to wait approves it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from herder.api.common import duration_seconds
from herder.api.model import Retraining
from herder.policy.schedule import latest_at_or_before, next_after
from herder.policy.timestamps import rfc3339

Trigger = Literal["Manual", "Schedule", "Metric", "Data"]
Action = Literal["Start", "Wait", "Refuse", "AwaitApproval", "Idle"]

DAY = dt.timedelta(hours=24)
MAX_REMEMBERED = 256

METRIC_REASONS = {"FeatureDriftPSI": "DriftDetected", "FeatureDriftJensenShannon": "DriftDetected",
                  "PredictionDriftPSI": "PredictionDriftDetected", "Accuracy": "AccuracyDropped",
                  "MeanAbsoluteError": "ErrorIncreased"}
"""History reason of a retrain started by a breach of each builtin metric (others: MetricBreached)."""


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.UTC)


def remembered(value: str) -> str:
    """An annotation value as kept on status: itself, or its digest when too long for the status field."""
    if len(value) <= MAX_REMEMBERED:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


MAX_TRAINING_JOB_NAME = 52
"""TrainingJob names are at most 52 characters (the API's rule: they name the Job and its pods)."""


def retrain_name(model: str, n: int) -> str:
    """The n-th retrain's TrainingJob: predictable, so a restarted operator finds it instead of making another.
    A model name too long for the TrainingJob name limit is cut and followed by a short digest of the whole name,
    so two long names with the same beginning do not share TrainingJob names."""
    suffix = f"-retrain-{n}"
    if len(model) + len(suffix) <= MAX_TRAINING_JOB_NAME:
        return model + suffix
    digest = hashlib.sha256(model.encode()).hexdigest()[:6]
    return f"{model[: MAX_TRAINING_JOB_NAME - len(suffix) - 7].rstrip('-.')}-{digest}{suffix}"


@dataclass(frozen=True)
class Request:
    """Something that asks for a retrain."""

    trigger: Trigger
    reason: str
    """CamelCase: ManualRequest, Scheduled, DriftDetected, AccuracyDropped, ..."""
    message: str
    metrics: Mapping[str, str] = field(default_factory=dict)
    """The numbers behind it (metric check name -> value)."""


@dataclass(frozen=True)
class Breach:
    """The latest verdict of one metric trigger (spec.retraining.triggers.metrics)."""

    name: str
    metric: str
    """The builtin metric (or "Prometheus"), which names the reason."""
    breached: bool
    """The check reached its failureLimit of consecutive failures (an inconclusive measurement never breaches)."""
    message: str
    value: str | None = None


@dataclass(frozen=True)
class Book:
    """The guardrail bookkeeping kept on status.retraining (see RetrainingStatus for each field's meaning)."""

    last_triggered_at: dt.datetime | None = None
    in_flight: str | None = None
    recent: tuple[dt.datetime, ...] = ()
    started: int = 0
    pending: Request | None = None
    pending_since: dt.datetime | None = None
    last_request: str | None = None
    last_approval: str | None = None
    last_scheduled: dt.datetime | None = None
    last_data_revision: int | None = None

    @classmethod
    def from_wire(cls, st: Mapping[str, Any] | None) -> Book:
        st = st or {}

        def t(k: str) -> dt.datetime | None:
            return parse_time(st[k]) if st.get(k) else None

        pending = None
        if st.get("pendingApproval"):
            reason = str(st["pendingApproval"])
            trigger: Trigger = "Manual" if reason == "ManualRequest" else (
                "Schedule" if reason == "Scheduled" else "Data" if reason == "NewData" else "Metric")
            pending = Request(trigger, reason, str(st.get("pendingMessage") or reason))
        return cls(last_triggered_at=t("lastTriggeredAt"), in_flight=st.get("inFlight") or None,
                   recent=tuple(sorted(parse_time(x) for x in st.get("recent") or [])),
                   started=int(st.get("started") or 0), pending=pending, pending_since=t("pendingSince"),
                   last_request=st.get("lastRequest"), last_approval=st.get("lastApproval"),
                   last_scheduled=t("lastScheduled"),
                   last_data_revision=int(st["lastDataRevision"]) if st.get("lastDataRevision") else None)

    def wire(self) -> dict[str, Any] | None:
        out: dict[str, Any] = {
            "lastTriggeredAt": rfc3339(self.last_triggered_at) if self.last_triggered_at else None,
            "inFlight": self.in_flight, "recent": [rfc3339(x) for x in self.recent] or None,
            "started": self.started or None,
            "pendingApproval": self.pending.reason if self.pending else None,
            "pendingSince": rfc3339(self.pending_since) if self.pending and self.pending_since else None,
            "pendingMessage": self.pending.message[:4000] if self.pending else None,
            "lastRequest": self.last_request, "lastApproval": self.last_approval,
            "lastScheduled": rfc3339(self.last_scheduled) if self.last_scheduled else None,
            "lastDataRevision": self.last_data_revision,
        }
        return {k: v for k, v in out.items() if v is not None} or None


@dataclass(frozen=True)
class Decision:
    action: Action
    """Start (create the TrainingJob ``book.in_flight``), Wait (a breach waits for a guardrail or a pending
    retrain for approval), Refuse (a one-off request blocked by a guardrail), AwaitApproval (a retrain began to
    wait for approval), Idle (nothing asked for a retrain, or one is in flight)."""
    reason: str
    """CamelCase: the trigger's reason for Start/AwaitApproval, the guardrail's for Wait/Refuse."""
    message: str
    """For humans, with the numbers and, for a guardrail, when it frees."""
    book: Book
    """Bookkeeping after this decision (for Start: already counting the new retrain)."""
    request: Request | None = None
    frees_at: dt.datetime | None = None
    """When the blocking guardrail frees (None: when the in-flight retrain finishes, or not blocked)."""

    @property
    def recorded(self) -> bool:
        """Whether this decision is a step of the loop worth a history entry and an Event."""
        return self.action in ("Start", "Refuse", "AwaitApproval")


def blocked_by(policy: Retraining, book: Book, now: dt.datetime) -> tuple[str, str, dt.datetime | None] | None:
    """The first guardrail that blocks a start now: (reason, message naming it and when it frees, frees_at)."""
    if book.in_flight:
        return ("RetrainInFlight", f"one retrain at a time: TrainingJob {book.in_flight} is still running; "
                "frees when it finishes", None)
    cooldown = dt.timedelta(seconds=duration_seconds(policy.cooldown))
    if book.last_triggered_at is not None and now < book.last_triggered_at + cooldown:
        frees = book.last_triggered_at + cooldown
        return ("CooldownActive", f"cooldown {policy.cooldown} since the last retrain at "
                f"{rfc3339(book.last_triggered_at)}; frees at {rfc3339(frees)}", frees)
    recent = [t for t in book.recent if t > now - DAY]
    if len(recent) >= policy.max_per_day:
        frees = recent[len(recent) - policy.max_per_day] + DAY
        return ("MaxPerDayReached", f"maxPerDay {policy.max_per_day}: {len(recent)} retrain(s) started in the last "
                f"24h; frees at {rfc3339(frees)}", frees)
    return None


@dataclass(frozen=True)
class DataDrift:
    """The retraining Dataset's current revision measured against the revision production was trained on."""

    against: int | None
    """Production's revision (None: no production version, or it has no revision)."""
    value: Decimal | None
    """The largest column PSI (None: not measured, e.g. that revision's profile is no longer kept)."""


def _data_request(policy: Retraining, book: Book, revision: int | None,
                  drift: DataDrift | None) -> tuple[Request | None, Book, str | None]:
    """A new current revision of the retraining Dataset, when the newData trigger is on. The first revision seen
    is the baseline (turning the trigger on does not retrain at once); the book moves on only when a retrain
    starts, so new data that waits for a guardrail is not forgotten. With newDataMinDrift, a new revision whose
    measured drift stays below it is no request (the third value says so for the idle message); one whose drift
    is unknown is (retraining on data nobody compared is the safe side)."""
    if not policy.triggers.new_data or revision is None:
        return None, book, None
    if book.last_data_revision is None:
        return None, replace(book, last_data_revision=revision), None
    if revision <= book.last_data_revision:
        return None, book, None
    said = f"Dataset revision {revision} is new (the last retrain took revision {book.last_data_revision})"
    least = policy.triggers.new_data_min_drift
    if least is not None and drift is not None and drift.value is not None:
        against = f"PSI {drift.value} against revision {drift.against} (production's)"
        if drift.value < Decimal(least):
            return None, book, f"{said} but its drift, {against}, is below newDataMinDrift {least}"
        said += f"; its drift, {against}, reaches newDataMinDrift {least}"
    elif least is not None:
        said += f"; its drift against production's revision is unknown, so newDataMinDrift {least} cannot hold it"
    return Request("Data", "NewData", said), book, None


def decide(policy: Retraining, book: Book, now: dt.datetime, *, model: str, retrain_annotation: str | None = None,
           approve_annotation: str | None = None, breaches: Sequence[Breach] = (),
           data_revision: int | None = None, data_drift: DataDrift | None = None) -> Decision:
    """The one retraining decision for this reconcile (see the module doc for the rules). ``data_revision`` is
    the retraining Dataset's current revision: a retrain started by any trigger trains on it, so it is what the
    next new-data check compares with."""
    decision = _decide(policy, book, now, model=model, retrain_annotation=retrain_annotation,
                       approve_annotation=approve_annotation, breaches=breaches, data_revision=data_revision,
                       data_drift=data_drift)
    if decision.action == "Start" and data_revision is not None:
        return replace(decision, book=replace(decision.book, last_data_revision=data_revision))
    return decision


def _decide(policy: Retraining, book: Book, now: dt.datetime, *, model: str, retrain_annotation: str | None,
            approve_annotation: str | None, breaches: Sequence[Breach], data_revision: int | None,
            data_drift: DataDrift | None) -> Decision:
    book = replace(book, recent=tuple(t for t in book.recent if t > now - DAY))
    data, book, held = _data_request(policy, book, data_revision, data_drift)
    triggers = policy.triggers
    manual: Request | None = None
    refused_manual: str | None = None
    if retrain_annotation is not None and remembered(retrain_annotation) != book.last_request:
        book = replace(book, last_request=remembered(retrain_annotation))
        if triggers.manual:
            manual = Request("Manual", "ManualRequest", f"herder.dev/retrain={retrain_annotation!r}")
        else:
            refused_manual = (f"herder.dev/retrain={retrain_annotation!r} ignored: "
                              "spec.retraining.triggers.manual is false")
    scheduled: Request | None = None
    if triggers.schedule:
        slot = latest_at_or_before(triggers.schedule, now)
        if book.last_scheduled is None:  # first look: the schedule starts counting now, it does not fire at once
            book = replace(book, last_scheduled=slot)
        elif slot > book.last_scheduled:
            book = replace(book, last_scheduled=slot)
            scheduled = Request("Schedule", "Scheduled", f"schedule {triggers.schedule!r} occurred at {rfc3339(slot)}")
    breached = [b for b in breaches if b.breached]
    metric: Request | None = None
    if breached:
        reason = METRIC_REASONS.get(breached[0].metric, "MetricBreached")
        metric = Request("Metric", reason, "; ".join(f"{b.name}: {b.message}" for b in breached),
                         {b.name: b.value for b in breached if b.value is not None})

    if refused_manual is not None:
        return Decision("Refuse", "ManualTriggerDisabled", refused_manual, book)

    if book.pending is not None and not policy.require_approval:
        # requireApproval was turned off while a retrain waited: it needs no approval any more
        pending, book = book.pending, replace(book, pending=None, pending_since=None)
        manual = manual or (pending if pending.trigger == "Manual" else None)
        scheduled = scheduled or (pending if pending.trigger == "Schedule" else None)
        metric = metric or (pending if pending.trigger == "Metric" else None)
        data = data or (pending if pending.trigger == "Data" else None)

    if book.pending is not None:
        pending = book.pending
        since = rfc3339(book.pending_since) if book.pending_since else "earlier"
        if approve_annotation is not None and remembered(approve_annotation) != book.last_approval:
            book = replace(book, last_approval=remembered(approve_annotation), pending=None, pending_since=None)
            approved = replace(pending, message=f"{pending.message}; approved by "
                                                f"herder.dev/approve-retrain={approve_annotation!r}")
            if (block := blocked_by(policy, book, now)) is not None:  # cannot happen in practice; say so if it does
                return Decision("Refuse", block[0], f"approved retrain ({pending.reason}) refused: {block[1]}",
                                book, pending, block[2])
            return _start(book, now, model, approved)
        one_off = manual or scheduled
        if one_off is not None:
            return Decision("Refuse", "RetrainPendingApproval",
                            f"{one_off.message} refused: a retrain ({pending.reason}) is already awaiting approval "
                            f"since {since}", book, one_off)
        return Decision("Wait", "AwaitingApproval",
                        f"retrain ({pending.reason}: {pending.message}) awaits the herder.dev/approve-retrain "
                        f"annotation since {since}", book, pending)

    request = manual or scheduled or metric or data
    if request is None:
        return Decision("Idle", "Idle", idle_message(policy, book, now) + (f"; {held}" if held else ""), book)
    if (block := blocked_by(policy, book, now)) is not None:
        reason, why, frees = block
        if request.trigger in ("Metric", "Data"):  # still true after the guardrail frees: it waits
            return Decision("Wait", reason, f"{request.reason} ({request.message}) waits: {why}", book, request, frees)
        retry = " (set a new herder.dev/retrain value then)" if request.trigger == "Manual" else ""
        return Decision("Refuse", reason, f"{request.message} refused: {why}{retry}", book, request, frees)
    if policy.require_approval:
        book = replace(book, pending=request, pending_since=now,
                       last_approval=remembered(approve_annotation) if approve_annotation is not None else None)
        return Decision("AwaitApproval", request.reason, f"{request.message}; awaiting the herder.dev/approve-retrain "
                        "annotation (spec.retraining.requireApproval)", book, request)
    return _start(book, now, model, request)


def _start(book: Book, now: dt.datetime, model: str, request: Request) -> Decision:
    n = book.started + 1
    name = retrain_name(model, n)
    book = replace(book, started=n, in_flight=name, last_triggered_at=now, recent=(*book.recent, now),
                   pending=None, pending_since=None)
    return Decision("Start", request.reason, f"{request.message}; starting TrainingJob {name}", book, request)


def idle_message(policy: Retraining, book: Book, now: dt.datetime) -> str:
    if book.in_flight:
        return f"TrainingJob {book.in_flight} is retraining"
    parts = []
    if policy.triggers.manual:
        parts.append("the herder.dev/retrain annotation")
    if policy.triggers.schedule:
        parts.append(f"the schedule (next at {rfc3339(next_after(policy.triggers.schedule, now))})")
    if policy.triggers.metrics:
        parts.append("metric checks " + ", ".join(c.name for c in policy.triggers.metrics))
    if policy.triggers.new_data:
        seen = f" (after revision {book.last_data_revision})" if book.last_data_revision else ""
        parts.append(f"a new Dataset revision{seen}")
    return "no retrain requested; triggers: " + (", ".join(parts) if parts else "none")


def finished(book: Book, job: str) -> Book:
    """The bookkeeping once TrainingJob ``job`` (the one in flight) succeeded or failed."""
    return replace(book, in_flight=None) if book.in_flight == job else book
