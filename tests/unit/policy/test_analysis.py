"""Rollout analysis: per-pod counter deltas, metric values, verdicts against thresholds and the per-interval
decision (failureLimit, noData, minSamples)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from herder.api.common import MetricCheck, Threshold
from herder.policy.analysis import (
    Counters,
    Measurement,
    Scrape,
    evaluate,
    histogram_quantile,
    inconclusive,
    interval_delta,
    measure,
    verdict,
)

INF = float("inf")


def check(name: str = "errors", metric: str = "ErrorRate", *, max_: str | None = "0.05", min_: str | None = None,
          min_samples: int | None = 10, failure_limit: int = 1, no_data: str = "Inconclusive") -> MetricCheck:
    return MetricCheck.model_validate({
        "name": name, "metric": metric, "threshold": Threshold(min=min_, max=max_).wire(),
        "minSamples": min_samples, "failureLimit": failure_limit, "noData": no_data})


def hist(*counts: float) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets over bounds 0.01, 0.1, 1, +Inf."""
    return tuple(zip((0.01, 0.1, 1.0, INF), counts, strict=True))


def test_delta_is_taken_per_pod_and_summed() -> None:
    before = Scrape(0.0, {"a/1": Counters(100, 1, hist(50, 90, 100, 100)), "gone/2": Counters(7, 7)})
    after = Scrape(3.0, {"a/1": Counters(130, 4, hist(60, 115, 130, 130)),
                         "new/3": Counters(20, 20, hist(0, 0, 20, 20))})  # new pod: all of its count
    d = interval_delta(before, after)
    assert (d.requests, d.errors) == (50, 23)
    assert d.buckets == hist(10, 25, 50, 50)


def test_a_restarted_pod_counts_from_zero() -> None:
    before = Scrape(0.0, {"a/1": Counters(100, 10)})
    after = Scrape(3.0, {"a/1": Counters(5, 1)})
    assert interval_delta(before, after).requests == 5


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    b = hist(10, 90, 100, 100)
    assert histogram_quantile(0.5, b) == pytest.approx(0.01 + 0.09 * (50 - 10) / 80)
    assert histogram_quantile(0.99, b) == pytest.approx(0.1 + 0.9 * (99 - 90) / 10)
    assert histogram_quantile(0.99, hist(0, 0, 0, 10)) == 1.0  # in +Inf: the largest finite bound
    assert histogram_quantile(0.5, hist(0, 0, 0, 0)) is None
    assert histogram_quantile(0.5, ()) is None


def test_measure_each_metric() -> None:
    d = Counters(40, 10, hist(10, 30, 40, 40), correct=9, incorrect=1)
    assert measure("ErrorRate", d, 4).value == Decimal("0.25")
    assert measure("ErrorRate", d, 4).samples == 40
    assert measure("RequestRate", d, 4).value == Decimal(10)
    assert measure("LatencyP50", d, 4).value == Decimal(str(round(0.01 + 0.09 * 10 / 20, 6)))
    assert measure("Accuracy", d, 4).value == Decimal("0.9")
    none = measure("ErrorRate", Counters(), 3)
    assert none.value is None and none.samples == 0
    assert "not measured" in measure("FeatureDriftPSI", d, 4).message


def test_verdicts() -> None:
    c = check()
    assert verdict(c, Measurement(Decimal("0.01"), 50)) == "Pass"
    assert verdict(c, Measurement(Decimal("0.5"), 50)) == "Fail"
    assert verdict(c, Measurement(Decimal("0.5"), 5)) == "Inconclusive"  # too little traffic is not a pass
    assert verdict(c, Measurement(None, 0)) == "Inconclusive"
    assert verdict(check(no_data="Fail"), Measurement(None, 0)) == "Fail"
    assert verdict(check(min_=("0.9"), max_=None, metric="Accuracy"), Measurement(Decimal("0.8"), 20)) == "Fail"


def test_failure_limit_counts_consecutive_failures() -> None:
    c = check(failure_limit=2)
    bad = {"errors": Measurement(Decimal("0.5"), 50, "25 of 50 requests failed (5xx)")}
    first = evaluate([c], bad, {})
    assert first.decision == "Wait" and first.checks[0].consecutive_failures == 1
    second = evaluate([c], bad, {"errors": 1})
    assert second.decision == "Abort"
    assert "errors=0.5" in second.message and "limit 2" in second.message
    assert "max 0.05" in second.checks[0].message
    # an inconclusive interval keeps the count, a pass resets it
    assert evaluate([c], {"errors": Measurement(None, 0)}, {"errors": 1}).checks[0].consecutive_failures == 1
    assert evaluate([c], {"errors": Measurement(Decimal(0), 50)}, {"errors": 1}).checks[0].consecutive_failures == 0


def test_decision_pass_only_when_every_check_passes() -> None:
    checks = [check(), check("p99", "LatencyP99", max_="0.5", min_samples=None)]
    good = {"errors": Measurement(Decimal(0), 50), "p99": Measurement(Decimal("0.1"), 50)}
    assert evaluate(checks, good, {}).decision == "Pass"
    partial = {"errors": Measurement(Decimal(0), 3), "p99": Measurement(Decimal("0.1"), 3)}
    result = evaluate(checks, partial, {})
    assert result.decision == "Wait"
    assert "errors" in result.message and "p99" not in result.message.split(":", 1)[1]


def test_first_interval_is_inconclusive_and_wires_to_status() -> None:
    r = inconclusive([check()], {"errors": 1}, "baseline scrape taken")
    assert r.decision == "Wait"
    w = r.checks[0].wire("2026-01-01T00:00:00Z", 2)
    assert w == {"name": "errors", "verdict": "Inconclusive", "samples": 0, "consecutiveFailures": 1,
                 "measuredAt": "2026-01-01T00:00:00Z", "version": 2, "message": "baseline scrape taken"}
    full = evaluate([check()], {"errors": Measurement(Decimal(1) / Decimal(3), 30, "x")}, {}).checks[0]
    assert full.wire("T", 2)["value"] == "0.333333"
