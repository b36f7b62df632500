"""Read a dataset's bytes through herder.storage's URI rules and parse them into typed pandas columns.

The digest is computed over the raw bytes as read (the identity the Dataset pins and the trainer checks), and
parsing follows the *declared* schema rather than pandas' guesses: a category column of "01", "02" stays text,
an int column with a stray "abc" is reported as a type problem instead of silently becoming a string column.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from herder.policy.partitions import Window, is_partitioned
from herder.storage.errors import ArtifactTooLargeError, FetchError, StorageError, UnsupportedURIError
from herder.storage.fetch import read_small
from herder.storage.source_metadata import list_parts
from herder.training.errors import DataError, DigestMismatchError
from herder.training.requests import ColumnSpec, DatasetSchema, DataSource
from herder.training.results import Problem

MAX_DATASET_BYTES = int(os.environ.get("HERDER_MAX_DATASET_BYTES", str(8 * 1024**3)))
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


@dataclass
class LoadedData:
    """The raw bytes' digest and the parsed frame (declared columns coerced, extra columns untouched)."""

    digest: str
    frame: pd.DataFrame
    type_problems: list[Problem]
    missing: list[str]
    extra: list[str]
    invalid: dict[str, int]
    """Per column, values that could not be parsed as its type (now NaN, reported as type problems, not nulls)."""
    size_bytes: int | None = None
    """Bytes read (the content the digest covers)."""
    raw: bytes | None = field(default=None, repr=False)
    """The bytes themselves, for the validator's snapshot (the very bytes the digest covers, not a re-read)."""


