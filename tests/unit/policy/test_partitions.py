"""Partitioned sources: which parts a window keeps, and a listing fingerprint that moves with them."""

from __future__ import annotations

from herder.policy.partitions import (
    Part,
    Window,
    is_partitioned,
    listing_fingerprint,
    partition_of,
    root_of,
    select,
)

ROOT = "events/clicks/"
PARTS = [Part(f"{ROOT}dt=2026-12-0{d}/part-{i}.parquet", 10, 1000.0 + 100 * d) for d in (3, 1, 2) for i in (1, 0)]


def test_globs_and_prefixes_are_partitioned_single_files_and_http_are_not() -> None:
    assert is_partitioned("s3://events/clicks/dt=*/part-*.parquet") and is_partitioned("s3://events/clicks/")
    assert is_partitioned("file:///var/lib/herder/store/parts/part-[0-9].csv")
    assert not is_partitioned("s3://events/clicks/all.parquet")
    assert not is_partitioned("https://example.com/data.csv?version=2")  # a query, not a glob
    assert root_of("events/clicks/dt=*/part-*.parquet") == ROOT and root_of(ROOT) == ROOT
    assert partition_of(f"{ROOT}dt=2026-12-01/part-0.parquet", ROOT) == "dt=2026-12-01"
    assert partition_of(f"{ROOT}flat.csv", ROOT) == "flat.csv"  # directly under the root: its own partition


def test_every_part_in_path_order_without_a_window() -> None:
    assert [p.path for p in select(PARTS, ROOT, Window(), 0)] == sorted(p.path for p in PARTS)


def test_newest_n_partitions_by_name() -> None:
    kept = select(PARTS, ROOT, Window(newest=2), 0)
    assert [p.path.split("/")[2] for p in kept] == ["dt=2026-12-02"] * 2 + ["dt=2026-12-03"] * 2
    assert len(select(PARTS, ROOT, Window(newest=10), 0)) == 6


def test_newer_than_keeps_recently_modified_parts_and_may_keep_none() -> None:
    kept = select(PARTS, ROOT, Window(newer_than_seconds=150), now=1350.0)
    assert {p.path.split("/")[2] for p in kept} == {"dt=2026-12-02", "dt=2026-12-03"}
    assert select(PARTS, ROOT, Window(newer_than_seconds=10), now=5000.0) == []
    assert Window(newer_than_seconds=10).describe() == "parts modified within the last 10s"
    assert select([Part("x/a.csv")], "x/", Window(newer_than_seconds=10), now=0) == []  # no mtime: not "recent"


def test_the_listing_fingerprint_is_stable_and_moves_with_any_part() -> None:
    base = listing_fingerprint(PARTS)
    assert base == listing_fingerprint(list(reversed(PARTS))) and base.startswith("parts=6;sha256=")
    assert listing_fingerprint([*PARTS[:-1], Part(PARTS[-1].path, 11, PARTS[-1].mtime)]) != base  # size
    assert listing_fingerprint(PARTS[:-1]) != base  # a part gone
    assert listing_fingerprint([*PARTS, Part(f"{ROOT}dt=2026-12-04/part-0.parquet", 10, 2000.0)]) != base
