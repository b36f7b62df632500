"""Counting live traffic into the baseline bins from metadata.json (the drift signal).

Counts live in one int64 array per model and are updated once per model call with vectorised numpy, so the
per-request cost stays a few microseconds whatever the number of features. The bin convention is the one in
herder.storage.metadata: numeric bin = number of edges <= x; categorical bin = index of the category, or the
last bin for unseen values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from herder.serving.signature import Signature
from herder.storage.metadata import BaselineProfile, CategoricalBins, NumericBins


def category_key(value: Any) -> tuple[str, Any]:
    """Normalise a category so 1, 1.0 and numpy scalars match, while True and "1" stay distinct."""
    v = value.item() if hasattr(value, "item") else value
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", float(v))
    return ("s", str(v))


def numeric_bin(edges: list[float], value: float) -> int:
    """Reference implementation of the numeric bin index (used by tests and documentation)."""
    return int(np.searchsorted(np.asarray(edges), value, side="right"))


@dataclass
class FeatureBinCounter:
    """Per-(feature, bin) counts for every feature that has baseline bins."""

    feature_names: list[str]
    bin_counts: list[int]
    counts: np.ndarray
    _numeric_cols: np.ndarray = field(repr=False)
    _numeric_edges: np.ndarray = field(repr=False)
    _numeric_offsets: np.ndarray = field(repr=False)
    _categorical: list[tuple[int, int, dict[tuple[str, Any], int], int]] = field(repr=False)

    @classmethod
    def build(cls, sig: Signature, baseline: BaselineProfile | None) -> FeatureBinCounter:
        names: list[str] = []
        sizes: list[int] = []
        numeric: list[tuple[int, list[float], int]] = []
        categorical: list[tuple[int, int, dict[tuple[str, Any], int], int]] = []
        offset = 0
        bins = baseline.features if baseline else {}
        for col, feature in enumerate(sig.features):
            spec = bins.get(feature.name)
            if spec is None:
                continue
            names.append(feature.name)
            if isinstance(spec, NumericBins):
                numeric.append((col, spec.edges, offset))
                size = len(spec.edges) + 1
            else:
                assert isinstance(spec, CategoricalBins)
                lookup = {category_key(c): i for i, c in enumerate(spec.categories)}
                categorical.append((col, offset, lookup, len(spec.categories)))
                size = len(spec.categories) + 1
            sizes.append(size)
            offset += size
        width = max((len(e) for _, e, _ in numeric), default=0)
        edges = np.full((len(numeric), max(width, 1)), np.inf)
        for k, (_, e, _) in enumerate(numeric):
            edges[k, : len(e)] = e
        return cls(
            feature_names=names,
            bin_counts=sizes,
            counts=np.zeros(offset, dtype=np.int64),
            _numeric_cols=np.asarray([c for c, _, _ in numeric], dtype=np.intp),
            _numeric_edges=edges,
            _numeric_offsets=np.asarray([o for _, _, o in numeric], dtype=np.intp),
            _categorical=categorical,
        )

    def observe(self, matrix: np.ndarray) -> None:
        """Add one count per row and binned feature."""
        if self.counts.size == 0 or matrix.shape[0] == 0:
            return
        if self._numeric_cols.size:
            values = matrix[:, self._numeric_cols].astype(np.float64)
            index = (values[:, :, None] >= self._numeric_edges[None, :, :]).sum(axis=2) + self._numeric_offsets
            self.counts += np.bincount(index.ravel(), minlength=self.counts.size)
        for col, offset, lookup, other in self._categorical:
            for value in matrix[:, col]:
                self.counts[offset + lookup.get(category_key(value), other)] += 1

    def series(self) -> list[tuple[str, int, int]]:
        """(feature, bin index, count) for exposition, every bin included so PSI sees zeros too."""
        out: list[tuple[str, int, int]] = []
        offset = 0
        for name, size in zip(self.feature_names, self.bin_counts, strict=True):
            out.extend((name, b, int(self.counts[offset + b])) for b in range(size))
            offset += size
        return out
