"""The retraining policy: every trigger and every guardrail, with the message a user reads on status."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from herder.api.model import ModelSpec, Retraining
from herder.api.parsing import InvalidSpecError, parse_spec
from herder.api.training import TrainingJobSpec
from herder.policy.retraining import Book, Breach, DataDrift, decide, finished, remembered, retrain_name
from herder.policy.schedule import CronError, latest_at_or_before, next_after, parse_cron

T0 = dt.datetime(2026, 11, 27, 8, 0, 30, tzinfo=dt.UTC)


def policy(**kw: Any) -> Retraining:
    base: dict[str, Any] = {"triggers": {"manual": True}, "cooldown": "1h", "maxPerDay": 3}
    base.update(kw)
    return Retraining.model_validate(base)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def started(book: Book, when: dt.datetime, value: str, pol: Retraining | None = None) -> Book:
    d = decide(pol or policy(), book, when, model="iris", retrain_annotation=value)
    assert d.action == "Start", d
    return finished(d.book, d.book.in_flight or "")


# ---------------------------------------------------------------------------------------------- manual trigger
def test_a_new_annotation_value_starts_a_retrain_with_a_predictable_name() -> None:
    d = decide(policy(), Book(), T0, model="iris", retrain_annotation="now")
    assert (d.action, d.reason) == ("Start", "ManualRequest")
    assert d.book.in_flight == "iris-retrain-1"
    assert d.book.started == 1 and d.book.last_triggered_at == T0 and d.book.recent == (T0,)
    assert d.book.last_request == "now"
    assert "herder.dev/retrain='now'" in d.message and "iris-retrain-1" in d.message
    assert d.recorded


def test_the_same_annotation_value_is_not_a_second_request() -> None:
    book = started(Book(), T0, "now")
    d = decide(policy(), book, at(300), model="iris", retrain_annotation="now")
    assert d.action == "Idle"
    assert not d.recorded


def test_manual_trigger_disabled_refuses_the_annotation_once() -> None:
    pol = policy(triggers={"manual": False, "schedule": "@daily"})
    first = decide(pol, Book(last_scheduled=at(-1)), T0, model="iris", retrain_annotation="please")
    assert (first.action, first.reason) == ("Refuse", "ManualTriggerDisabled")
    assert "spec.retraining.triggers.manual is false" in first.message
    again = decide(pol, first.book, at(1), model="iris", retrain_annotation="please")
    assert again.action == "Idle"


def test_no_annotation_and_no_other_trigger_is_idle_and_says_what_would_trigger() -> None:
    d = decide(policy(triggers={"schedule": "0 3 * * *"}), Book(last_scheduled=at(-60)), T0, model="iris")
    assert d.action == "Idle"
    assert "herder.dev/retrain annotation" in d.message and "next at 2026-11-28T03:00:00Z" in d.message


# ---------------------------------------------------------------------------------------------- guardrails
def test_in_flight_refuses_a_manual_request_and_frees_when_the_job_finishes() -> None:
    d1 = decide(policy(), Book(), T0, model="iris", retrain_annotation="a")
    d2 = decide(policy(cooldown="0s"), d1.book, at(1), model="iris", retrain_annotation="b")
    assert (d2.action, d2.reason) == ("Refuse", "RetrainInFlight")
    assert "TrainingJob iris-retrain-1 is still running" in d2.message
    assert d2.book.last_request == "b"  # refused requests are consumed: a click never fires hours later
    assert d2.book.in_flight == "iris-retrain-1" and d2.book.started == 1
    free = finished(d2.book, "iris-retrain-1")
    assert free.in_flight is None
    assert finished(d2.book, "someone-else") == d2.book
    d3 = decide(policy(cooldown="0s"), free, at(2), model="iris", retrain_annotation="c")
    assert d3.action == "Start" and d3.book.in_flight == "iris-retrain-2"


def test_cooldown_refuses_and_names_when_it_frees() -> None:
    book = started(Book(), T0, "a")
    d = decide(policy(cooldown="6h"), book, at(30), model="iris", retrain_annotation="b")
    assert (d.action, d.reason) == ("Refuse", "CooldownActive")
    assert d.frees_at == T0 + dt.timedelta(hours=6)
    assert d.message == ("herder.dev/retrain='b' refused: cooldown 6h since the last retrain at 2026-11-27T08:00:30Z;"
                         " frees at 2026-11-27T14:00:30Z (set a new herder.dev/retrain value then)")
    assert d.book.started == 1 and d.book.in_flight is None
    later = decide(policy(cooldown="6h"), d.book, at(6 * 60 + 1), model="iris", retrain_annotation="c")
    assert later.action == "Start" and later.book.in_flight == "iris-retrain-2"


def test_max_per_day_counts_the_last_24_hours() -> None:
    pol = policy(cooldown="1m", maxPerDay=2)
    book = started(Book(), T0, "a", pol)
    book = started(book, at(10), "b", pol)
    d = decide(pol, book, at(20), model="iris", retrain_annotation="c")
    assert (d.action, d.reason) == ("Refuse", "MaxPerDayReached")
    assert "maxPerDay 2: 2 retrain(s) started in the last 24h; frees at 2026-11-28T08:00:30Z" in d.message
    assert d.frees_at == T0 + dt.timedelta(hours=24)
    nextday = decide(pol, d.book, at(24 * 60 + 1), model="iris", retrain_annotation="d")
    assert nextday.action == "Start"
    assert nextday.book.recent == (at(10), at(24 * 60 + 1))  # starts older than a day are forgotten


# ---------------------------------------------------------------------------------------------- schedule
def test_schedule_counts_from_the_first_look_then_fires_once_per_occurrence() -> None:
    pol = policy(triggers={"manual": True, "schedule": "0 9 * * *"}, cooldown="1m")
    first = decide(pol, Book(), T0, model="iris")
    assert first.action == "Idle"  # a new Model does not retrain because 09:00 yesterday has passed
    assert first.book.last_scheduled == dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    before = decide(pol, first.book, at(59), model="iris")
    assert before.action == "Idle"
    due = decide(pol, before.book, at(61), model="iris")
    assert (due.action, due.reason) == ("Start", "Scheduled")
    assert "schedule '0 9 * * *' occurred at 2026-11-27T09:00:00Z" in due.message
    same = decide(pol, finished(due.book, "iris-retrain-1"), at(90), model="iris")
    assert same.action == "Idle"


def test_missed_occurrences_are_caught_up_once() -> None:
    pol = policy(triggers={"schedule": "@hourly"}, cooldown="1m")
    book = Book(last_scheduled=dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC))  # the operator was down for hours
    d = decide(pol, book, T0, model="iris")
    assert d.action == "Start"
    again = decide(pol, finished(d.book, "iris-retrain-1"), at(5), model="iris")
    assert again.action == "Idle"


def test_a_scheduled_occurrence_inside_the_cooldown_is_skipped_not_postponed() -> None:
    pol = policy(triggers={"manual": True, "schedule": "0 9 * * *"}, cooldown="2h")
    book = started(Book(last_scheduled=dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)), T0, "a", pol)
    d = decide(pol, book, at(61), model="iris")
    assert (d.action, d.reason) == ("Refuse", "CooldownActive")
    assert "schedule '0 9 * * *' occurred at 2026-11-27T09:00:00Z refused: cooldown 2h" in d.message
    assert "set a new herder.dev/retrain" not in d.message
    assert decide(pol, d.book, at(3 * 60), model="iris").action == "Idle"


def test_cron_parsing_and_macros() -> None:
    assert parse_cron("@weekly") == "0 0 * * 0"
    assert latest_at_or_before("@weekly", T0) == dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    assert latest_at_or_before("30 8 * * *", dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC)).hour == 8
    assert next_after("* * * * *", T0) == dt.datetime(2026, 11, 27, 8, 1, tzinfo=dt.UTC)
    with pytest.raises(CronError):
        parse_cron("61 * * * *")


def test_a_schedule_with_an_impossible_value_is_an_invalid_spec_naming_the_field() -> None:
    body = {"apiVersion": "herder.dev/v1alpha1", "kind": "Model", "metadata": {"name": "m"}, "spec": {
        "task": "Classification",
        "training": {"datasetRef": {"name": "d"}, "estimator": {"class": "LogisticRegression"}},
        "retraining": {"triggers": {"schedule": "61 * * * *"}}}}
    with pytest.raises(InvalidSpecError) as e:
        parse_spec("Model", body)
    assert "spec.retraining.triggers.schedule" in str(e.value) and "61 * * * *" in str(e.value)
    body["spec"]["retraining"]["triggers"]["schedule"] = "0 3 * * 0"
    assert isinstance(parse_spec("Model", body), ModelSpec)


# ---------------------------------------------------------------------------------------------- metric triggers
DRIFT = Breach("feature-drift", "FeatureDriftPSI", True, "PSI 0.41 on petal_length, max 0.25", "0.41")
CALM = Breach("accuracy", "Accuracy", False, "0.95 of 300 labelled predictions correct", "0.95")


def test_a_metric_breach_starts_a_retrain_with_its_numbers() -> None:
    d = decide(policy(), Book(), T0, model="iris", breaches=[DRIFT, CALM])
    assert (d.action, d.reason) == ("Start", "DriftDetected")
    assert d.request is not None and d.request.metrics == {"feature-drift": "0.41"}
    assert "PSI 0.41 on petal_length" in d.message


def test_no_breach_no_retrain() -> None:
    assert decide(policy(), Book(), T0, model="iris", breaches=[CALM]).action == "Idle"
    inconclusive = Breach("feature-drift", "FeatureDriftPSI", False, "12 requests, minSamples 500")
    assert decide(policy(), Book(), T0, model="iris", breaches=[inconclusive]).action == "Idle"


def test_a_breach_inside_the_cooldown_waits_and_starts_when_it_frees() -> None:
    book = started(Book(), T0, "a")
    d = decide(policy(), book, at(10), model="iris", breaches=[DRIFT])
    assert (d.action, d.reason) == ("Wait", "CooldownActive")
    assert not d.recorded
    assert d.frees_at == at(60) + dt.timedelta(seconds=0)
    assert "DriftDetected" in d.message and "frees at 2026-11-27T09:00:30Z" in d.message
    assert decide(policy(), d.book, at(61), model="iris", breaches=[DRIFT]).action == "Start"
    accuracy = Breach("accuracy", "Accuracy", True, "0.7 of 400 correct, min 0.9", "0.7")
    assert decide(policy(), d.book, at(61), model="iris", breaches=[accuracy]).reason == "AccuracyDropped"


# ---------------------------------------------------------------------------------------------- approval
def test_require_approval_waits_for_a_new_approve_value() -> None:
    pol = policy(requireApproval=True)
    d = decide(pol, Book(), T0, model="iris", retrain_annotation="a", approve_annotation="old")
    assert (d.action, d.reason) == ("AwaitApproval", "ManualRequest")
    assert d.book.pending is not None and d.book.pending_since == T0
    assert d.book.last_approval == "old"  # an approval given before the request does not approve it
    assert d.book.started == 0 and d.book.in_flight is None
    wait = decide(pol, d.book, at(5), model="iris", retrain_annotation="a", approve_annotation="old")
    assert (wait.action, wait.reason) == ("Wait", "AwaitingApproval")
    assert "awaits the herder.dev/approve-retrain annotation since 2026-11-27T08:00:30Z" in wait.message
    go = decide(pol, wait.book, at(6), model="iris", retrain_annotation="a", approve_annotation="yes")
    assert (go.action, go.reason) == ("Start", "ManualRequest")
    assert go.book.pending is None and go.book.in_flight == "iris-retrain-1" and go.book.last_approval == "yes"
    assert "approved by herder.dev/approve-retrain='yes'" in go.message


def test_guardrails_are_checked_before_asking_for_approval() -> None:
    pol = policy(requireApproval=True)
    book = started(Book(), T0, "a")
    d = decide(pol, book, at(5), model="iris", retrain_annotation="b")
    assert (d.action, d.reason) == ("Refuse", "CooldownActive")
    assert d.book.pending is None


def test_nothing_else_starts_while_a_retrain_awaits_approval() -> None:
    pol = policy(requireApproval=True, triggers={"manual": True, "schedule": "@hourly"})
    d = decide(pol, Book(last_scheduled=at(-1)), T0, model="iris", breaches=[DRIFT])
    assert d.action == "AwaitApproval" and d.book.pending is not None
    manual = decide(pol, d.book, at(1), model="iris", retrain_annotation="x", breaches=[DRIFT])
    assert (manual.action, manual.reason) == ("Refuse", "RetrainPendingApproval")
    assert "already awaiting approval" in manual.message
    assert manual.book.pending == d.book.pending


def test_the_bookkeeping_survives_a_round_trip_through_status() -> None:
    pol = policy(requireApproval=True, triggers={"manual": True, "schedule": "@daily"})
    d = decide(pol, Book(), T0, model="iris", retrain_annotation="a", breaches=[DRIFT])
    wire = d.book.wire()
    assert wire is not None
    assert wire["pendingApproval"] == "ManualRequest" and wire["lastRequest"] == "a"
    back = Book.from_wire(wire)
    assert back.pending is not None and back.pending.reason == "ManualRequest"
    assert back.last_scheduled == d.book.last_scheduled and back.pending_since == T0
    assert decide(pol, back, at(1), model="iris", approve_annotation="ok").action == "Start"
    s = decide(policy(), Book(), T0, model="iris", retrain_annotation="a").book
    assert Book.from_wire(s.wire()) == s
    assert Book().wire() is None


def test_long_annotation_values_are_remembered_by_digest_and_names_fit() -> None:
    long = "x" * 1000
    assert remembered(long).startswith("sha256:") and remembered(long) == remembered(long)
    assert remembered("short") == "short"
    assert retrain_name("iris", 3) == "iris-retrain-3"
    long_a, long_b = "a" * 50 + "-one", "a" * 50 + "-two"
    assert len(retrain_name(long_a, 12)) <= 52 and len(retrain_name("m" * 253, 100)) <= 52
    assert retrain_name(long_a, 1) != retrain_name(long_b, 1)
    assert retrain_name(long_a, 1) == retrain_name(long_a, 1)
    assert retrain_name("x" * 40, 1) == "x" * 40 + "-retrain-1"  # exactly 50: not cut


# ---------------------------------------------------------------------------------------------- the TrainingJob
def test_the_retrain_training_job_is_the_template_on_the_retraining_data_owned_by_the_model() -> None:
    from herder.controllers.retraining import build_training_job

    body: dict[str, Any] = {"apiVersion": "herder.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1"}, "spec": {
                "task": "Classification",
                "training": {"datasetRef": {"name": "iris", "digest": "sha256:" + "a" * 64},
                             "estimator": {"class": "LogisticRegression", "params": {"max_iter": 500}},
                             "deadline": "10m"},
                "retraining": {"triggers": {"manual": True}, "data": {"datasetRef": {"name": "iris-fresh"}}}}}
    spec = parse_spec("Model", body)
    assert isinstance(spec, ModelSpec)
    d = decide(spec.retraining or policy(), Book(), T0, model="iris", retrain_annotation="go")
    tj = build_training_job(spec, body, "iris-retrain-1", d, "herder.dev/v1alpha1")
    assert tj["metadata"]["name"] == "iris-retrain-1" and tj["metadata"]["namespace"] == "ml"
    assert tj["metadata"]["ownerReferences"][0] == {
        "apiVersion": "herder.dev/v1alpha1", "kind": "Model", "name": "iris", "uid": "u-1", "controller": True,
        "blockOwnerDeletion": True}
    assert tj["metadata"]["labels"]["herder.dev/model"] == "iris"
    assert tj["metadata"]["annotations"] == {"herder.dev/retrain-trigger": "ManualRequest"}
    assert tj["spec"] == {"datasetRef": {"name": "iris-fresh"}, "modelRef": {"name": "iris"},
                          "estimator": {"class": "LogisticRegression", "params": {"max_iter": 500}},
                          "deadline": "10m"}
    assert isinstance(parse_spec("TrainingJob", tj), TrainingJobSpec)  # a valid TrainingJob
    del body["spec"]["retraining"]["data"]
    spec = parse_spec("Model", body)
    assert isinstance(spec, ModelSpec)
    tj = build_training_job(spec, body, "iris-retrain-1", d, "herder.dev/v1alpha1")
    assert tj["spec"]["datasetRef"] == {"name": "iris", "digest": "sha256:" + "a" * 64}  # the template's pin


def test_cleared_bookkeeping_is_written_as_explicit_nulls() -> None:
    """Status is a JSON merge patch: a finished retrain's inFlight must be sent as null to go away."""
    from herder.controllers.retraining import merge_patchable

    old = {"inFlight": "iris-retrain-1", "started": 1}
    assert merge_patchable(old, {"started": 1}) == {"inFlight": None, "started": 1}
    assert merge_patchable({"inFlight": None, "started": 1}, {"started": 1}) == {"inFlight": None, "started": 1}
    assert merge_patchable(None, {"started": 1}) == {"started": 1}
    assert merge_patchable(old, None) is None


