"""Drift statistics against known values, and the measurement a drift check sees."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from herder.api.dataset import ColumnProfile
from herder.policy.analysis import Measurement
from herder.policy.drift import (
    PSI_EPSILON,
    BinCounts,
    DriftScrape,
    baseline_from_profile,
    jensen_shannon,
    measure_drift,
    psi,
    window_counts,
)
from herder.storage.metadata import BaselineProfile

BASELINE = BaselineProfile.model_validate({
    "features": {
        "age": {"kind": "numeric", "edges": [20.0, 40.0, 60.0], "fractions": [0.1, 0.2, 0.3, 0.4]},
        "plan": {"kind": "categorical", "categories": ["free", "pro"], "fractions": [0.5, 0.5, 0.0]},
    },
    "prediction": {"kind": "categorical", "categories": [0, 1], "fractions": [0.7, 0.3, 0.0]},
})


def counts(age: list[float], plan: list[float], classes: dict[str, float] | None = None) -> BinCounts:
    return BinCounts({"age": tuple(age), "plan": tuple(plan)}, classes or {})


def test_identical_distributions_have_zero_drift() -> None:
    assert psi([0.1, 0.2, 0.3, 0.4], [10, 20, 30, 40]) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-7)
    m = measure_drift("FeatureDriftPSI", BASELINE, counts([100, 200, 300, 400], [500, 500, 0]), 100)
    assert m.value == Decimal(0) and m.samples == 1000
    assert m.features == {"age": Decimal(0), "plan": Decimal(0)}


def test_psi_textbook_example_by_hand() -> None:
    # (0.2-0.1)ln(0.2/0.1) + 0 + 0 + (0.3-0.4)ln(0.3/0.4) = 0.1*0.693147 + 0.1*0.287682 = 0.0980829
    assert psi([0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.3, 0.3]) == pytest.approx(0.0980829, abs=1e-6)


def test_psi_floors_empty_bins_at_epsilon() -> None:
    # baseline bin 2 is empty: its term is (0.5 - 1e-4) * ln(0.5 / 1e-4), finite
    value = psi([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert value == pytest.approx(expected)
    assert math.isfinite(value)


def test_jensen_shannon_known_value_symmetric_and_bounded() -> None:
    # m = (0.75, 0.25); KL(p|m) = log2(4/3) = 0.415037; KL(q|m) = 0.207519; JSD = 0.311278; sqrt = 0.557923
    assert jensen_shannon([1, 0], [0.5, 0.5]) == pytest.approx(0.557923, abs=1e-6)
    p, q = [0.1, 0.6, 0.3], [0.4, 0.1, 0.5]
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p))
    assert 0 < jensen_shannon(p, q) < 1
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)  # disjoint: the upper bound


def test_mismatched_bins_or_no_observations_are_named() -> None:
    with pytest.raises(ValueError, match="bins disagree: 3 expected vs 2 actual"):
        psi([1, 1, 1], [1, 1])
    with pytest.raises(ValueError, match="no observations"):
        jensen_shannon([0, 0], [1, 1])


def test_shifted_traffic_is_large_and_names_the_worst_feature() -> None:
    shifted = counts([0, 0, 100, 900], [480, 520, 0])  # age moved to the top bins, plan unchanged
    m = measure_drift("FeatureDriftPSI", BASELINE, shifted, 100)
    assert isinstance(m, Measurement)
    assert m.value is not None and m.value > Decimal("0.25")
    assert m.value == m.features["age"] > m.features["plan"]
    assert "feature 'age'" in m.message and str(m.value) in m.message and "1000 rows" in m.message
    js = measure_drift("FeatureDriftJensenShannon", BASELINE, shifted, 100)
    assert js.value is not None and Decimal("0.4") < js.value <= 1
    assert "Jensen-Shannon distance" in js.message and m.wire_features()["age"] == str(m.features["age"])


def test_few_samples_are_inconclusive_never_healthy() -> None:
    few = counts([1, 2, 3, 4], [5, 5, 0])  # 10 rows, identical shape to the baseline
    m = measure_drift("FeatureDriftPSI", BASELINE, few, 100)
    assert m.value is None and m.samples == 10
    assert "10 rows in the window, fewer than the 100 needed (minSamples): inconclusive" in m.message
    none = measure_drift("FeatureDriftJensenShannon", BASELINE, BinCounts(), 0)
    assert none.value is None and none.samples == 0  # zero rows is inconclusive even with minSamples 0


def test_prediction_drift_on_class_counts_and_regression_bins() -> None:
    same = measure_drift("PredictionDriftPSI", BASELINE, counts([], [], {"0": 700, "1": 300}), 50)
    assert same.value == Decimal(0) and same.features == {"prediction": Decimal(0)}
    flipped = measure_drift("PredictionDriftPSI", BASELINE, counts([], [], {"0": 300, "1": 700}), 50)
    # (0.3-0.7)ln(0.3/0.7) + (0.7-0.3)ln(0.7/0.3) = 0.8 * ln(7/3) = 0.677838
    assert flipped.value == Decimal("0.677838")
    few = measure_drift("PredictionDriftPSI", BASELINE, counts([], [], {"0": 3}), 50)
    assert few.value is None and "3 predictions" in few.message
    reg = BaselineProfile.model_validate(
        {"prediction": {"kind": "numeric", "edges": [0.0, 10.0], "fractions": [0.2, 0.6, 0.2]}})
    m = measure_drift("PredictionDriftPSI", reg, BinCounts(prediction_bins=(20, 60, 20)), 10)
    assert m.value == Decimal(0) and m.samples == 100
    wrong = measure_drift("PredictionDriftPSI", reg, BinCounts(prediction_bins=(20, 80)), 10)
    assert wrong.value is None and "2 live prediction bins vs 3 baseline bins" in wrong.message


def test_what_cannot_be_compared_is_said() -> None:
    assert "no baseline profile" in measure_drift("FeatureDriftPSI", None, counts([1] * 4, [1] * 3), 0).message
    assert "not a drift metric" in measure_drift("ErrorRate", BASELINE, BinCounts(), 0).message
    bad = BinCounts({"age": (50.0, 50.0), "plan": (100.0, 0.0, 0.0)})
    m = measure_drift("FeatureDriftPSI", BASELINE, bad, 10)
    assert set(m.features) == {"plan"} and "age: 2 live bins vs 4 baseline bins" in m.message
    empty = BaselineProfile()
    assert measure_drift("FeatureDriftPSI", empty, BinCounts(), 100).message == "the baseline has no feature bins"
    assert "no prediction distribution" in measure_drift("PredictionDriftPSI", empty, BinCounts(), 100).message
    no_fractions = BaselineProfile.model_validate({"features": {"x": {"kind": "numeric", "edges": [1.0]}}})
    m = measure_drift("FeatureDriftPSI", no_fractions, BinCounts({"x": (5.0, 5.0)}), 1)
    assert m.value is None and "x: the baseline has no bin fractions" in m.message


def test_window_counts_are_per_pod_and_survive_restarts_and_new_pods() -> None:
    before = DriftScrape(0.0, {"a/1": counts([10, 10, 10, 10], [20, 20, 0], {"0": 40}),
                               "b/2": counts([50, 0, 0, 0], [50, 0, 0])})
    after = DriftScrape(60.0, {
        "a/1": counts([15, 10, 10, 10], [25, 20, 0], {"0": 45}),  # +5 rows
        "b/2": counts([3, 0, 0, 0], [3, 0, 0]),  # restarted: its whole count (3) happened in the window
        "c/3": counts([0, 0, 0, 7], [0, 7, 0]),  # new pod: its whole count
    })
    total = window_counts(before, after)
    assert total.features["age"] == (8, 0, 0, 7) and total.features["plan"] == (8, 7, 0)
    assert total.classes == {"0": 5} and total.rows() == 15
    assert window_counts(None, after).rows() == 45 + 3 + 7  # no previous: the pods' lifetimes


def test_baseline_from_dataset_status_profile() -> None:
    columns = [ColumnProfile.model_validate(c) for c in [
        {"name": "age", "bins": {"strategy": "quantile", "edges": ["20", "40", "60"], "counts": [1, 2, 3, 4]}},
        {"name": "plan", "bins": {"categories": ["free", "pro"], "counts": [5, 5, 0]}},
        {"name": "label", "bins": {"categories": ["0", "1"], "counts": [7, 3, 0]}},
        {"name": "trimmed"},
    ]]
    b = baseline_from_profile(columns, target="label")
    assert set(b.features) == {"age", "plan"}
    assert b.features["age"].fractions == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert b.prediction is not None and b.prediction.fractions == pytest.approx([0.7, 0.3, 0.0])
    m = measure_drift("PredictionDriftPSI", b, BinCounts(classes={"0": 70, "1": 30}), 10)
    assert m.value == Decimal(0)
    assert set(baseline_from_profile(columns, features=["plan"]).features) == {"plan"}
