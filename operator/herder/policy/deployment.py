"""A ModelDeployment's decisions as pure functions: what the request annotations ask for (herder.dev/promote,
retry, rollback; herder.api.annotations), what monitoring's verdict on the stable version means for it, and the
one rollout decision that turns all inputs into a :class:`~herder.policy.rollout.Plan` -- the canary or in-place
machine (herder.policy.rollout) or the blue/green one (herder.policy.bluegreen).

Why requests are interpreted apart from the machines: a request acts once per new annotation value (the value
handled is remembered on status.handledRequests, so also across operator restarts), and whether it acts depends
on the rollout state -- a promote waits for the named version's rollout, a rollback outside a rollout returns the
stable track to the last known-good version. The machines only see the result: retry / promote / abort.

Why the first deployment has no path of its own: with no stable version the machines answer their ``Initial``
phase (the target goes straight to the stable track), which the controller applies like any other plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from herder.api.annotations import PROMOTE, RETRY, ROLLBACK
from herder.api.common import MetricValue
from herder.api.deployment import HANDLED_VALUE_MAX, HandledRequests
from herder.policy.analysis import IntervalResult
from herder.policy.bluegreen import BlueGreenSettings, decide_bluegreen
from herder.policy.conditions import Cond
from herder.policy.monitoring import Watch
from herder.policy.rollout import Analysis, Plan, RolloutState, Step, decide
from herder.resources.serving import split_replicas
from herder.resources.traffic import gateway_replicas

Event = tuple[str, str, str]


@dataclass(frozen=True)
class Requests:
    """Request annotations with a value not handled yet (None: no new request)."""

    promote: str | None = None
    retry: str | None = None
    rollback: str | None = None


def recorded(value: str) -> str:
    """How a request annotation's value is recorded on status.handledRequests: as it is, or -- longer than the
    field may be (an annotation value can be far longer) -- as its sha256, so it is still recognised next time."""
    if len(value) <= HANDLED_VALUE_MAX:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def handled_dict(handled: HandledRequests | None) -> dict[str, str]:
    """The requests recorded on ``handled``, by name (promote, retry, rollback)."""
    if handled is None:
        return {}
    return {name: value for name in ("promote", "retry", "rollback") if (value := getattr(handled, name))}


def pending_requests(meta: Mapping[str, Any], handled: HandledRequests | None) -> Requests:
    """The request annotations whose value differs from the one recorded in status.handledRequests: a new value is
    a new request (herder.api.annotations), so each acts once, also across operator restarts."""
    annotations = meta.get("annotations") or {}
    done = handled_dict(handled)

    def new(name: str, key: str) -> str | None:
        value = annotations.get(key)
        return value if value and recorded(value) != done.get(name) else None

    return Requests(new("promote", PROMOTE), new("retry", RETRY), new("rollback", ROLLBACK))


@dataclass(frozen=True)
class StableRollback:
    """The stable track goes back to ``to`` (outside a rollout: a monitoring breach or herder.dev/rollback)."""

    to: int
    reason: str
    message: str


@dataclass(frozen=True)
class Interpreted:
    """What the pending requests mean in the current rollout state."""

    retry: bool = False
    """Roll the aborted target out again (a new herder.dev/retry value, or a spec generation after the abort)."""
    promote: bool = False
    """Skip the remaining steps of the rollout in progress."""
    abort: str | None = None
    """Abort the rollout in progress (the herder.dev/rollback value)."""
    rollback: StableRollback | None = None
    """Roll the stable version back to the last known-good one."""
    handled: HandledRequests = field(default_factory=HandledRequests)
    """status.handledRequests once these requests are acted on."""
    events: tuple[Event, ...] = ()


def rollout_in_progress(state: RolloutState, target: int) -> bool:
    """A rollout of ``target`` is under way (and not aborted)."""
    return state.canary_version == target and state.current_step is not None and state.aborted_version != target


def _retry_hint(rolled_back: int | None, target: int) -> str:
    if rolled_back is None or rolled_back == target:
        return ""
    return (f"; version {rolled_back} was rolled back and what this ModelDeployment serves moved on (a Model alias "
            f"follows the Model's production, which went back too): to try version {rolled_back} again, pin "
            f"spec.model.version: {rolled_back}")


def interpret(req: Requests, *, target: int, state: RolloutState, handled: HandledRequests | None,
              aborted_generation: int | None, generation: int | None, last_known_good: int | None,
              versions: Collection[int], last_rolled_back: int | None = None) -> Interpreted:
    """The pending requests against the rollout state (see the module doc). Aborted stays aborted until the spec
    changes (a generation after the abort) or a new herder.dev/retry value. ``last_rolled_back`` is the version
    status.lastRollback took out: a retry that finds nothing aborted says how to try that one again."""
    in_progress = rollout_in_progress(state, target)
    stable = state.stable_version
    done = handled_dict(handled)
    events: list[Event] = []
    if req.retry is not None:
        done["retry"] = recorded(req.retry)
        events.append(("Normal", "RetryRequested", f"herder.dev/retry={req.retry!r}: rolling out version "
                                                   f"{target} again") if state.aborted_version == target else
                      ("Normal", "RequestIgnored", f"herder.dev/retry={req.retry!r}: version {target} was not "
                                                   "aborted, nothing to retry"
                                                   + _retry_hint(last_rolled_back, target)))
    promote = False
    if req.promote is not None and (not req.promote.isdigit() or (int(req.promote) == target and in_progress)):
        # a version number waits for that version's rollout; any other value is a request now or never
        promote = in_progress
        done["promote"] = recorded(req.promote)
        if not in_progress:
            events.append(("Normal", "RequestIgnored", f"herder.dev/promote={req.promote!r}: no rollout in progress"))
    abort: str | None = None
    rollback: StableRollback | None = None
    if req.rollback is not None:
        done["rollback"] = recorded(req.rollback)
        if in_progress:
            abort = req.rollback
        elif target == stable and last_known_good is not None and last_known_good != stable \
                and last_known_good in versions:
            rollback = StableRollback(last_known_good, "ManualRollback",
                                      f"rolled back from version {stable} to the last known-good version "
                                      f"{last_known_good} on the herder.dev/rollback annotation ({req.rollback!r})")
        else:
            events.append(("Warning", "RequestIgnored",
                           f"herder.dev/rollback={req.rollback!r}: nothing to roll back to (stable version "
                           f"{stable}, last known-good version {last_known_good})"))
    retry = state.aborted_version == target and (req.retry is not None or aborted_generation != generation)
    return Interpreted(retry, promote, abort, rollback, HandledRequests(**done), tuple(events))


def handled_requests(interpreted: Interpreted, before: HandledRequests | None, plan: Plan | None,
                     state: RolloutState) -> HandledRequests | None:
    """status.handledRequests after this reconcile (None: nothing handled, no field): a promote that did not act yet
    (e.g. the preview pods are not ready) stays pending, so it acts when it can; everything else is handled as
    interpreted."""
    done = handled_dict(interpreted.handled)
    if plan is not None and interpreted.promote and plan.state.current_step == state.current_step \
            and plan.phase != "Aborted":
        done = handled_dict(before) | {k: v for k, v in done.items() if k != "promote"}
    return HandledRequests(**done) if done else None


@dataclass(frozen=True)
class MonitoringVerdict:
    """What one monitoring interval of the stable version means for the ModelDeployment."""

    condition: Cond | None = None
    """Degraded, when the interval changes it (a breach, or passing again after one)."""
    rollback: StableRollback | None = None


def monitoring_verdict(result: IntervalResult, w: Watch, *, stable: int, versions: Collection[int],
                       degraded_reason: str | None) -> MonitoringVerdict:
    """A rollback when monitoring decided one and the target version still exists; a Degraded alert for a breach
    that is not rolled back; Degraded=False when the version passes again after an alert."""
    if w.action == "Rollback" and w.rollback_to is not None and w.rollback_to in versions:
        return MonitoringVerdict(rollback=StableRollback(w.rollback_to, "MonitoringBreach", w.message))
    if w.action in ("Alert", "Rollback"):
        return MonitoringVerdict(Cond("Degraded", "True", "MonitoringBreach", w.message))
    if result.decision == "Pass" and degraded_reason == "MonitoringBreach":
        return MonitoringVerdict(Cond("Degraded", "False", "Healthy",
                                      f"monitoring of version {stable} passed again: {result.message}"))
    return MonitoringVerdict()


@dataclass(frozen=True)
class Monitored:
    """One reconcile's monitoring of the stable version (nothing measured: only ``requeue``)."""

    requeue: float | None = None
    """Seconds until the next monitoring interval is due."""
    condition: Cond | None = None
    metrics: list[MetricValue] | None = None
    """New status.monitoringMetrics; None: unchanged."""
    watch: Watch | None = None
    rollback: StableRollback | None = None