def test_breaches_come_from_the_production_versions_measurements_only() -> None:
    from herder.api.common import MetricCheck
    from herder.controllers.retrain_triggers import breaches_from

    check = MetricCheck.model_validate({"name": "drift", "metric": "FeatureDriftPSI", "threshold": {"max": "0.25"},
                                        "failureLimit": 2})
    stored = [{"name": "drift", "version": 1, "verdict": "Fail", "value": "0.6", "samples": 300,
               "consecutiveFailures": 2, "message": "largest PSI 0.6 on feature 'petal_length'"}]
    [b] = breaches_from([check], stored, 1)
    assert b.breached and b.value == "0.6"
    assert "2 consecutive failure(s), failureLimit 2" in b.message and "petal_length" in b.message
    assert breaches_from([check], stored, 2) == []  # production moved: the old version's failures do not count
    once = [{**stored[0], "consecutiveFailures": 1}]
    assert not breaches_from([check], once, 1)[0].breached
    inconclusive = [{"name": "drift", "version": 1, "verdict": "Inconclusive", "samples": 12,
                     "consecutiveFailures": 0, "message": "12 rows in the window, fewer than the 100 needed"}]
    [quiet] = breaches_from([check], inconclusive, 1)
    assert not quiet.breached and "no data" in quiet.message


