"""A ModelDeployment's status from its rollout plan, as one pure function: the plan (herder.policy.deployment),
what the children look like after it was applied, and what this reconcile measured -> the conditions, the status
fields and when to look again.

Each status field has one rule here. Two of them matter most:
- ``lastKnownGoodVersion`` (the rollback target, :func:`last_known_good`): the first version once rolled out; a
  promoted version at promotion without monitoring, or after its monitoring probation (herder.policy.monitoring);
  the version a rollback returned to;
- ``handledRequests`` (:func:`herder.policy.deployment.handled_requests`): a request annotation acts once per
  value.

Conditions: Ready (replicas serving), Progressing (the rollout, with the strategy as reason; Paused when waiting
for a person, which Argo CD shows as Suspended) and Degraded (analysis or monitoring); an alert from monitoring
stays until monitoring passes again.

Status is typed on both sides: the status before (read by the controller through
:func:`herder.api.parsing.salvage`) and the new one are :class:`~herder.api.deployment.ModelDeploymentStatus`,
serialised once, by the controller, with ``wire()``. The new one is a patch: only the fields set are written, a
field set to None is removed (the scaffold merges it into the status it keeps, conditions and observedGeneration
included). Every time in it comes from :func:`herder.policy.timestamps.rfc3339`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from herder.api.common import MetricValue, duration_seconds
from herder.api.deployment import ModelDeploymentSpec, ModelDeploymentStatus, Rollback, TrackStatus
from herder.policy.conditions import Cond
from herder.policy.deployment import Interpreted, Monitored, StableRollback, handled_requests
from herder.policy.rollout import Plan, RolloutState, Step
from herder.policy.timestamps import rfc3339

HEALTHY = Cond("Degraded", "False", "Healthy", "no failed analysis")
ROLLING_REQUEUE = 5.0
"""Seconds until a Deployment that is still rolling is looked at again."""
MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Observed:
    """The children after the plan was applied."""

    stable_replicas: int
    stable_ready: int
    stable_rolled_to: int | None
    """Version the stable Deployment has completely rolled out (None while rolling)."""
    stable_unchanged: bool = True
    """The stable Deployment needed no write in this reconcile."""
    canary_ready: int = 0
    children: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    """Status fields about the children (stable, canary), as the apply step found them (a patch: see the module
    doc)."""


@dataclass(frozen=True)
class StatusUpdate:
    conditions: list[Cond]
    status: ModelDeploymentStatus
    """The status fields to write (a patch: see the module doc)."""
    requeue_after: float | None


def overlay(*parts: ModelDeploymentStatus) -> ModelDeploymentStatus:
    """One patch of the fields set in any of ``parts``, a later part's value over an earlier one's."""
    values: dict[str, Any] = {}
    for part in parts:
        values |= {name: getattr(part, name) for name in part.model_fields_set}
    return ModelDeploymentStatus(**values)


@dataclass(frozen=True)
class Context:
    """The ModelDeployment as this reconcile saw it."""

    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus
    """Status before this reconcile."""
    generation: int | None
    url: str
    target: int
    ok: Cond
    """ReferencesResolved."""
    state: RolloutState
    """Rollout state the plan was decided from (after a stable rollback)."""
    stable_before: int | None = None
    interpreted: Interpreted = field(default_factory=Interpreted)
    monitored: Monitored | None = None
    stable_rollback: StableRollback | None = None
    analysis_metrics: list[MetricValue] | None = None
    steps: list[Step] | None = None
    """The canary steps (None: no Canary strategy)."""
    bluegreen: bool = False
    """A BlueGreen strategy."""


def deployment_status(c: Context, plan: Plan, seen: Observed) -> StatusUpdate:
    """The status after ``plan`` was applied (see the module doc)."""
    if plan.phase == "Initial":
        return initial_status(c, plan, seen)
    status = overlay(rollout_fields(c, plan), seen.children, measured_fields(c, plan))
    return StatusUpdate([c.ok, ready(plan, seen), *rollout_conditions(c, plan, seen)], status, requeue(c, plan, seen))


def initial_status(c: Context, plan: Plan, seen: Observed) -> StatusUpdate:
    """The first deployment: the target on the stable track, Stable once every replica is ready."""
    v, want, n = plan.stable_serves, seen.stable_replicas, seen.stable_ready
    status = overlay(ModelDeploymentStatus(url=c.url, resolved_version=c.target), seen.children)
    rolled = seen.stable_rolled_to == v
    if rolled:
        status = overlay(status, ModelDeploymentStatus(stable_version=v, last_known_good_version=last_known_good(
            c, plan, rolled=True)))
        conds = [c.ok, Cond("Progressing", "False", "Stable", f"serving version {v}"),
                 Cond("Ready", "True", "Serving", f"{n}/{want} replicas serve version {v}")]
    else:
        serving = bool(c.status.stable_version) and n > 0
        conds = [c.ok, Cond("Progressing", "True", "RollingOut", f"{n}/{want} replicas ready for version {v}"),
                 Cond("Ready", "True" if serving else "False", "Serving" if serving else "Progressing",
                      f"rolling out version {v}: {n}/{want} ready")]
    if c.steps is not None:
        conds.append(HEALTHY)
    return StatusUpdate(conds, status, None if rolled else ROLLING_REQUEUE)


def last_known_good(c: Context, plan: Plan, *, rolled: bool = False) -> int | None:
    """lastKnownGoodVersion after this reconcile (the one rule; see the module doc)."""
    lkg = c.status.last_known_good_version
    if plan.phase == "Initial":
        return plan.stable_serves if rolled else lkg
    if c.stable_rollback is not None:
        return c.stable_rollback.to
    if plan.phase == "Promoted" and c.spec.monitoring is None:
        # without monitoring, completing the rollout is all a version can prove; with monitoring the previous good
        # version stays the rollback target until this one passed its probation (policy/monitoring.py)
        return c.target
    if c.monitored is not None and c.monitored.watch is not None:
        return c.monitored.watch.last_known_good
    return lkg


def degraded_generation(status: ModelDeploymentStatus) -> int | None:
    """observedGeneration of the Degraded condition on ``status`` (how abortedGeneration was known before it was
    a field of its own)."""
    return next((x.observed_generation for x in status.conditions or [] if x.type == "Degraded"), None)


def rollout_fields(c: Context, plan: Plan) -> ModelDeploymentStatus:
    """The rollout state, the abort record and the requests handled."""
    s = plan.state
    newly_aborted = plan.rollback is not None or c.stable_rollback is not None
    before = c.status.aborted_generation
    status = ModelDeploymentStatus(
        url=c.url, resolved_version=c.target,
        stable_version=s.stable_version, canary_version=s.canary_version, canary_weight=s.canary_weight,
        current_step=s.current_step,
        step_started_at=None if s.step_started_at is None else rfc3339(s.step_started_at),
        aborted_version=s.aborted_version,
        aborted_generation=None if s.aborted_version is None else c.generation if newly_aborted else
        before if before is not None else degraded_generation(c.status),
        handled_requests=handled_requests(c.interpreted, c.status.handled_requests, plan, c.state),
    )
    if (lkg := last_known_good(c, plan)) is not None:  # never recorded: nothing to write
        status.last_known_good_version = lkg
    if c.stable_rollback is not None:
        rb = c.stable_rollback
        assert c.stable_before is not None
        status.last_rollback = rollback_record(c.stable_before, rb.to, rb.reason, rb.message)
    elif plan.rollback is not None:
        r = plan.rollback
        status.last_rollback = rollback_record(r.from_version, r.to_version, r.reason, r.message)
    return status


def rollback_record(from_version: int, to: int | None, reason: str, message: str) -> Rollback:
    """status.lastRollback (``to`` is written even when None: a rollout aborted before any version was stable)."""
    return Rollback(from_=from_version, to=to, reason=reason, message=message[:MAX_MESSAGE], at=rfc3339())


def track(version: int, replicas: int, ready: int) -> TrackStatus:
    """status.stable / status.canary."""
    return TrackStatus(version=version, replicas=replicas, ready_replicas=ready)


def measured_fields(c: Context, plan: Plan) -> ModelDeploymentStatus:
    """Analysis and monitoring measurements, and the monitoring probation count."""
    status = ModelDeploymentStatus()
    if c.analysis_metrics is not None:
        status.analysis_metrics = c.analysis_metrics
    m = c.monitored
    if m is not None and m.metrics is not None:
        status.monitoring_metrics = m.metrics
    if m is not None and m.watch is not None:
        status.monitoring_passed_intervals = m.watch.passed_intervals
    if c.stable_rollback is not None or (plan.phase == "Promoted" and c.spec.monitoring is not None):
        status.monitoring_passed_intervals = None  # a new probation
    return status


def ready(plan: Plan, seen: Observed) -> Cond:
    n = seen.stable_ready + seen.canary_ready
    return Cond("Ready", "True" if n else "False", "Serving" if n else "Progressing",
                f"{seen.stable_ready} stable (version {plan.stable_serves}) + {seen.canary_ready} {plan.canary_track} "
                f"replica(s) ready" if plan.canary_serves is not None else
                f"{seen.stable_ready}/{seen.stable_replicas} replicas serve version {plan.stable_serves}")


def rollout_conditions(c: Context, plan: Plan, seen: Observed) -> list[Cond]:
    """Progressing and Degraded."""
    monitor = c.monitored.condition if c.monitored is not None else None
    if plan.phase in ("Progressing", "Promoting"):
        kind = "Paused" if plan.paused else "BlueGreenRollout" if c.bluegreen else \
            "CanaryRollout" if c.steps else "RollingOut"
        return [Cond("Progressing", "True", kind, plan.message), HEALTHY]
    if plan.phase == "Aborted":
        if c.stable_rollback is not None:  # with Progressing=False/RolledBack: two Warning Events by the transitions
            rb = c.stable_rollback
            return [Cond("Progressing", "False", "RolledBack", rb.message), Cond("Degraded", "True", rb.reason,
                                                                                rb.message)]
        out = [Cond("Progressing", "False", "Aborted", plan.message)]
        if plan.rollback is not None:  # written once, at the abort
            out.append(Cond("Degraded", "True", plan.rollback.reason, plan.message))
        elif monitor is not None and monitor.status == "True":
            out.append(monitor)
        return out
    rolled = seen.stable_rolled_to == plan.stable_serves and seen.stable_unchanged
    out = [Cond("Progressing", "False" if rolled else "True", "Stable" if rolled else "RollingOut", plan.message)]
    if monitor is not None:
        out.append(monitor)
    elif not (plan.phase == "Stable" and alerted(c.status) and c.spec.monitoring is not None):
        out.append(HEALTHY)  # an alert stays until monitoring passes again
    return out


def alerted(status: ModelDeploymentStatus) -> bool:
    """Degraded=True with reason MonitoringBreach on status."""
    return any(x.type == "Degraded" and x.status == "True" and x.reason == "MonitoringBreach"
               for x in status.conditions or [])


def requeue(c: Context, plan: Plan, seen: Observed) -> float | None:
    """The plan's own, sooner while the stable track rolls, and the next monitoring interval once stable."""
    after = plan.requeue_after
    if after is None and seen.stable_rolled_to != plan.stable_serves:
        after = ROLLING_REQUEUE
    if c.spec.monitoring is not None and plan.phase in ("Stable", "Aborted", "Promoted"):
        due = c.monitored.requeue if c.monitored is not None else None
        nxt = due if due is not None else duration_seconds(c.spec.monitoring.interval)
        after = nxt if after is None else min(after, nxt)
    return after
