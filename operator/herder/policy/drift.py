"""Drift statistics, as pure functions: the serving pods' per-bin counters -> per-pod deltas over a window -> PSI
or Jensen-Shannon distance against the training baseline -> a :class:`~herder.policy.analysis.Measurement`.

The server never ships raw rows: it counts every input row into the fixed bins of the training baseline
(``herder_feature_bin_total{feature, bin}``) and every prediction into the class counts (``herder_predictions_total
{class}``, classification) or the baseline bins of the predicted value (``herder_prediction_bin_total{bin}``,
regression). The bin convention is the one of :mod:`herder.storage.metadata` (k + 1 bins for k numeric edges or
k categories; the last categorical bin counts unseen values).

Why per-pod deltas: as for rollout analysis (see :mod:`herder.policy.analysis`), every pod's counters start at zero
with its process, so the window's counts are taken per pod (a new or restarted pod contributes its whole count)
and then summed.

Statistics:
- PSI (population stability index) = sum_i (a_i - e_i) * ln(a_i / e_i), with e the baseline fractions and a the
  live fractions. An empty bin would make the logarithm infinite, so both fractions are floored at
  :data:`PSI_EPSILON` (1e-4, the usual choice) before the sum; every term is non-negative, so no renormalisation
  is needed. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 a significant shift.
- Jensen-Shannon distance = sqrt(JSD) with base-2 logarithms: symmetric, defined for empty bins (0 log 0 = 0),
  always within 0..1 (1 = disjoint supports). Better than PSI when bins empty out or new categories appear.

Why "too little traffic is inconclusive": with 20 rows over 10 bins every window looks drifted (or not) by chance.
Below ``min_samples`` live rows the measurement has no value, so the check is Inconclusive (or a failure with
``noData: Fail``) -- never a healthy pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from herder.api.common import from_decimal
from herder.policy.analysis import Measurement
from herder.storage.metadata import BaselineProfile, CategoricalBins, FeatureBins, NumericBins

if TYPE_CHECKING:
    from herder.api.dataset import ColumnProfile

PSI_EPSILON = 1e-4
"""Floor of a bin fraction in PSI (baseline and live), so an empty bin adds a large but finite term."""

DEFAULT_MIN_SAMPLES = 100
"""Live rows a drift check needs when its ``minSamples`` is not set (callers pass it as ``min_samples``)."""

DRIFT_METRICS = frozenset({"FeatureDriftPSI", "FeatureDriftJensenShannon", "PredictionDriftPSI"})
"""The builtin drift metrics :func:`measure_drift` computes."""

DIGITS = 6
"""Decimal places of a reported drift value."""


# ---------------------------------------------------------------------------------------------- counts
@dataclass(frozen=True)
class BinCounts:
    """One pod's (or a sum of pods') drift counters for one model version."""

    features: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """Feature -> rows per bin, indexed by bin number (every bin the server exports, zeros included)."""
    classes: Mapping[str, float] = field(default_factory=dict)
    """Predicted class label (as the server prints it) -> rows (classification)."""
    prediction_bins: tuple[float, ...] = ()
    """Rows per bin of the predicted value (regression with baseline prediction bins)."""

    def rows(self) -> int:
        """Input rows counted (every row lands in one bin of every feature, so the largest feature total)."""
        return int(max((sum(c) for c in self.features.values()), default=0.0))

    def predictions(self) -> int:
        """Predictions counted (classes, or the regression prediction bins)."""
        return int(sum(self.classes.values()) + sum(self.prediction_bins))

    def _decreased(self, before: BinCounts) -> bool:
        for name, old in before.features.items():
            new = self.features.get(name)
            if new is not None and any(n < o for n, o in zip(new, old, strict=False)):
                return True
        if any(self.classes.get(k, 0.0) < v for k, v in before.classes.items() if k in self.classes):
            return True
        return any(n < o for n, o in zip(self.prediction_bins, before.prediction_bins, strict=False))

    def minus(self, before: BinCounts | None) -> BinCounts:
        """The increase since ``before``; the whole count when there is no earlier value or any counter went down
        (the pod's process restarted)."""
        if before is None or self._decreased(before):
            return self
        return BinCounts(
            {name: _sub(c, before.features.get(name, ())) for name, c in self.features.items()},
            {k: v - before.classes.get(k, 0.0) for k, v in self.classes.items()},
            _sub(self.prediction_bins, before.prediction_bins),
        )

    def plus(self, other: BinCounts) -> BinCounts:
        features = dict(self.features)
        for name, c in other.features.items():
            features[name] = _add(features.get(name, ()), c)
        classes = dict(self.classes)
        for k, v in other.classes.items():
            classes[k] = classes.get(k, 0.0) + v
        return BinCounts(features, classes, _add(self.prediction_bins, other.prediction_bins))


def _sub(a: Sequence[float], b: Sequence[float]) -> tuple[float, ...]:
    return tuple(x - (b[i] if i < len(b) else 0.0) for i, x in enumerate(a))


def _add(a: Sequence[float], b: Sequence[float]) -> tuple[float, ...]:
    n = max(len(a), len(b))
    return tuple((a[i] if i < len(a) else 0.0) + (b[i] if i < len(b) else 0.0) for i in range(n))


@dataclass(frozen=True)
class DriftScrape:
    """Drift counters of every reachable pod at one moment (``at``: seconds on any monotonic clock); the twin of
    :class:`herder.policy.analysis.Scrape`, taken by the same scrape."""

    at: float
    pods: Mapping[str, BinCounts] = field(default_factory=dict)
    """Pod identity (name/uid) -> its drift counters."""
    unreachable: tuple[str, ...] = ()
    """Pods whose /metrics could not be read."""


def window_counts(previous: DriftScrape | None, current: DriftScrape) -> BinCounts:
    """What was counted between two scrapes, summed over the pods of ``current`` (per-pod deltas). Without a
    previous scrape: everything the pods counted since they started (their whole lifetime as the window)."""
    total = BinCounts()
    for pod, counts in current.pods.items():
        total = total.plus(counts.minus(previous.pods.get(pod) if previous is not None else None))
    return total


# ---------------------------------------------------------------------------------------------- statistics
def _fractions(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    if total <= 0:
        raise ValueError("no observations: fractions of an all-zero count vector are undefined")
    return [c / total for c in counts]


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = PSI_EPSILON) -> float:
    """Population stability index between two distributions over the same bins (fractions or counts; each is
    normalised). Empty bins are floored at ``epsilon`` (see module doc)."""
    if len(expected) != len(actual):
        raise ValueError(f"bins disagree: {len(expected)} expected vs {len(actual)} actual")
    e, a = _fractions(expected), _fractions(actual)
    total = 0.0
    for e_raw, a_raw in zip(e, a, strict=True):
        ei, ai = max(e_raw, epsilon), max(a_raw, epsilon)
        total += (ai - ei) * math.log(ai / ei)
    return total


def jensen_shannon(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon distance (square root of the divergence, base-2 logarithms): symmetric, in 0..1."""
    if len(p) != len(q):
        raise ValueError(f"bins disagree: {len(p)} vs {len(q)}")
    pf, qf = _fractions(p), _fractions(q)
    divergence = 0.0
    for pi, qi in zip(pf, qf, strict=True):
        m = (pi + qi) / 2
        if pi > 0:
            divergence += 0.5 * pi * math.log2(pi / m)
        if qi > 0:
            divergence += 0.5 * qi * math.log2(qi / m)
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def _bins_of(spec: NumericBins | CategoricalBins) -> int:
    return len(spec.edges) + 1 if isinstance(spec, NumericBins) else len(spec.categories) + 1


def _decimal(x: float) -> Decimal:
    return Decimal(str(round(x, DIGITS)))


# ---------------------------------------------------------------------------------------------- measurement
@dataclass(frozen=True)
class DriftMeasurement(Measurement):
    """A drift :class:`Measurement` (value = the largest per-feature value) with the per-feature values."""

    features: Mapping[str, Decimal] = field(default_factory=dict)
    """Feature (or ``prediction``) -> its statistic, for ``MetricValue.features`` on status and the report."""
    skipped: tuple[str, ...] = ()
    """Features that could not be compared, each with the reason (also named in the message)."""

    def wire_features(self) -> dict[str, str]:
        """The per-feature values as a DecimalMap (decimal strings) for status."""
        return {name: from_decimal(v) for name, v in self.features.items()}


def feature_drift(metric: str, baseline: BaselineProfile, counts: BinCounts) -> tuple[dict[str, Decimal],
                                                                                       list[str]]:
    """Per-feature PSI (``FeatureDriftPSI``) or Jensen-Shannon distance (``FeatureDriftJensenShannon``) of the
    window's counts against the baseline fractions, and the features skipped with the reason."""
    stat = psi if metric == "FeatureDriftPSI" else jensen_shannon
    values: dict[str, Decimal] = {}
    skipped: list[str] = []
    for name, spec in sorted(baseline.features.items()):
        live = counts.features.get(name)
        if spec.fractions is None:
            skipped.append(f"{name}: the baseline has no bin fractions")
        elif live is None:
            skipped.append(f"{name}: the serving pods export no bin counts for it")
        elif len(live) != _bins_of(spec):
            skipped.append(f"{name}: {len(live)} live bins vs {_bins_of(spec)} baseline bins")
        elif sum(live) <= 0:
            skipped.append(f"{name}: no live rows")
        else:
            values[name] = _decimal(stat(spec.fractions, live))
    return values, skipped


def prediction_drift(baseline: BaselineProfile, counts: BinCounts) -> tuple[Decimal | None, str]:
    """PSI of the predictions against the baseline prediction distribution: class counts for classification
    (the baseline's categories are the classes; its last, "other" bin gets no live rows), value bins for
    regression. (None, why) when it cannot be compared."""
    spec = baseline.prediction
    if spec is None or spec.fractions is None:
        return None, "the baseline has no prediction distribution"
    if isinstance(spec, CategoricalBins):
        if not counts.classes:
            return None, "the serving pods export no prediction class counts"
        live = [counts.classes.get(str(c), 0.0) for c in spec.categories]
        unknown = sum(v for k, v in counts.classes.items() if k not in {str(c) for c in spec.categories})
        live.append(unknown)
    else:
        if not counts.prediction_bins:
            return None, "the serving pods export no prediction bins"
        live = list(counts.prediction_bins)
        if len(live) != _bins_of(spec):
            return None, f"{len(live)} live prediction bins vs {_bins_of(spec)} baseline bins"
    if sum(live) <= 0:
        return None, "no live predictions"
    return _decimal(psi(spec.fractions, live)), ""


def measure_drift(metric: str, baseline: BaselineProfile | None, delta: BinCounts,
                  min_samples: int) -> DriftMeasurement:
    """The value of a builtin drift metric over a window's counts (see :func:`window_counts`).

    ``FeatureDriftPSI`` / ``FeatureDriftJensenShannon``: the largest per-feature value, the message naming the
    worst feature; ``PredictionDriftPSI``: the PSI of the predictions (``features`` = {"prediction": value}).
    No value (inconclusive) without a baseline, below ``min_samples`` live rows (at least 1), or when no feature
    can be compared; the message says which."""
    if metric not in DRIFT_METRICS:
        return DriftMeasurement(None, 0, f"{metric} is not a drift metric ({', '.join(sorted(DRIFT_METRICS))})")
    if baseline is None:
        return DriftMeasurement(None, 0, "the model version has no baseline profile to compare with")
    needed = max(min_samples, 1)
    if metric == "PredictionDriftPSI":
        if baseline.prediction is None or baseline.prediction.fractions is None:
            return DriftMeasurement(None, delta.predictions(), "the baseline has no prediction distribution")
        samples = delta.predictions()
        if samples < needed:
            return DriftMeasurement(None, samples, f"{samples} predictions in the window, fewer than the "
                                                   f"{needed} needed (minSamples): inconclusive")
        value, why = prediction_drift(baseline, delta)
        if value is None:
            return DriftMeasurement(None, samples, why)
        return DriftMeasurement(value, samples, f"prediction PSI {from_decimal(value)} over {samples} predictions",
                                {"prediction": value})
    samples = delta.rows()
    if not baseline.features:
        return DriftMeasurement(None, samples, "the baseline has no feature bins")
    if samples < needed:
        return DriftMeasurement(None, samples, f"{samples} rows in the window, fewer than the {needed} needed "
                                               f"(minSamples): inconclusive")
    values, skipped = feature_drift(metric, baseline, delta)
    note = f"; skipped {'; '.join(skipped)}" if skipped else ""
    if not values:
        return DriftMeasurement(None, samples, f"no feature could be compared with the baseline{note}",
                                skipped=tuple(skipped))
    worst = max(sorted(values), key=values.__getitem__)  # the first by name on a tie
    label = "PSI" if metric == "FeatureDriftPSI" else "Jensen-Shannon distance"
    return DriftMeasurement(values[worst], samples,
                            f"largest {label} {from_decimal(values[worst])} on feature {worst!r} over {samples} rows "
                            f"({len(values)} features compared){note}", values, tuple(skipped))


# ---------------------------------------------------------------------------------------------- baseline
def baseline_from_profile(columns: Sequence[ColumnProfile], features: Sequence[str] | None = None,
                          target: str | None = None) -> BaselineProfile:
    """A baseline built from a Dataset's ``status.profile`` (the bins the trainer also wrote into metadata.json),
    for an operator that cannot read the artifact store. ``features`` limits the columns (default: every column
    with bins except ``target``); the ``target`` column's categorical bins become the prediction baseline of a
    classifier (the class shares of the training data). Columns whose bins have neither fractions nor counts,
    or disagree with their edges/categories, are left out (trimmed or damaged profiles)."""
    wanted = set(features) if features is not None else None
    out: dict[str, FeatureBins] = {}
    prediction: FeatureBins | None = None
    for col in columns:
        bins = _column_bins(col)
        if bins is None:
            continue
        if target is not None and col.name == target:
            prediction = bins if isinstance(bins, CategoricalBins) else None
        elif wanted is None or col.name in wanted:
            out[col.name] = bins
    return BaselineProfile(features=out, prediction=prediction)


def _column_bins(col: ColumnProfile) -> FeatureBins | None:
    b = col.bins
    if b is None:
        return None
    raw: list[float] | None = None
    if b.fractions is not None:
        raw = [float(Decimal(f)) for f in b.fractions]
    elif b.counts is not None:
        raw = [float(c) for c in b.counts]
    if raw is None or sum(raw) <= 0 or any(not math.isfinite(x) or x < 0 for x in raw):
        return None
    fractions = [x / sum(raw) for x in raw]
    try:
        if b.edges:
            return NumericBins(edges=[float(Decimal(e)) for e in b.edges], fractions=fractions)
        if b.categories:
            return CategoricalBins(categories=list(b.categories), fractions=fractions)
    except ValueError:
        return None
    return None