def test_a_prometheus_trigger_over_several_deployments_counts_the_worst() -> None:
    from decimal import Decimal

    from herder.api.common import MetricCheck
    from herder.controllers.retrain_triggers import worst_of
    from herder.policy.analysis import Measurement

    check = MetricCheck.model_validate({"name": "acc", "provider": "Prometheus", "query": "q",
                                        "threshold": {"min": "0.9"}, "minSamples": 50})
    good = Measurement(Decimal("0.95"), 400, "0.95")
    bad = Measurement(Decimal("0.7"), 300, "0.7")
    thin = Measurement(Decimal("0.99"), 3, "0.99")
    assert worst_of(check, [("a", good), ("b", bad), ("c", thin)]) == Measurement(
        Decimal("0.7"), 300, "ModelDeployment b: 0.7")
    assert worst_of(check, [("a", good), ("c", thin)]).message == "ModelDeployment c: 0.99"  # stays inconclusive
    assert worst_of(check, [("a", good)]) == good
    assert worst_of(check, []).value is None


def test_a_waiting_retrain_goes_ahead_when_approval_is_no_longer_required() -> None:
    d = decide(policy(requireApproval=True), Book(), T0, model="iris", retrain_annotation="a")
    assert d.action == "AwaitApproval"
    go = decide(policy(requireApproval=False), d.book, at(1), model="iris", retrain_annotation="a")
    assert (go.action, go.reason) == ("Start", "ManualRequest")
    assert go.book.pending is None and go.book.in_flight == "iris-retrain-1"


