"""The canary rollout state machine, as one pure function: (steps, rollout state from status, now, analysis) ->
(next rollout state, replicas and versions of both tracks, events, when to look again).

Everything the machine needs is on the ModelDeployment's status (stableVersion, canaryVersion, currentStep,
stepStartedAt, abortedVersion), so a restarted operator resumes the step where it was. The machine never looks at
the spec except through its inputs, and never changes it: an abort is recorded as abortedVersion + lastRollback.

States (derived, no phase field):
- Initial: no stable version yet -> the target goes straight to the stable track;
- Stable: target == stableVersion, nothing to do (a canary left over from a reverted spec is removed);
- Progressing: canaryVersion == target, step ``currentStep`` < len(steps) holds ``weight`` until its pause elapsed
  and the latest analysis passed (no analysis configured: the pause alone);
- Promoting: currentStep == len(steps): the stable track rolls to the target (at full size) while the canary keeps
  serving; once the stable track is rolled, stableVersion = target and the canary goes;
- Aborted: target == abortedVersion: stable at full size with the old version, no canary, until a retry.

With no steps (no strategy: the version is replaced in place) a rollout goes straight to Promoting, with no canary
Deployment: the stable track rolls (readiness-gated) and the same Promoted / Aborted bookkeeping applies, so a
manual rollback, the abort record and monitoring work the same way with or without a canary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from herder.resources.serving import split_replicas

Split = Callable[[int, int], tuple[int, int]]

Phase = Literal["Initial", "Stable", "Progressing", "Promoting", "Promoted", "Aborted"]
Analysis = Literal["Pass", "Wait", "Abort"]


@dataclass(frozen=True)
class Step:
    weight: int
    pause: float | None = None
    """Seconds to hold the step; None: only until analysis passes (or at once without analysis)."""


@dataclass(frozen=True)
class RolloutState:
    """The rollout part of a ModelDeployment's status (times in epoch seconds)."""

    stable_version: int | None = None
    canary_version: int | None = None
    canary_weight: int | None = None
    current_step: int | None = None
    step_started_at: float | None = None
    aborted_version: int | None = None


@dataclass(frozen=True)
class Rollback:
    from_version: int
    to_version: int | None
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    """What the controller should make true."""

    phase: Phase
    state: RolloutState
    stable_serves: int
    """Version the stable Deployment runs."""
    stable_replicas: int
    canary_serves: int | None
    """Version of the canary Deployment; None: no canary Deployment."""
    canary_replicas: int
    message: str
    requeue_after: float | None = None
    rollback: Rollback | None = None
    events: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    canary_track: str = "canary"
    """Track (and Deployment name suffix) of the second Deployment: canary, or preview for blue/green."""
    service_track: str | None = None
    """Track the ModelDeployment's Service selects; None: every track (replica-ratio canary)."""
    paused: bool = False
    """Waiting for a person (the herder.dev/promote annotation), not for the machine."""