def rolled_back(state: RolloutState, rollback: StableRollback) -> RolloutState:
    """The rollout state once the stable version is rolled back: the old stable version is the aborted one."""
    return RolloutState(stable_version=rollback.to, aborted_version=state.stable_version)


@dataclass(frozen=True)
class RolloutInputs:
    """Everything the rollout decision needs, gathered by the controller."""

    target: int
    total: int
    state: RolloutState
    now: float
    steps: list[Step] = field(default_factory=list)
    bluegreen: BlueGreenSettings | None = None
    analysis: Analysis | None = None
    analysis_message: str = ""
    interval: float = 30.0
    stable_rolled_to: int | None = None
    preview_ready: bool = False
    retry: bool = False
    promote: bool = False
    abort: str | None = None
    gateway: bool = False
    """Gateway API routing: the route splits traffic, the stable track stays at full size."""
    track: str = "canary"
    """Track of the second Deployment (blue/green: preview, canary under Gateway API)."""


def plan_rollout(i: RolloutInputs) -> Plan:
    """The one rollout decision: blue/green or canary (no steps: in place). With no stable version yet it is the
    machines' Initial phase."""
    if i.bluegreen is not None:
        return decide_bluegreen(target=i.target, total=i.total, settings=i.bluegreen, state=i.state, now=i.now,
                                analysis=i.analysis, analysis_message=i.analysis_message, interval=i.interval,
                                preview_ready=i.preview_ready, stable_rolled_to=i.stable_rolled_to, retry=i.retry,
                                promote=i.promote, rollback=i.abort, track=i.track)
    return decide(target=i.target, steps=i.steps, total=i.total, state=i.state, now=i.now, analysis=i.analysis,
                  analysis_message=i.analysis_message, interval=i.interval, stable_rolled_to=i.stable_rolled_to,
                  retry=i.retry, promote=i.promote, rollback=i.abort,
                  split=gateway_replicas if i.gateway else split_replicas)
