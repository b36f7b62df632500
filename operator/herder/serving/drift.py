"""Counting live traffic into the baseline bins from metadata.json (the drift signal).

Counts live in one int64 array per model. Rows are buffered and binned in bulk (every FLUSH_ROWS rows, and
always before a scrape) with vectorised numpy: binning one row at a time costs ~15 us of numpy call overhead
for 20 features, binning 1,024 at once costs a fraction of a microsecond per row. The bin convention is the one in
herder.storage.metadata: numeric bin = number of edges <= x; categorical bin = index of the category, or the
last bin for unseen values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from herder.serving.signature import Signature
from herder.storage.metadata_reader import BaselineProfile, CategoricalBins, NumericBins

FLUSH_ROWS = 1024


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


MAX_TABLE_EDGES = 32


def _edge_table(edges: list[list[float]]) -> np.ndarray | None:
    """Edges as an (edge index, numeric feature) table padded with +inf, or None when some feature has so many
    edges that a binary search per value is cheaper than comparing against every edge."""
    if not edges or max(len(e) for e in edges) > MAX_TABLE_EDGES:
        return None
    table = np.full((max(len(e) for e in edges), len(edges)), np.inf)
    for k, feature_edges in enumerate(edges):
        table[: len(feature_edges), k] = feature_edges
    return table


@dataclass
class FeatureBinCounter:
    """Per-(feature, bin) counts for every feature that has baseline bins."""

    feature_names: list[str]
    bin_counts: list[int]
    counts: np.ndarray
    _numeric_cols: np.ndarray = field(repr=False)
    _numeric_edges: list[np.ndarray] = field(repr=False)
    _numeric_offsets: np.ndarray = field(repr=False)
    _edge_table: np.ndarray | None = field(repr=False)
    _categorical: list[tuple[int, int, dict[tuple[str, Any], int], int]] = field(repr=False)
    _pending: list[np.ndarray] = field(default_factory=list, repr=False)
    _pending_rows: int = 0

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
        return cls(
            feature_names=names,
            bin_counts=sizes,
            counts=np.zeros(offset, dtype=np.int64),
            _numeric_cols=np.asarray([c for c, _, _ in numeric], dtype=np.intp),
            _numeric_edges=[np.asarray(e, dtype=np.float64) for _, e, _ in numeric],
            _numeric_offsets=np.asarray([o for _, _, o in numeric], dtype=np.intp),
            _edge_table=_edge_table([e for _, e, _ in numeric]),
            _categorical=categorical,
        )

    def observe(self, matrix: np.ndarray) -> None:
        """Queue the rows for counting; they are binned in bulk by ``flush``."""
        if self.counts.size == 0 or matrix.shape[0] == 0:
            return
        self._pending.append(matrix)
        self._pending_rows += matrix.shape[0]
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def observe_all(self, matrices: list[np.ndarray]) -> None:
        """Bin the rows of all these matrices now (the caller queued them; one numpy pass for all)."""
        if self.counts.size == 0 or not matrices:
            return
        matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
        if matrix.shape[0]:
            self._count(matrix)

    def flush(self) -> None:
        """Bin every queued row into ``counts``."""
        if not self._pending:
            return
        matrix = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending = []
        self._pending_rows = 0
        self._count(matrix)

    def _count(self, matrix: np.ndarray) -> None:
        if self._numeric_cols.size:
            values = matrix[:, self._numeric_cols].astype(np.float64)
            if self._edge_table is not None:
                # bin = number of edges <= x, counted edge by edge for all features at once: a few vectorised
                # comparisons cost less than a binary search per value (measured ~1.5x for 20 features, 9 edges)
                index = np.zeros(values.shape, dtype=np.int8)  # at most MAX_TABLE_EDGES, so int8 holds it
                for edge_row in self._edge_table:
                    index += values >= edge_row
                flat = (index + self._numeric_offsets).ravel()
            else:
                flat = np.concatenate(
                    [
                        np.searchsorted(edges, values[:, k], side="right") + offset
                        for k, (edges, offset) in enumerate(
                            zip(self._numeric_edges, self._numeric_offsets, strict=True)
                        )
                    ]
                )
            self.counts += np.bincount(flat, minlength=self.counts.size)
        for col, offset, lookup, other in self._categorical:
            for value in matrix[:, col]:
                self.counts[offset + lookup.get(category_key(value), other)] += 1

    def series(self) -> list[tuple[str, int, int]]:
        """(feature, bin index, count) for exposition, every bin included so PSI sees zeros too."""
        self.flush()
        out: list[tuple[str, int, int]] = []
        offset = 0
        for name, size in zip(self.feature_names, self.bin_counts, strict=True):
            out.extend((name, b, int(self.counts[offset + b])) for b in range(size))
            offset += size
        return out
