"""Monitoring after promotion: probation of a freshly promoted version, breach -> rollback to the last known-good
version (or an alert), and what a proven version's breach does."""

from __future__ import annotations

from decimal import Decimal

from herder.api.common import MetricCheck
from herder.policy.analysis import IntervalResult, Measurement, evaluate
from herder.policy.monitoring import required_passes, watch

CHECK = MetricCheck.model_validate({"name": "errors", "metric": "ErrorRate", "threshold": {"max": "0.05"},
                                    "minSamples": 10, "failureLimit": 2})


def interval(value: str | None, samples: int = 50, failures: int = 0) -> IntervalResult:
    m = Measurement(None if value is None else Decimal(value), samples, "measured")
    return evaluate([CHECK], {"errors": m}, {"errors": failures})


def test_a_promoted_version_is_on_probation_until_failure_limit_passes() -> None:
    first = watch(interval("0"), stable=2, last_known_good=1, passed_intervals=0, required=2, on_breach="Rollback")
    assert (first.action, first.last_known_good, first.passed_intervals, first.proven) == ("Keep", 1, 1, False)
    second = watch(interval("0"), stable=2, last_known_good=1, passed_intervals=1, required=2, on_breach="Rollback")
    assert (second.last_known_good, second.passed_intervals, second.proven) == (2, 2, True)
    assert "last known-good" in second.message
    # proven: later passes change nothing (no status write per interval for a counter)
    later = watch(interval("0"), stable=2, last_known_good=2, passed_intervals=2, required=2, on_breach="Rollback")
    assert (later.last_known_good, later.passed_intervals, later.proven) == (2, 2, False)


def test_too_little_traffic_is_not_a_pass_and_a_failure_resets_the_count() -> None:
    idle = watch(interval(None, samples=0), stable=2, last_known_good=1, passed_intervals=1, required=2,
                 on_breach="Rollback")
    assert (idle.action, idle.passed_intervals, idle.last_known_good) == ("Keep", 1, 1)
    one_fail = watch(interval("0.5"), stable=2, last_known_good=1, passed_intervals=1, required=2,
                     on_breach="Rollback")
    assert (one_fail.action, one_fail.passed_intervals) == ("Keep", 0)  # 1 failure < failureLimit 2


def test_a_breach_rolls_back_to_the_last_known_good_version_with_the_values() -> None:
    w = watch(interval("0.5", failures=1), stable=2, last_known_good=1, passed_intervals=0, required=2,
              on_breach="Rollback")
    assert (w.action, w.rollback_to) == ("Rollback", 1)
    assert "errors=0.5" in w.message and "rolled back to version 1" in w.message


def test_alert_mode_and_a_proven_or_first_version_only_alert() -> None:
    breach = interval("0.5", failures=1)
    alert = watch(breach, stable=2, last_known_good=1, passed_intervals=0, required=2, on_breach="Alert")
    assert (alert.action, alert.rollback_to) == ("Alert", None)
    assert "onBreach is Alert" in alert.message and "errors=0.5" in alert.message
    proven = watch(breach, stable=2, last_known_good=2, passed_intervals=2, required=2, on_breach="Rollback")
    assert proven.action == "Alert" and "itself the last known-good" in proven.message
    first = watch(breach, stable=1, last_known_good=None, passed_intervals=0, required=2, on_breach="Rollback")
    assert first.action == "Alert" and "no last known-good" in first.message


def test_required_passes_is_the_largest_failure_limit() -> None:
    assert required_passes([1, 3, 2]) == 3
    assert required_passes([]) == 1