def test_new_data_starts_a_retrain_once_per_new_revision_and_waits_for_the_guardrails() -> None:
    p = policy(triggers={"manual": True, "newData": True}, cooldown="1h")
    first = decide(p, Book(), T0, model="iris", data_revision=1)
    assert first.action == "Idle" and first.book.last_data_revision == 1  # the first revision seen is the baseline
    assert "a new Dataset revision (after revision 1)" in first.message
    assert decide(p, first.book, at(1), model="iris", data_revision=1).action == "Idle"
    new = decide(p, first.book, at(2), model="iris", data_revision=2)
    assert (new.action, new.reason) == ("Start", "NewData")
    assert "Dataset revision 2 is new (the last retrain took revision 1)" in new.message
    assert new.book.last_data_revision == 2 and new.book.in_flight == "iris-retrain-1"
    done = finished(new.book, "iris-retrain-1")
    assert decide(p, done, at(3), model="iris", data_revision=2).action == "Idle"  # revision 2 was taken
    held = decide(p, done, at(4), model="iris", data_revision=3)  # within the cooldown: waits, not forgotten
    assert (held.action, held.reason) == ("Wait", "CooldownActive") and held.book.last_data_revision == 2
    later = decide(p, held.book, at(63), model="iris", data_revision=3)  # the cooldown (from minute 2) freed
    assert (later.action, later.reason) == ("Start", "NewData") and later.book.last_data_revision == 3


