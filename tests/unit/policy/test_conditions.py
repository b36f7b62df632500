"""Condition bookkeeping follows the Kubernetes conventions users rely on in `kubectl wait` and dashboards."""

from __future__ import annotations

from herder.controllers.scaffold import Outcome, _same, desired_status, event_type, transition_events
from herder.policy.conditions import Cond, merge_conditions, transitions


def test_transition_time_moves_only_when_status_flips() -> None:
    first = merge_conditions(None, [Cond("Ready", "False", "DatasetNotFound", "x")], 1, "T1")
    same = merge_conditions(first, [Cond("Ready", "False", "DatasetNotFound", "y")], 2, "T2")
    flipped = merge_conditions(same, [Cond("Ready", "True", "Ready", "")], 2, "T3")
    assert first[0]["lastTransitionTime"] == "T1"
    assert same[0]["lastTransitionTime"] == "T1"
    assert same[0]["observedGeneration"] == 2
    assert same[0]["message"] == "y"
    assert flipped[0]["lastTransitionTime"] == "T3"


def test_other_condition_types_are_kept() -> None:
    old = merge_conditions(None, [Cond("Validated", "True", "Valid")], 1, "T1")
    new = merge_conditions(old, [Cond("Ready", "True", "Ready")], 1, "T2")
    assert [c["type"] for c in new] == ["Ready", "Validated"]


def test_transitions_are_what_gets_an_event() -> None:
    old = merge_conditions(None, [Cond("Ready", "False", "DatasetNotFound", "a")], 1, "T1")
    assert transitions(old, [Cond("Ready", "False", "DatasetNotFound", "b")]) == []
    assert transitions(old, [Cond("Ready", "False", "FeatureSetNotFound")]) == [
        Cond("Ready", "False", "FeatureSetNotFound")]
    assert transitions(old, [Cond("Ready", "True", "Ready")]) == [Cond("Ready", "True", "Ready")]


def test_event_types() -> None:
    assert event_type(Cond("Ready", "False", "DatasetNotFound")) == "Warning"
    assert event_type(Cond("Ready", "False", "Progressing")) == "Normal"
    assert event_type(Cond("Ready", "True", "Ready")) == "Normal"
    assert event_type(Cond("Degraded", "True", "RolledBack")) == "Warning"


def test_unchanged_outcome_means_no_write() -> None:
    """The no-op resync rule: recomputing the same outcome yields a status equal to the stored one."""
    outcome = Outcome([Cond("Ready", "True", "Ready", "ok")], fields={"url": "http://x"})
    first = desired_status({}, outcome, 3)
    again = desired_status(first, outcome, 3)
    assert _same(first, again)
    assert not _same(first, desired_status(first, outcome, 4))  # a new generation is observed: write
    assert not _same(first, desired_status(first, Outcome([Cond("Ready", "True", "Ready", "ok")]
                                                          , fields={"url": None}), 3))


def test_a_successful_training_run_is_told_once_and_without_warnings() -> None:
    """What a user saw before: Warning Completed "Running is False", Normal Trained "Failed is False"."""
    old = [{"type": "Running", "status": "True", "reason": "Training"},
           {"type": "Ready", "status": "False", "reason": "Training"}]
    done = Outcome([Cond("Succeeded", "True", "Trained", "produced ModelVersion iris-v1"),
                    Cond("Failed", "False", "Trained", ""), Cond("Running", "False", "Completed", ""),
                    Cond("Ready", "True", "Trained", "version 1 of Model 'iris'")],
                   events=[("Normal", "VersionCreated", "ModelVersion iris-v1 created")])
    assert transition_events(old, done) == [("Normal", "Trained", "produced ModelVersion iris-v1"),
                                            ("Normal", "VersionCreated", "ModelVersion iris-v1 created")]


def test_the_same_text_is_posted_once_and_a_recovery_is_news() -> None:
    searching = Outcome([Cond("Running", "True", "Searching", "Job s: 2/6 trials done"),
                         Cond("Ready", "False", "Training", "Job s: 2/6 trials done")])
    assert transition_events(None, searching) == [("Normal", "Searching", "Job s: 2/6 trials done")]
    stable = Outcome([Cond("Progressing", "False", "Stable", "serving version 1"),
                      Cond("Ready", "True", "Serving", "2 replicas ready")])
    assert transition_events(None, stable) == [("Normal", "Serving", "2 replicas ready")]  # no Warning Stable
    degraded = [{"type": "Degraded", "status": "True", "reason": "AnalysisFailed"}]
    healed = Outcome([Cond("Degraded", "False", "Healthy", "no failed analysis")])
    assert transition_events(degraded, healed) == [("Normal", "Healthy", "no failed analysis")]
    aborted = Outcome([Cond("Degraded", "True", "RolloutAborted", "version 3 aborted: error-rate 1 > 0.05")],
                      events=[("Warning", "RolloutAborted", "version 3 aborted: error-rate 1 > 0.05")])
    assert transition_events(None, aborted) == [("Warning", "RolloutAborted", "version 3 aborted: error-rate 1 > 0.05")]
