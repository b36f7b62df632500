"""Condition helpers: lastTransitionTime only moves when the status flips."""

from __future__ import annotations

from herder.api import Condition, find_condition, is_true, remove_condition, set_condition


def test_new_condition_gets_now() -> None:
    conds = set_condition(None, "Ready", "False", "Pending", "waiting", observed_generation=1, now="T1")
    assert conds == [Condition(type="Ready", status="False", reason="Pending", message="waiting",
                               last_transition_time="T1", observed_generation=1)]


def test_same_status_keeps_transition_time_but_updates_the_rest() -> None:
    conds = set_condition(None, "Ready", "False", "Pending", now="T1")
    conds = set_condition(conds, "Ready", "False", "DatasetNotFound", "dataset x missing", observed_generation=2,
                          now="T2")
    c = find_condition(conds, "Ready")
    assert c is not None
    assert (c.last_transition_time, c.reason, c.observed_generation) == ("T1", "DatasetNotFound", 2)


def test_flip_moves_transition_time() -> None:
    conds = set_condition(None, "Ready", "False", "Pending", now="T1")
    conds = set_condition(conds, "Ready", "True", "Serving", now="T2")
    assert find_condition(conds, "Ready").last_transition_time == "T2"  # type: ignore[union-attr]
    assert is_true(conds, "Ready")


def test_other_types_are_kept_and_order_is_stable() -> None:
    conds = set_condition(None, "Ready", "True", "Serving", now="T1")
    conds = set_condition(conds, "Degraded", "False", "Healthy", now="T1")
    conds = set_condition(conds, "Progressing", "True", "CanaryStep", now="T1")
    assert [c.type for c in conds] == ["Degraded", "Progressing", "Ready"]
    assert [c.type for c in remove_condition(conds, "Progressing")] == ["Degraded", "Ready"]
    assert not is_true(conds, "Missing")


def test_unchanged_update_compares_equal() -> None:
    conds = set_condition(None, "Ready", "True", "Serving", "ok", observed_generation=1, now="T1")
    assert set_condition(conds, "Ready", "True", "Serving", "ok", observed_generation=1, now="T9") == conds


def test_wire_form_is_camel_case() -> None:
    c = set_condition(None, "Ready", "True", "Serving", observed_generation=3, now="2026-01-01T00:00:00Z")[0]
    assert c.wire() == {"type": "Ready", "status": "True", "reason": "Serving", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 3}
