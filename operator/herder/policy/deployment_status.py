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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from herder.api.common import duration_seconds
from herder.api.deployment import ModelDeploymentSpec, Rollback, TrackStatus
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
    children: dict[str, Any] = field(default_factory=dict)
    """Status fields about the children (stable, canary), as the apply step found them."""


@dataclass(frozen=True)
class StatusUpdate:
    conditions: list[Cond]
    fields: dict[str, Any]
    requeue_after: float | None


@dataclass(frozen=True)
class Context:
    """The ModelDeployment as this reconcile saw it."""

    spec: ModelDeploymentSpec
    status: Mapping[str, Any]
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
    analysis_metrics: list[dict[str, Any]] | None = None
    steps: list[Step] | None = None
    """The canary steps (None: no Canary strategy)."""
    bluegreen: bool = False
    """A BlueGreen strategy."""


def deployment_status(c: Context, plan: Plan, seen: Observed) -> StatusUpdate:
    """The status after ``plan`` was applied (see the module doc)."""
    if plan.phase == "Initial":
        return initial_status(c, plan, seen)
    fields = {**rollout_fields(c, plan), **seen.children, **measured_fields(c, plan)}
    return StatusUpdate([c.ok, ready(plan, seen), *rollout_conditions(c, plan, seen)], fields, requeue(c, plan, seen))


def initial_status(c: Context, plan: Plan, seen: Observed) -> StatusUpdate:
    """The first deployment: the target on the stable track, Stable once every replica is ready."""
    v, want, n = plan.stable_serves, seen.stable_replicas, seen.stable_ready
    fields: dict[str, Any] = {"url": c.url, "resolvedVersion": c.target, **seen.children}
    rolled = seen.stable_rolled_to == v
    if rolled:
        fields.update(stableVersion=v, lastKnownGoodVersion=last_known_good(c, plan, rolled=True))
        conds = [c.ok, Cond("Progressing", "False", "Stable", f"serving version {v}"),
                 Cond("Ready", "True", "Serving", f"{n}/{want} replicas serve version {v}")]
    else:
        serving = bool(c.status.get("stableVersion")) and n > 0
        conds = [c.ok, Cond("Progressing", "True", "RollingOut", f"{n}/{want} replicas ready for version {v}"),
                 Cond("Ready", "True" if serving else "False", "Serving" if serving else "Progressing",
                      f"rolling out version {v}: {n}/{want} ready")]
    if c.steps is not None:
        conds.append(HEALTHY)
    return StatusUpdate(conds, fields, None if rolled else ROLLING_REQUEUE)


def last_known_good(c: Context, plan: Plan, *, rolled: bool = False) -> int | None:
    """lastKnownGoodVersion after this reconcile (the one rule; see the module doc)."""
    lkg: int | None = c.status.get("lastKnownGoodVersion")
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


def rollout_fields(c: Context, plan: Plan) -> dict[str, Any]:
    """The rollout state, the abort record and the requests handled."""
    s = plan.state
    newly_aborted = plan.rollback is not None or c.stable_rollback is not None
    degraded_generation = next((x.get("observedGeneration") for x in c.status.get("conditions") or []
                                if x.get("type") == "Degraded"), None)
    fields: dict[str, Any] = {
        "url": c.url, "resolvedVersion": c.target,
        "stableVersion": s.stable_version, "canaryVersion": s.canary_version, "canaryWeight": s.canary_weight,
        "currentStep": s.current_step,
        "stepStartedAt": None if s.step_started_at is None else rfc3339(s.step_started_at),
        "abortedVersion": s.aborted_version,
        "abortedGeneration": None if s.aborted_version is None else c.generation if newly_aborted else
        c.status.get("abortedGeneration", degraded_generation),
        "handledRequests": handled_requests(c.interpreted, c.status.get("handledRequests") or {}, plan, c.state),
        "lastKnownGoodVersion": last_known_good(c, plan),
    }
    if c.stable_rollback is not None:
        rb = c.stable_rollback
        assert c.stable_before is not None
        fields["lastRollback"] = rollback_record(c.stable_before, rb.to, rb.reason, rb.message)
    elif plan.rollback is not None:
        r = plan.rollback
        fields["lastRollback"] = rollback_record(r.from_version, r.to_version, r.reason, r.message)
    if fields["lastKnownGoodVersion"] is None:
        del fields["lastKnownGoodVersion"]  # never recorded: nothing to write
    return fields


def rollback_record(from_version: int, to: int | None, reason: str, message: str) -> dict[str, Any]:
    """status.lastRollback, through the API's typed model (``to`` is written even when None: a rollout aborted
    before any version was stable)."""
    return Rollback(from_=from_version, to=to, reason=reason, message=message[:MAX_MESSAGE], at=rfc3339()).wire()


def track(version: int, replicas: int, ready: int) -> dict[str, Any]:
    """status.stable / status.canary, through the API's typed model."""
    return TrackStatus(version=version, replicas=replicas, ready_replicas=ready).wire()


def measured_fields(c: Context, plan: Plan) -> dict[str, Any]:
    """Analysis and monitoring measurements, and the monitoring probation count."""
    fields: dict[str, Any] = {}
    if c.analysis_metrics is not None:
        fields["analysisMetrics"] = c.analysis_metrics
    m = c.monitored
    if m is not None and m.metrics is not None:
        fields["monitoringMetrics"] = m.metrics
    if m is not None and m.watch is not None:
        fields["monitoringPassedIntervals"] = m.watch.passed_intervals
    if c.stable_rollback is not None or (plan.phase == "Promoted" and c.spec.monitoring is not None):
        fields["monitoringPassedIntervals"] = None  # a new probation
    return fields


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


def alerted(status: Mapping[str, Any]) -> bool:
    """Degraded=True with reason MonitoringBreach on status."""
    return any(x.get("type") == "Degraded" and x.get("status") == "True" and x.get("reason") == "MonitoringBreach"
               for x in status.get("conditions") or [])


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
