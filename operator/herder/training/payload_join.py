"""Production traffic as training data: a window of payload-log parts, predictions joined with feedback labels.

The serving pods write parquet parts (``herder.serving.payload_log``) under
``<root>/<model>/v<version>/dt=<day>/hour=<hour>/``; this reads the parts of a time window, keeps one prediction
per request id and the latest label per request id, and returns one row per predicted row that has a label:
the version's features (in signature order) plus the target column. Everything that does not make a row is
counted by reason, so the join's status can say what was dropped and why, and nothing in the input stops it:

- ``corrupt_parts``: a part that is not readable parquet with the expected columns (skipped, named);
- ``duplicate_predictions`` / ``duplicate_feedback``: the same request id again (first prediction and last
  label win: a later label is a correction);
- ``unknown_feedback``: a label for a request id with no prediction in the window;
- ``row_count_mismatch``: a label list whose length differs from the request's rows;
- ``labels_outside_classes``: a label that is not one of the version's classes (classification);
- ``unlabeled``: predicted rows that never got a label (the label coverage is labeled / predicted rows).

Window selection uses the ``dt=/hour=`` directories first (no part outside the window is opened), then each
record's timestamp.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

HOUR_DIR = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")
REQUIRED_COLUMNS = frozenset({"kind", "id", "ts"})


class Feature(Protocol):
    @property
    def name(self) -> str: ...


@dataclass
class JoinStats:
    """What the join read, produced and dropped (by reason)."""

    parts: int = 0
    predictions: int = 0
    feedback: int = 0
    predicted_rows: int = 0
    rows: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    corrupt: list[str] = field(default_factory=list)

    @property
    def label_coverage(self) -> float:
        return self.rows / self.predicted_rows if self.predicted_rows else 0.0

    def wire(self) -> dict[str, Any]:
        return {"parts": self.parts, "predictions": self.predictions, "feedback": self.feedback,
                "predictedRows": self.predicted_rows, "rows": self.rows,
                "labelCoverage": round(self.label_coverage, 6), "dropped": dict(sorted(self.dropped.items())),
                "corruptParts": self.corrupt[:20]}


def hour_start(path: str) -> float | None:
    """The epoch second a part's ``dt=/hour=`` directory starts at (None when the path has none)."""
    match = HOUR_DIR.search(path)
    if match is None:
        return None
    return float(calendar.timegm(time.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H")))


def parts_in_window(paths: Sequence[str], start: float, end: float) -> list[str]:
    """The parts whose hour overlaps [start, end), sorted (a part without an hour directory is kept)."""
    out = []
    for path in sorted(paths):
        begins = hour_start(path)
        if begins is None or (begins < end and begins + 3600 > start):
            out.append(path)
    return out


def _read(path: str, fs: Any) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        table = pq.read_table(handle)
    if not set(table.column_names) >= REQUIRED_COLUMNS:
        raise ValueError(f"columns {sorted(table.column_names)} lack {sorted(REQUIRED_COLUMNS)}")
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _loads(text: Any) -> Any:
    return None if text is None else json.loads(text)


def _label_ok(label: Any, classes: set[str] | None) -> bool:
    if classes is not None:
        return str(label) in classes
    return not isinstance(label, bool) and isinstance(label, int | float) and math.isfinite(label)


def join(paths: Sequence[str], fs: Any, *, start: float, end: float, features: Sequence[Feature], target: str,
         classes: Sequence[Any] | None) -> tuple[list[dict[str, Any]], JoinStats]:
    """Rows (feature values + target) from the parts in *paths* within [start, end), and what happened."""
    stats = JoinStats()
    predictions: dict[str, list[list[Any]]] = {}
    labels: dict[str, list[Any]] = {}
    for path in parts_in_window(paths, start, end):
        try:
            records = _read(path, fs)
        except Exception as exc:  # a corrupt part is counted and named; the join goes on
            stats.dropped["corrupt_parts"] += 1
            stats.corrupt.append(f"{path}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        stats.parts += 1
        for record in records:
            if not start <= float(record["ts"]) < end:
                continue
            rid = str(record["id"])
            if record["kind"] == "prediction":
                stats.predictions += 1
                if rid in predictions:
                    stats.dropped["duplicate_predictions"] += 1
                    continue
                predictions[rid] = _loads(record.get("inputs")) or []
            elif record["kind"] == "feedback":
                stats.feedback += 1
                if rid in labels:
                    stats.dropped["duplicate_feedback"] += 1
                labels[rid] = _loads(record.get("labels")) or []
    known = None if classes is None else {str(c) for c in classes}
    by_text = {} if classes is None else {str(c): c for c in classes}
    names = [f.name for f in features]
    rows: list[dict[str, Any]] = []
    for rid, inputs in predictions.items():
        stats.predicted_rows += len(inputs)
        got = labels.pop(rid, None)
        if got is None:
            stats.dropped["unlabeled"] += len(inputs)
            continue
        if len(got) != len(inputs):
            stats.dropped["row_count_mismatch"] += len(inputs)
            continue
        for values, label in zip(inputs, got, strict=True):
            if not _label_ok(label, known):
                stats.dropped["labels_outside_classes"] += 1
                continue
            row = dict(zip(names, values, strict=False))
            row[target] = by_text.get(str(label), label)
            rows.append(row)
    stats.dropped["unknown_feedback"] += len(labels)
    stats.rows = len(rows)
    stats.dropped = Counter({k: v for k, v in stats.dropped.items() if v})
    return rows, stats
