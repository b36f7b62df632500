"""How far a Dataset's new content moved from an earlier revision: PSI per column, in that revision's own bins.

Why in the validation pod: PSI needs both distributions in the same bins, and a new revision's bins are fitted
to the new data. The validator has the new rows and the request carries the earlier revision's bins (its
``status.profile``), so it counts the rows into those bins here; the operator only ever sees the summary. The
statistic is the one drift monitoring uses (:func:`herder.policy.drift.feature_drift`, PSI with the same floor),
so "drift 0.3" means the same thing on a Dataset revision and on live traffic. The target column is compared
like any other (a label shift is a shift in the data a retrain would learn from).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from herder.api.dataset import ColumnProfile
from herder.policy.drift import BinCounts, baseline_from_profile, feature_drift
from herder.storage.metadata import CategoricalBins, FeatureBins, NumericBins
from herder.training.requests import DriftReference
from herder.training.results import RevisionDrift

TOP_COLUMNS = 5
"""Columns with the largest PSI reported per reference (the status stays small)."""


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def bin_counts(series: pd.Series, bins: FeatureBins) -> tuple[float, ...]:
    """Rows of ``series`` per bin, with the convention of :mod:`herder.storage.metadata` (numeric bin = number of
    edges <= x; categorical: the category's index, unseen values in the last bin). Missing values are not
    counted (the profile's bins count present values only)."""
    present = series.dropna()
    if isinstance(bins, NumericBins):
        values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        index = np.searchsorted(np.asarray(bins.edges, dtype=np.float64), values, side="right")
        return tuple(float(c) for c in np.bincount(index, minlength=len(bins.edges) + 1))
    assert isinstance(bins, CategoricalBins)
    known = {str(c): i for i, c in enumerate(bins.categories)}
    counts = np.zeros(len(bins.categories) + 1, dtype=np.float64)
    for value, n in present.value_counts(sort=False).items():
        counts[known.get(str(_python(value)), len(bins.categories))] += n
    return tuple(float(c) for c in counts)


def drift_against(frame: pd.DataFrame, reference: DriftReference) -> RevisionDrift:
    """PSI of every column of ``frame`` that the reference profile has bins for."""
    columns = []
    for raw in reference.profile:
        try:
            columns.append(ColumnProfile.model_validate(raw))
        except ValueError:
            continue  # a damaged entry compares nothing; the others still do
    everything = baseline_from_profile(columns)
    gone = [f"{name}: not in the new content" for name in everything.features if name not in frame.columns]
    baseline = baseline_from_profile([c for c in columns if c.name in frame.columns])
    counts: Mapping[str, tuple[float, ...]] = {
        name: bin_counts(frame[name], spec) for name, spec in baseline.features.items()}
    values, skipped = feature_drift("FeatureDriftPSI", baseline, BinCounts(features=counts))
    skipped += gone
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ranked[0] if ranked else None
    return RevisionDrift(revision=reference.revision, value=float(top[1]) if top else None,
                         column=top[0] if top else None,
                         columns={k: float(v) for k, v in ranked[:TOP_COLUMNS]}, skipped=skipped)
