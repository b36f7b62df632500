"""Monitoring after promotion, as one pure function: (one interval's analysis of the stable version, what status
says about it) -> keep, alert or roll back, and whether the stable version has now proven itself.

Why a probation: ``lastKnownGoodVersion`` is the rollback target, so it must only ever name a version that both
completed a rollout *and* behaved in production. A freshly promoted version is on probation: the previous good
version stays the rollback target until the new one has passed ``required`` consecutive monitoring intervals (the
largest failureLimit of the monitoring checks: it survived as long as a breach would take to detect). A failed
check resets the count; an inconclusive interval (too little traffic) keeps it -- too little traffic is not a pass,
so an idle new version never becomes the rollback target.

Why a proven version is not rolled back: once the stable version is the last known-good one there is no better
version to go to; a breach then is reported (Degraded, an Event) like ``onBreach: Alert``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from herder.policy.analysis import IntervalResult

Action = Literal["Keep", "Alert", "Rollback"]
BreachAction = Literal["Rollback", "Alert"]


@dataclass(frozen=True)
class Watch:
    """What monitoring decided after one interval."""

    action: Action
    last_known_good: int | None
    """lastKnownGoodVersion after this interval."""
    passed_intervals: int
    """monitoringPassedIntervals after this interval."""
    message: str
    rollback_to: int | None = None
    proven: bool = False
    """The stable version became the last known-good version in this interval."""


def watch(result: IntervalResult, *, stable: int, last_known_good: int | None, passed_intervals: int,
          required: int, on_breach: BreachAction) -> Watch:
    """The decision after one monitoring interval of ``stable`` (see the module doc)."""
    if result.decision == "Abort":
        values = f"monitoring of version {stable} breached: {result.message}"
        if on_breach == "Rollback" and last_known_good is not None and last_known_good != stable:
            return Watch("Rollback", last_known_good, 0, f"{values}; rolled back to version {last_known_good}",
                         rollback_to=last_known_good)
        why = ("onBreach is Alert" if on_breach == "Alert" else
               f"version {stable} is itself the last known-good version" if last_known_good == stable else
               "no last known-good version is recorded")
        return Watch("Alert", last_known_good, 0, f"{values}; not rolled back ({why})")
    failed = any(c.verdict == "Fail" for c in result.checks)
    # capped at ``required``: a counter that grew every interval after the proof would be a write per interval
    passed = 0 if failed else min(required, passed_intervals + (1 if result.decision == "Pass" else 0))
    if passed >= required and last_known_good != stable:
        return Watch("Keep", stable, passed, f"version {stable} passed {passed} monitoring interval(s) in a row: "
                                             f"it is now the last known-good version", proven=True)
    return Watch("Keep", last_known_good, passed, result.message)


def required_passes(failure_limits: list[int]) -> int:
    """Consecutive passing intervals that prove a version: the largest failureLimit (at least 1)."""
    return max([1, *failure_limits])
