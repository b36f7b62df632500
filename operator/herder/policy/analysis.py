"""Live analysis of a rollout, as pure functions: counters scraped from the canary pods -> metric values -> a
verdict per check -> one decision per interval.

Why per-pod deltas: every serving pod has its own counters, which start at zero when its process starts. Summing
raw counters over pods and subtracting would go wrong whenever a pod appears (a canary scaled up at a step),
disappears or restarts. So the delta is taken per pod (a pod absent from the previous scrape, or whose counter went
down, contributes its whole count: it started within the interval) and then summed.

Why "too little traffic is not a pass": a canary that received 3 requests with no error has proven nothing. Below
``minSamples`` a measurement is Inconclusive (the step waits), or a failure with ``noData: Fail``.

Units: ErrorRate is a fraction (0..1), LatencyPxx are seconds (the server's histogram unit), RequestRate is requests
per second, Accuracy is a fraction of labelled predictions that were correct.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from herder.api.common import MetricCheck, MetricValue, from_decimal

Verdict = Literal["Pass", "Fail", "Inconclusive"]
Decision = Literal["Pass", "Wait", "Abort"]

QUANTILES = {"LatencyP50": 0.5, "LatencyP90": 0.9, "LatencyP95": 0.95, "LatencyP99": 0.99}
MEASURED = frozenset({"ErrorRate", "RequestRate", "Accuracy", *QUANTILES})
"""Builtin metrics computed from the serving pods' counters during a rollout (drift metrics need the baseline
profile and are not measured by rollout analysis yet)."""


@dataclass(frozen=True)
class Counters:
    """One pod's (or a sum of pods') counters for one model version."""

    requests: float = 0.0
    """Inference requests, every status code."""
    errors: float = 0.0
    """Inference requests answered 5xx."""
    buckets: tuple[tuple[float, float], ...] = ()
    """Request latency histogram: (upper bound in seconds, cumulative count), sorted, +Inf last."""
    correct: float = 0.0
    """Feedback labels that matched the prediction."""
    incorrect: float = 0.0
    """Feedback labels that did not."""

    def minus(self, before: Counters | None) -> Counters:
        """The increase since ``before``; the whole count when there is no earlier value or a counter reset."""
        if before is None or self.requests < before.requests or self.errors < before.errors or (
                self.correct + self.incorrect < before.correct + before.incorrect):
            return self
        old = dict(before.buckets)
        if any(c < old.get(le, 0.0) for le, c in self.buckets):
            return self
        return Counters(self.requests - before.requests, self.errors - before.errors,
                        tuple((le, c - old.get(le, 0.0)) for le, c in self.buckets),
                        self.correct - before.correct, self.incorrect - before.incorrect)

    def plus(self, other: Counters) -> Counters:
        merged: dict[float, float] = dict(self.buckets)
        for le, c in other.buckets:
            merged[le] = merged.get(le, 0.0) + c
        return Counters(self.requests + other.requests, self.errors + other.errors, tuple(sorted(merged.items())),
                        self.correct + other.correct, self.incorrect + other.incorrect)


@dataclass(frozen=True)
class Scrape:
    """Counters of every reachable pod at one moment (``at``: seconds on any monotonic clock)."""

    at: float
    pods: Mapping[str, Counters] = field(default_factory=dict)
    """Pod identity (name/uid) -> its counters."""
    unreachable: tuple[str, ...] = ()
    """Pods whose /metrics could not be read (named in the measurement's message)."""


def interval_delta(previous: Scrape, current: Scrape) -> Counters:
    """What happened between two scrapes, summed over the pods of ``current`` (per-pod deltas, see module doc)."""
    total = Counters()
    for pod, counters in current.pods.items():
        total = total.plus(counters.minus(previous.pods.get(pod)))
    return total


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding rank ``q * count``;
    the largest finite bound when the rank falls in +Inf; None without observations."""
    if not buckets:
        return None
    count = buckets[-1][1]
    if count <= 0:
        return None
    rank = q * count
    lower_bound, lower_count = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return lower_bound
            if c == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (c - lower_count)
        lower_bound, lower_count = le, c
    return lower_bound


@dataclass(frozen=True)
class Measurement:
    """One metric over one interval."""

    value: Decimal | None
    samples: int
    message: str = ""


def measure(metric: str, delta: Counters, seconds: float) -> Measurement:
    """The value of a builtin metric over an interval's counter increase."""
    requests = int(delta.requests)
    if metric == "ErrorRate":
        if requests <= 0:
            return Measurement(None, 0, "no inference requests reached the measured pods in the interval")
        return Measurement(Decimal(int(delta.errors)) / Decimal(requests), requests,
                           f"{int(delta.errors)} of {requests} requests failed (5xx)")
    if metric == "RequestRate":
        if seconds <= 0:
            return Measurement(None, 0, "empty interval")
        return Measurement(Decimal(str(round(delta.requests / seconds, 6))), requests,
                           f"{requests} requests in {seconds:.1f}s")
    if metric in QUANTILES:
        observed = int(delta.buckets[-1][1]) if delta.buckets else 0
        q = histogram_quantile(QUANTILES[metric], delta.buckets)
        if q is None:
            return Measurement(None, 0, "no latency observations in the interval")
        return Measurement(Decimal(str(round(q, 6))), observed, f"{metric} over {observed} requests (seconds)")
    if metric == "Accuracy":
        labelled = int(delta.correct + delta.incorrect)
        if labelled <= 0:
            return Measurement(None, 0, "no feedback labels in the interval")
        return Measurement(Decimal(int(delta.correct)) / Decimal(labelled), labelled,
                           f"{int(delta.correct)} of {labelled} labelled predictions correct")
    return Measurement(None, 0, f"{metric} is not measured by rollout analysis yet")


def unmeasurable(checks: Sequence[MetricCheck], field: str) -> list[str]:
    """Problems with checks the operator cannot measure, each naming the field and its value (``field`` is e.g.
    ``spec.analysis.metrics``). Such a check would stay Inconclusive forever -- a rollout that can never pass, or
    monitoring that never proves a version -- so it is reported up front instead of measured."""
    out = []
    for i, c in enumerate(checks):
        if c.provider == "Builtin" and c.metric not in MEASURED:
            out.append(f"{field}[{i}].metric: {c.metric} (check {c.name!r}) is not measured by the builtin provider "
                       f"during rollouts and monitoring yet; measurable: {', '.join(sorted(MEASURED))}")
    return out


def verdict(check: MetricCheck, m: Measurement) -> Verdict:
    """Pass / Fail against the threshold; Inconclusive without a value or below minSamples (Fail with
    ``noData: Fail``)."""
    if m.value is None or m.samples < (check.min_samples or 0):
        return "Fail" if check.no_data == "Fail" else "Inconclusive"
    return "Pass" if check.threshold.passes(m.value) else "Fail"


@dataclass(frozen=True)
class CheckResult:
    name: str
    value: Decimal | None
    samples: int
    verdict: Verdict
    consecutive_failures: int
    message: str

    def metric_value(self, at: str, version: int) -> MetricValue:
        """As a ``MetricValue`` on status (no value without data, no message when there is nothing to say)."""
        fields: dict[str, object] = {"name": self.name, "verdict": self.verdict, "samples": self.samples,
                                     "consecutiveFailures": self.consecutive_failures, "measuredAt": at,
                                     "version": version}
        if self.value is not None:
            fields["value"] = from_decimal(self.value)
        if self.message:
            fields["message"] = self.message
        return MetricValue.model_validate(fields)

    def wire(self, at: str, version: int) -> dict[str, object]:
        """:meth:`metric_value` as the API server stores it."""
        return self.metric_value(at, version).wire()

    def describe(self) -> str:
        value = "no data" if self.value is None else from_decimal(self.value)
        return f"{self.name}={value} ({self.verdict}, {self.samples} samples, {self.message})"


@dataclass(frozen=True)
class IntervalResult:
    decision: Decision
    checks: tuple[CheckResult, ...]
    message: str


def evaluate(checks: Sequence[MetricCheck], measurements: Mapping[str, Measurement],
             previous_failures: Mapping[str, int]) -> IntervalResult:
    """One interval: a verdict per check, consecutive failures carried over from the previous interval (a Pass
    resets them, an Inconclusive keeps them), and the decision — Abort when any check reached its failureLimit,
    Pass when every check passed, Wait otherwise."""
    results: list[CheckResult] = []
    breached: list[str] = []
    for check in checks:
        m = measurements.get(check.name) or Measurement(None, 0, "not measured")
        v = verdict(check, m)
        before = previous_failures.get(check.name, 0)
        failures = before + 1 if v == "Fail" else (0 if v == "Pass" else before)
        thr = check.threshold
        bounds = " ".join(b for b in (f"min {thr.min}" if thr.min is not None else "",
                                      f"max {thr.max}" if thr.max is not None else "") if b)
        message = f"{m.message}; threshold {bounds}" if m.message else f"threshold {bounds}"
        r = CheckResult(check.name, m.value, m.samples, v, failures, message)
        results.append(r)
        if v == "Fail" and failures >= check.failure_limit:  # a breach happens at a failure, never at no data
            breached.append(f"{r.describe()}: {failures} consecutive failure(s), limit {check.failure_limit}")
    if breached:
        return IntervalResult("Abort", tuple(results), "; ".join(breached))
    if all(r.verdict == "Pass" for r in results):
        return IntervalResult("Pass", tuple(results), "all checks passed: " + ", ".join(
            r.describe() for r in results))
    waiting = [r.describe() for r in results if r.verdict != "Pass"]
    return IntervalResult("Wait", tuple(results), "waiting for conclusive analysis: " + "; ".join(waiting))


def inconclusive(checks: Sequence[MetricCheck], previous_failures: Mapping[str, int], why: str) -> IntervalResult:
    """An interval without a usable previous scrape (first interval of a rollout, or after an operator restart)."""
    results = tuple(CheckResult(c.name, None, 0, "Inconclusive", previous_failures.get(c.name, 0), why)
                    for c in checks)
    return IntervalResult("Wait", results, why)