def test_a_retrain_from_any_trigger_takes_the_current_revision() -> None:
    p = policy(triggers={"manual": True, "newData": True}, cooldown="0s")
    base = decide(p, Book(), T0, model="iris", data_revision=1).book
    manual = decide(p, base, at(1), model="iris", retrain_annotation="now", data_revision=2)
    assert (manual.action, manual.reason, manual.book.last_data_revision) == ("Start", "ManualRequest", 2)
    after = decide(p, finished(manual.book, "iris-retrain-1"), at(2), model="iris", data_revision=2)
    assert after.action == "Idle"  # revision 2 is not new data any more
    off = decide(policy(), Book(), T0, model="iris", data_revision=5)
    assert off.action == "Idle" and off.book.last_data_revision is None  # newData off: not tracked
    assert Book.from_wire(new_book := manual.book.wire()).last_data_revision == 2, new_book


def test_new_data_min_drift_holds_a_revision_that_barely_moved_and_says_so() -> None:
    """newDataMinDrift: a new revision starts a retrain only when its drift against production's revision
    reaches the threshold; a small one is idle with the numbers; an unknown drift still retrains."""
    p = policy(triggers={"manual": True, "newData": True, "newDataMinDrift": "0.2"}, cooldown="0s")
    base = decide(p, Book(), T0, model="iris", data_revision=1).book
    small = decide(p, base, at(1), model="iris", data_revision=2, data_drift=DataDrift(1, Decimal("0.03")))
    assert small.action == "Idle" and small.book.last_data_revision == 1
    assert ("Dataset revision 2 is new (the last retrain took revision 1) but its drift, PSI 0.03 against "
            "revision 1 (production's), is below newDataMinDrift 0.2") in small.message
    large = decide(p, base, at(2), model="iris", data_revision=3, data_drift=DataDrift(1, Decimal("0.41")))
    assert (large.action, large.reason) == ("Start", "NewData")
    assert "its drift, PSI 0.41 against revision 1 (production's), reaches newDataMinDrift 0.2" in large.message
    unknown = decide(p, base, at(3), model="iris", data_revision=3, data_drift=DataDrift(1, None))
    assert unknown.action == "Start" and "unknown, so newDataMinDrift 0.2 cannot hold it" in unknown.message
    nothing = decide(p, base, at(3), model="iris", data_revision=3, data_drift=None)  # no production version
    assert nothing.action == "Start"


def test_new_data_min_drift_without_new_data_is_refused_naming_both_fields() -> None:
    with pytest.raises(ValueError, match=r"newDataMinDrift needs newData: true .*got newDataMinDrift '0.2'"):
        policy(triggers={"manual": True, "newDataMinDrift": "0.2"})
