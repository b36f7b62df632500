"""The join of payload-log parts (written by the server's own PayloadLog) into labeled training rows.

Every bad input is counted by reason and the join goes on: feedback for unknown ids, duplicate ids, labels
outside the classes, label lists of the wrong length, a corrupt part; parts outside the window are not opened.
"""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from herder.serving.payload_log import PayloadLog
from herder.storage.metadata_reader import FeatureSpec
from herder.training.payload_join import hour_start, join, parts_in_window

FEATURES = [FeatureSpec(name="x", dtype="float64"), FeatureSpec(name="plan", dtype="string")]
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def write_traffic(root: Path, clock: Clock) -> PayloadLog:
    log = PayloadLog(str(root), sample_rate=1.0, model="churn", version="3", pod="p", clock=clock)
    for i in range(10):
        log.write({"kind": "prediction", "id": f"r{i}", "inputs": [[float(i), "pro"], [i + 0.5, "basic"]],
                   "outputs": ["no", "no"]})
    log.write({"kind": "prediction", "id": "r0", "inputs": [[99.0, "x"]], "outputs": ["no"]})  # duplicate id
    for i in range(6):
        log.write({"kind": "feedback", "id": f"r{i}", "labels": ["yes", "no"]})
    log.write({"kind": "feedback", "id": "r0", "labels": ["no", "no"]})  # a correction: the last label wins
    log.write({"kind": "feedback", "id": "r6", "labels": ["maybe", "no"]})  # one label outside the classes
    log.write({"kind": "feedback", "id": "r7", "labels": ["yes"]})  # wrong length for a 2-row request
    log.write({"kind": "feedback", "id": "ghost", "labels": ["yes"]})  # no such prediction
    log.flush()
    return log


def test_join_keeps_labeled_rows_and_counts_every_drop(tmp_path: Path) -> None:
    clock = Clock()
    write_traffic(tmp_path, clock)
    corrupt = tmp_path / "churn" / "v3" / "dt=2026-09-21" / "hour=14" / "p-corrupt.parquet"
    corrupt.write_bytes(b"not parquet")
    fs = fsspec.filesystem("file")
    paths = fs.glob(f"{tmp_path}/churn/v*/dt=*/hour=*/*.parquet")
    rows, stats = join(paths, fs, start=T0 - 60, end=T0 + 60, features=FEATURES, target="churned",
                       classes=["no", "yes"])
    assert stats.parts == 1 and stats.dropped["corrupt_parts"] == 1 and "p-corrupt.parquet" in stats.corrupt[0]
    assert stats.predictions == 11 and stats.feedback == 10
    assert stats.dropped["duplicate_predictions"] == 1
    assert stats.dropped["duplicate_feedback"] == 1
    assert stats.dropped["unknown_feedback"] == 1
    assert stats.dropped["row_count_mismatch"] == 2
    assert stats.dropped["labels_outside_classes"] == 1
    assert stats.dropped["unlabeled"] == 4  # r8, r9: two rows each
    assert stats.predicted_rows == 20 and stats.rows == 13 and stats.label_coverage == pytest.approx(0.65)
    by_x = {r["x"]: r for r in rows}
    assert by_x[0.0] == {"x": 0.0, "plan": "pro", "churned": "no"}  # the corrected label; the duplicate ignored
    assert by_x[1.0]["churned"] == "yes" and by_x[1.5]["churned"] == "no"
    assert 99.0 not in by_x
    assert stats.wire()["dropped"]["unlabeled"] == 4


def test_the_window_selects_hours_before_opening_parts(tmp_path: Path) -> None:
    clock = Clock()
    log = PayloadLog(str(tmp_path), sample_rate=1.0, model="m", version="1", pod="p", clock=clock)
    for hour in range(3):
        clock.now = T0 + hour * 3600
        log.write({"kind": "prediction", "id": f"h{hour}", "inputs": [[1.0, "a"]], "outputs": ["no"]})
        log.write({"kind": "feedback", "id": f"h{hour}", "labels": ["yes"]})
        log.flush()
    fs = fsspec.filesystem("file")
    paths = fs.glob(f"{tmp_path}/m/v*/dt=*/hour=*/*.parquet")
    assert len(paths) == 3
    assert hour_start(paths[0]) == T0 - (T0 % 3600)
    assert len(parts_in_window(paths, T0 + 3600, T0 + 7200)) == 2  # 15:13 to 16:13 touches hours 15 and 16
    rows, stats = join(paths, fs, start=T0 + 3600 - 1, end=T0 + 3600 + 1, features=FEATURES, target="y",
                       classes=["no", "yes"])
    assert stats.parts == 1 and len(rows) == 1


def test_regression_labels_must_be_finite_numbers(tmp_path: Path) -> None:
    clock = Clock()
    log = PayloadLog(str(tmp_path), sample_rate=1.0, model="m", version="1", pod="p", clock=clock)
    log.write({"kind": "prediction", "id": "a", "inputs": [[1.0, "a"], [2.0, "b"], [3.0, "c"]],
               "outputs": [1.0, 2.0, 3.0]})
    log.write({"kind": "feedback", "id": "a", "labels": [1.5, "high", True]})
    log.flush()
    fs = fsspec.filesystem("file")
    rows, stats = join(fs.glob(f"{tmp_path}/**/*.parquet"), fs, start=T0 - 1, end=T0 + 1, features=FEATURES,
                       target="y", classes=None)
    assert rows == [{"x": 1.0, "plan": "a", "y": 1.5}]
    assert stats.dropped["labels_outside_classes"] == 2