def storage_options() -> dict[str, Any]:
    """fsspec options for s3: an S3-compatible endpoint from HERDER_S3_ENDPOINT_URL (same name as the server) or
    AWS_ENDPOINT_URL (the store Secret's key)."""
    endpoint = os.environ.get("HERDER_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}


def cap(source: DataSource) -> int:
    """The most bytes a source may hold: its maxBytes, never above the pod's HERDER_MAX_DATASET_BYTES."""
    return min(source.max_bytes or MAX_DATASET_BYTES, MAX_DATASET_BYTES)


def read_bytes(uri: str, max_bytes: int = MAX_DATASET_BYTES) -> bytes:
    """All bytes at *uri*; a missing object or a bad URI is permanent, a network failure is not."""
    try:
        return read_small(uri, max_bytes=max_bytes, storage_options=storage_options())
    except (UnsupportedURIError, ArtifactTooLargeError) as exc:
        raise DataError(f"cannot read dataset: {exc}") from exc
    except FetchError as exc:
        if isinstance(exc.__cause__, FileNotFoundError | PermissionError | IsADirectoryError):
            raise DataError(f"cannot read dataset: {exc}") from exc
        raise
    except StorageError as exc:
        raise DataError(f"cannot read dataset: {exc}") from exc


def check_digest(uri: str, actual: str, expected: str | None) -> None:
    """Refuse bytes that are not the pinned ones; the message shows both digests."""
    if expected is not None and actual != expected:
        raise DigestMismatchError(
            f"dataset {uri} has sha256 {actual} but the pinned digest is {expected}: "
            "the data changed since it was validated"
        )


def _read_frame(data: bytes, source: DataSource, schema: DatasetSchema) -> pd.DataFrame:
    buffer = io.BytesIO(data)
    try:
        if source.format == "parquet":
            return pd.read_parquet(buffer)
        text_columns = {c.name: str for c in schema.columns if c.type in ("string", "category", "bool")}
        if source.options.header:
            return pd.read_csv(buffer, sep=source.options.delimiter, dtype=text_columns, low_memory=False)
        names = [c.name for c in schema.columns]
        return pd.read_csv(buffer, sep=source.options.delimiter, header=None, names=names, dtype=text_columns)
    except Exception as exc:
        raise DataError(f"cannot parse {source.uri} as {source.format}: {type(exc).__name__}: {exc}") from exc


def _example(values: pd.Series) -> str:
    shown = ", ".join(repr(v) for v in values.head(3).tolist())
    return f" (e.g. {shown})"


def _numeric(series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, Problem | None]:
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype(np.float64)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype(np.float64)
        bad = pd.Series(False, index=series.index)
    else:
        values = pd.to_numeric(series, errors="coerce").astype(np.float64)
        bad = values.isna() & series.notna()
    problem = None
    if spec.type == "int":
        fractional = values.notna() & (np.floor(values) != values)
        if fractional.any():
            problem = Problem(
                column=spec.name,
                problem="wrong_type",
                message=f"column {spec.name!r}: {int(fractional.sum())} values are not integers"
                + _example(series[fractional]),
            )
    if bad.any():
        problem = Problem(
            column=spec.name,
            problem="wrong_type",
            message=f"column {spec.name!r}: {int(bad.sum())} values are not numbers" + _example(series[bad]),
        )
        values = values.where(~bad)
    if spec.type == "int" and problem is None and not values.isna().any():
        return values.astype(np.int64), None
    return values, problem


def _boolean(series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, Problem | None]:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series, None
    words = series.astype("string").str.strip().str.lower()
    mapped = words.map(lambda w: True if w in TRUE_WORDS else (False if w in FALSE_WORDS else None)).astype(object)
    bad = mapped.isna() & series.notna()
    problem = None
    if bad.any():
        problem = Problem(
            column=spec.name,
            problem="wrong_type",
            message=f"column {spec.name!r}: {int(bad.sum())} values are not booleans" + _example(series[bad]),
        )
    result = mapped.astype(object).where(mapped.notna(), np.nan)
    if not result.isna().any():
        return result.astype(bool), problem
    return result, problem


def _text(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.StringDtype) and not isinstance(series.dtype.na_value, type(pd.NA)):
        # pandas 3 reads parquet strings as str values with NaN for missing, which is what the map below would
        # give back (pandas infers the same str dtype), without a Python call per row (~1 s per million rows)
        return series
    if series.dtype == object and series.map(lambda v: isinstance(v, str) or v is None).all():
        return series.where(series.notna(), np.nan)
    return series.astype(object).where(series.notna(), np.nan).map(lambda v: v if isinstance(v, float) else str(v))


def coerce_column(series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, Problem | None]:
    """The column in its declared type (float64/int64, bool, or object of str) and any type problem."""
    if spec.is_numeric:
        return _numeric(series, spec)
    if spec.type == "bool":
        return _boolean(series, spec)
    return _text(series), None


def _window(source: DataSource) -> Window:
    w = source.window
    return Window(w.newest, w.newer_than_seconds) if w is not None else Window()


def _combined_csv(chunks: list[bytes], header: bool) -> bytes:
    """Parts of one CSV table as one file: the first part whole, the others without their header line."""
    out = bytearray()
    for i, chunk in enumerate(chunks):
        rows = (chunk.split(b"\n", 1)[1] if b"\n" in chunk else b"") if header and i > 0 else chunk
        if out and not out.endswith(b"\n"):
            out += b"\n"
        out += rows
    return bytes(out)


def read_parts(source: DataSource) -> bytes:
    """The parts of a glob or prefix source that the window keeps, in path order, as the bytes of one file of the
    source's format (what the digest covers and the snapshot holds; see herder.policy.partitions). An empty
    window, a missing bucket or a denied listing is a DataError naming the URI."""
    import time

    try:
        fs, _, parts = list_parts(source.uri, source.format, _window(source), time.time(), storage_options())
    except (FileNotFoundError, PermissionError) as exc:
        raise DataError(f"cannot list {source.uri}: {type(exc).__name__}: {exc}") from exc
    if not parts:
        raise DataError(f"no parts in the window ({_window(source).describe()}) of {source.uri}")
    total = sum(p.size or 0 for p in parts)
    if total > cap(source):
        raise DataError(f"cannot read dataset: the {len(parts)} parts of {source.uri} hold {total} bytes, over the "
                        f"cap of {cap(source)} bytes")
    chunks = [fs.cat_file(p.path) for p in parts]
    if source.format == "csv":
        return _combined_csv(chunks, source.options.header)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.concat_tables([pq.read_table(io.BytesIO(c)) for c in chunks], promote_options="default")
    except Exception as exc:
        raise DataError(f"cannot combine the parts of {source.uri}: {type(exc).__name__}: {exc}") from exc
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def load_dataset(source: DataSource, schema: DatasetSchema, expected_digest: str | None) -> LoadedData:
    """Read, hash, check the pin, parse and coerce. Missing columns are reported, not raised."""
    data = read_parts(source) if is_partitioned(source.uri) else read_bytes(source.uri, cap(source))
    digest = hashlib.sha256(data).hexdigest()
    check_digest(source.uri, digest, expected_digest)
    frame = _read_frame(data, source, schema)
    frame.columns = [str(c) for c in frame.columns]
    declared = [c.name for c in schema.columns]
    missing = [n for n in declared if n not in frame.columns]
    extra = [n for n in frame.columns if n not in declared]
    problems: list[Problem] = []
    invalid: dict[str, int] = {}
    for spec in schema.columns:
        if spec.name in frame.columns:
            before = int(frame[spec.name].isna().sum())
            coerced, problem = coerce_column(frame[spec.name], spec)
            frame[spec.name] = coerced
            invalid[spec.name] = int(coerced.isna().sum()) - before
            if problem is not None:
                problems.append(problem)
    return LoadedData(digest=digest, frame=frame, type_problems=problems, missing=missing, extra=extra, invalid=invalid,
                      size_bytes=len(data), raw=data)
