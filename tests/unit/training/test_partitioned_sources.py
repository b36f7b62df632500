"""Partitioned sources read by `herder validate` and the trainer: many parts in path order as one table, the
digest and the snapshot over their combined content, a window of partitions, and clear errors naming the URI."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from herder.training.dataset import load_dataset
from herder.training.errors import DataError
from herder.training.requests import DatasetSchema, DataSource

from .conftest import IRIS, IRIS_SCHEMA, Runner
from .test_s3 import s3  # noqa: F401  (the moto fixture)

SCHEMA = DatasetSchema.model_validate(IRIS_SCHEMA)


def _parts(root: Path, fmt: str, days: int = 3) -> pd.DataFrame:
    """iris split into one part per day (dt=2026-12-0N/part-0.<fmt>), 50 rows each."""
    frame = pd.read_csv(IRIS)
    for d in range(days):
        folder = root / f"dt=2026-12-0{d + 1}"
        folder.mkdir(parents=True)
        chunk = frame.iloc[d * 50:(d + 1) * 50]
        if fmt == "csv":
            chunk.to_csv(folder / "part-0.csv", index=False)
        else:
            chunk.to_parquet(folder / "part-0.parquet", index=False)
    return frame


def source(uri: str, fmt: str = "csv", **window: Any) -> DataSource:
    return DataSource.model_validate({"uri": uri, "format": fmt, **({"window": window} if window else {})})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_part_as_one_table_in_path_order(tmp_path: Path, fmt: str) -> None:
    frame = _parts(tmp_path, fmt)
    for uri in (f"file://{tmp_path}/dt=*/part-*.{fmt}", f"file://{tmp_path}/"):
        loaded = load_dataset(source(uri, fmt), SCHEMA, None)
        assert len(loaded.frame) == 150 and list(loaded.frame["species"]) == list(frame["species"])
        assert loaded.raw is not None and loaded.digest == hashlib.sha256(loaded.raw).hexdigest()
        again = pd.read_csv(io.BytesIO(loaded.raw)) if fmt == "csv" else pd.read_parquet(io.BytesIO(loaded.raw))
        assert len(again) == 150  # the combined bytes are one readable file of the format: the snapshot


def test_the_digest_is_stable_and_moves_with_any_part(tmp_path: Path) -> None:
    _parts(tmp_path, "csv")
    uri = f"file://{tmp_path}/dt=*/part-*.csv"
    first = load_dataset(source(uri), SCHEMA, None).digest
    assert load_dataset(source(uri), SCHEMA, None).digest == first
    part = tmp_path / "dt=2026-12-02" / "part-0.csv"
    part.write_text(part.read_text().replace("5.", "5.05", 1))
    changed = load_dataset(source(uri), SCHEMA, None).digest
    assert changed != first
    (tmp_path / "dt=2026-12-04").mkdir()
    (tmp_path / "dt=2026-12-04" / "part-0.csv").write_text((tmp_path / "dt=2026-12-01" / "part-0.csv").read_text())
    added = load_dataset(source(uri), SCHEMA, None)
    assert added.digest not in (first, changed) and len(added.frame) == 200


def test_a_window_of_the_newest_partitions(tmp_path: Path) -> None:
    frame = _parts(tmp_path, "parquet")
    loaded = load_dataset(source(f"file://{tmp_path}/", "parquet", newest=1), SCHEMA, None)
    assert list(loaded.frame["species"]) == list(frame["species"].iloc[100:])


def test_an_empty_window_and_a_missing_prefix_name_the_uri(tmp_path: Path) -> None:
    _parts(tmp_path, "csv")
    for part in tmp_path.glob("dt=*/part-*.csv"):
        os.utime(part, (1e9, 1e9))  # 2001: outside any recent window
    uri = f"file://{tmp_path}/dt=*/part-*.csv"
    with pytest.raises(DataError, match=r"no parts in the window \(parts modified within the last 3600s\) of "
                                        + uri.replace("*", r"\*")):
        load_dataset(source(uri, newerThanSeconds=3600), SCHEMA, None)
    with pytest.raises(DataError, match=r"no parts in the window .* of file://.*/nothing-here/"):
        load_dataset(source(f"file://{tmp_path}/nothing-here/"), SCHEMA, None)


def test_validation_snapshots_the_combined_content_and_training_reads_it(validate: Runner, train: Runner,
                                                                         tmp_path: Path) -> None:
    _parts(tmp_path / "src", "csv")
    uri = f"file://{tmp_path}/src/dt=*/part-*.csv"
    outcome = validate({"source": {"uri": uri, "format": "csv"}, "schema": IRIS_SCHEMA,
                        "snapshotDir": str(tmp_path / "snapshots")})
    assert outcome.code == 0, outcome.message
    summary = outcome.summary()
    snapshot = Path(summary["snapshot"].removeprefix("file://"))
    assert summary["rows"] == 150 and hashlib.sha256(snapshot.read_bytes()).hexdigest() == \
        summary["digest"].removeprefix("sha256:")


def test_a_glob_on_s3_with_a_window(s3: str, tmp_path: Path) -> None:  # noqa: F811
    import boto3

    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="events")
    frame = pd.read_csv(IRIS)
    for d in range(3):
        body = frame.iloc[d * 50:(d + 1) * 50].to_csv(index=False).encode()
        client.put_object(Bucket="events", Key=f"iris/dt=2026-12-0{d + 1}/part-0.csv", Body=body)
    loaded = load_dataset(source("s3://events/iris/dt=*/part-*.csv", newest=2), SCHEMA, None)
    assert list(loaded.frame["species"]) == list(frame["species"].iloc[50:])
    with pytest.raises(DataError, match=r"no parts in the window .* of s3://events/elsewhere/"):
        load_dataset(source("s3://events/elsewhere/"), SCHEMA, None)


def test_content_over_max_bytes_is_refused_naming_the_uri_and_the_cap(tmp_path: Path) -> None:
    _parts(tmp_path, "csv")
    with pytest.raises(DataError, match=r"the 3 parts of file://.* hold \d+ bytes, over the cap of 100 bytes"):
        load_dataset(DataSource.model_validate({"uri": f"file://{tmp_path}/", "maxBytes": 100}), SCHEMA, None)
    with pytest.raises(DataError, match=r"iris.csv is larger than the cap of 100 bytes"):
        load_dataset(DataSource.model_validate({"uri": f"file://{IRIS}", "maxBytes": 100}), SCHEMA, None)