def decide(*, target: int, steps: list[Step], total: int, state: RolloutState, now: float,
           analysis: Analysis | None, analysis_message: str = "", interval: float = 30.0,
           stable_rolled_to: int | None = None, retry: bool = False, promote: bool = False,
           rollback: str | None = None, split: Split = split_replicas) -> Plan:
    """The next step of a canary rollout of ``target``.

    ``analysis``: the latest analysis of the canary in the current step (None when no analysis is configured);
    ``stable_rolled_to``: the version the stable Deployment has fully rolled out (None while rolling);
    ``retry``: the user asked to roll out an aborted version again (a new spec generation or retry annotation);
    ``promote``: the user asked to skip the remaining steps;
    ``rollback``: the user asked to roll back (the herder.dev/rollback value): a rollout in progress is aborted with
    reason ManualRollback (outside a rollout the controller handles it);
    ``split``: (stable, canary) replicas for a weight -- by replica ratio (the default), or under Gateway API routing
    herder.resources.traffic.gateway_replicas (the route splits traffic, the stable track stays full).
    """
    s = state
    stable = s.stable_version
    if stable is None:  # first deployment: straight to stable
        return Plan("Initial", replace(s, canary_version=None, canary_weight=None, current_step=None,
                                       step_started_at=None), target, total, None, 0,
                    f"deploying version {target}")
    if target == stable:
        cleared = RolloutState(stable_version=stable)
        events: tuple[tuple[str, str, str], ...] = ()
        if s.canary_version is not None:
            events = (("Normal", "RolloutCancelled",
                       f"the spec is back at stable version {stable}: canary version {s.canary_version} removed"),)
        return Plan("Stable", cleared, stable, total, None, 0, f"serving version {stable}", events=events)
    if s.aborted_version == target and not retry:
        return Plan("Aborted", replace(s, canary_version=None, canary_weight=None, current_step=None,
                                       step_started_at=None), stable, total, None, 0,
                    f"rollout of version {target} was aborted; serving version {stable} (change the spec or the "
                    f"herder.dev/retry annotation to try again)")
    in_progress = s.canary_version == target and s.current_step is not None and s.step_started_at is not None
    if rollback is not None and in_progress:
        aborted = RolloutState(stable_version=stable, aborted_version=target)
        where = (f"at step {s.current_step + 1}/{len(steps)}" if s.current_step is not None
                 and s.current_step < len(steps) else "while promoting")
        message = f"rollout of version {target} aborted {where} on the herder.dev/rollback annotation " \
                  f"({rollback!r}); serving version {stable}"
        return Plan("Aborted", aborted, stable, total, None, 0, message,
                    rollback=Rollback(target, stable, "ManualRollback", message),
                    events=(("Warning", "RolloutAborted", message),))
    if not in_progress and not steps:  # in place: the stable track rolls to the target, no canary
        st = RolloutState(stable_version=stable, canary_version=target, current_step=0, step_started_at=now)
        return Plan("Promoting", st, target, total, None, 0, f"replacing version {stable} with {target} in place",
                    requeue_after=2.0,
                    events=(("Normal", "RolloutStarted",
                             f"rolling out version {target} in place (no canary strategy), stable version "
                             f"{stable}"),))
    if not in_progress:
        first = steps[0]
        st = RolloutState(stable_version=stable, canary_version=target, canary_weight=first.weight, current_step=0,
                          step_started_at=now, aborted_version=None)
        sr, cr = split(total, first.weight)
        return Plan("Progressing", st, stable, sr, target, cr,
                    f"rolling out version {target}: step 1/{len(steps)} at weight {first.weight}%",
                    requeue_after=_requeue(first, 0.0, analysis is not None, interval),
                    events=(("Normal", "RolloutStarted",
                             f"rolling out version {target} over {len(steps)} step(s), stable version {stable}; "
                             f"step 1 at weight {first.weight}%"),))
    i = s.current_step
    assert i is not None
    assert s.step_started_at is not None
    if i >= len(steps):  # promoting: the stable track rolls to the target while the canary keeps serving
        if stable_rolled_to == target:
            done = RolloutState(stable_version=target)
            return Plan("Promoted", done, target, total, None, 0, f"version {target} promoted to stable",
                        events=(("Normal", "RolloutPromoted",
                                 f"version {target} promoted: stable now serves it at 100%"
                                 + (", canary removed" if steps else "")),))
        if not steps:
            return Plan("Promoting", s, target, total, None, 0,
                        f"replacing version {stable} with {target} in place: rolling the stable track",
                        requeue_after=2.0)
        _, cr = split(total, steps[-1].weight)
        return Plan("Promoting", s, target, total, target, cr,
                    f"promoting version {target}: rolling the stable track", requeue_after=2.0)
    step = steps[i]
    sr, cr = split(total, step.weight)
    if analysis == "Abort":
        aborted = RolloutState(stable_version=stable, aborted_version=target)
        message = f"analysis of version {target} failed at step {i + 1}/{len(steps)} (weight {step.weight}%): " \
                  f"{analysis_message}"
        return Plan("Aborted", aborted, stable, total, None, 0, message,
                    rollback=Rollback(target, stable, "AnalysisFailed", message),
                    events=(("Warning", "RolloutAborted",
                             f"{message}; rolled back to version {stable}"),))
    elapsed = now - s.step_started_at
    pause_done = step.pause is None or elapsed >= step.pause
    passed = analysis is None or analysis == "Pass"
    if promote or (pause_done and passed):
        nxt = len(steps) if promote else i + 1
        if nxt < len(steps):
            w = steps[nxt].weight
            st = replace(s, canary_weight=w, current_step=nxt, step_started_at=now)
            sr2, cr2 = split(total, w)
            return Plan("Progressing", st, stable, sr2, target, cr2,
                        f"rolling out version {target}: step {nxt + 1}/{len(steps)} at weight {w}%",
                        requeue_after=_requeue(steps[nxt], 0.0, analysis is not None, interval),
                        events=(("Normal", "RolloutStepAdvanced",
                                 f"version {target}: step {nxt + 1}/{len(steps)} at weight {w}%"),))
        st = replace(s, current_step=len(steps), step_started_at=now)
        why = "on the herder.dev/promote annotation" if promote else "after the last step"
        return Plan("Promoting", st, target, total, target, cr,
                    f"promoting version {target} {why}: rolling the stable track", requeue_after=2.0,
                    events=(("Normal", "RolloutPromoting",
                             f"version {target} passed {'no more' if promote else 'all'} steps ({why}); "
                             f"rolling the stable track to it"),))
    waiting = [] if pause_done else [f"the {step.pause:g}s pause"]  # no elapsed time: a message that changes
    # on every reconcile would be a status write on every reconcile
    if not passed:
        waiting.append(analysis_message or "analysis has not passed yet")
    return Plan("Progressing", s, stable, sr, target, cr,
                f"rolling out version {target}: step {i + 1}/{len(steps)} at weight {step.weight}%, waiting for "
                + "; ".join(waiting),
                requeue_after=_requeue(step, elapsed, analysis is not None, interval))


def _requeue(step: Step, elapsed: float, analysed: bool, interval: float) -> float:
    remaining = max(0.5, (step.pause or 0.0) - elapsed) if step.pause else None
    if analysed:
        return min(interval, remaining) if remaining is not None else interval
    return remaining if remaining is not None else 1.0
