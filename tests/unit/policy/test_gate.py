"""The promotion gate decides with exact decimals and says why, with the numbers."""

from __future__ import annotations

from herder.api.model import PromotionGate
from herder.policy.gate import evaluate_gate


def test_absolute_minimum() -> None:
    v = evaluate_gate(PromotionGate(metric="accuracy", min="0.9"), {"accuracy": "0.85"}, None)
    assert not v.passed
    assert v.message == "accuracy 0.85 is below the minimum 0.9"


def test_relative_gain_against_production() -> None:
    gate = PromotionGate(metric="accuracy", min="0.5", min_relative_gain="0.01")
    worse = evaluate_gate(gate, {"accuracy": "0.90"}, {"accuracy": "0.95"}, 3)
    assert not worse.passed
    assert "production v3 0.95" in worse.message
    better = evaluate_gate(gate, {"accuracy": "0.97"}, {"accuracy": "0.95"}, 3)
    assert better.passed
    assert better.wire("T")["relativeGain"] == "0.021053"


def test_lower_is_better_flips_the_gain() -> None:
    gate = PromotionGate(metric="rmse", max="65", min_relative_gain="0.01")
    assert evaluate_gate(gate, {"rmse": "50"}, {"rmse": "55"}, 1).passed
    assert not evaluate_gate(gate, {"rmse": "56"}, {"rmse": "55"}, 1).passed
    assert not evaluate_gate(gate, {"rmse": "70"}, None).passed


def test_missing_metric_is_named() -> None:
    v = evaluate_gate(PromotionGate(metric="f1"), {"accuracy": "1"}, None)
    assert not v.passed
    assert v.message == "metric 'f1' missing from the version's metrics (accuracy)"
