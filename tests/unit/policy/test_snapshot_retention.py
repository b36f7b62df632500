"""Snapshot retention: the operator marks what is referenced, a validation pod sweeps the rest (old enough)."""

from __future__ import annotations

import os
from pathlib import Path

from herder.policy.snapshot_retention import MAX_KEEP, digest_of, referenced, sweep_request
from herder.training.snapshot_retention import sweep

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
STORE = "file:///var/lib/herder/store/snapshots/sha256"


def test_referenced_is_every_revision_every_version_and_every_pinned_training_job() -> None:
    datasets = [{"status": {"snapshot": f"{STORE}/{A}.csv",
                            "revisions": [{"snapshot": f"{STORE}/{A}.csv"}, {"snapshot": f"{STORE}/{B}.csv"},
                                          {"result": "Failed"}]}}, {}]
    versions = [{"spec": {"lineage": {"dataset": {"snapshot": f"s3://bucket/herder/snapshots/sha256/{C}.parquet"}}}},
                {"spec": {}}]
    jobs = [{"status": {"datasetSnapshot": f"{STORE}/{D}.csv"}}, {"status": {}}]
    assert referenced(datasets, versions, jobs) == {A, B, C, D}
    assert digest_of("file:///elsewhere/x.csv") is None and digest_of(None) is None


def test_too_many_marks_ask_for_no_sweep_rather_than_a_wrong_one() -> None:
    assert sweep_request({A}, 3600) == {"keep": [A], "minAgeSeconds": 3600}
    assert sweep_request({f"{n:064x}" for n in range(MAX_KEEP + 1)}, 3600) is None


def test_the_sweep_deletes_only_old_unreferenced_snapshots(tmp_path: Path) -> None:
    """Kept: referenced ones, the pod's own, young ones (a validation elsewhere just wrote it), anything not named
    like a snapshot. Deleted: the rest."""
    root = tmp_path / "sha256"
    root.mkdir()
    for name in (f"{A}.csv", f"{B}.csv", f"{C}.parquet", f"{D}.csv", "notes.txt"):
        (root / name).write_text(name)
        os.utime(root / name, (1000.0, 1000.0))
    young = "e" * 64
    (root / f"{young}.csv").write_text("just written")
    os.utime(root / f"{young}.csv", (4500.0, 4500.0))
    logged: list[str] = []
    deleted = sweep(str(tmp_path), {A}, 3600, own=f"sha256:{B}", now=5000.0, log=logged.append)
    assert sorted(deleted) == [f"{C}.parquet", f"{D}.csv"]
    assert sorted(p.name for p in root.iterdir()) == sorted([f"{A}.csv", f"{B}.csv", "notes.txt", f"{young}.csv"])
    assert logged == [f"[validate] retention: deleted 2 unreferenced snapshot(s): {', '.join(deleted)}"]
    assert sweep(str(tmp_path / "missing"), set(), 0) == []
