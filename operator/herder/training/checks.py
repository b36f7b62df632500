"""Check a parsed dataset against its declared schema and rules; every problem names the column and numbers.

Problems are collected, not raised one by one, so a user fixing a dataset sees everything wrong at once; the
first few become the failure reason on the resource's status.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from herder.training.dataset import LoadedData
from herder.training.requests import ColumnSpec, DatasetSchema, ValidationRules, parse_decimal
from herder.training.results import Problem


def percent(fraction: float) -> str:
    """0.031 -> '3.1%', 0.01 -> '1%' (short and exact enough for a status message)."""
    text = f"{fraction * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _null_problems(spec: ColumnSpec, series: pd.Series, rules: ValidationRules, invalid: int) -> list[Problem]:
    nulls = int(series.isna().sum()) - invalid
    rows = len(series)
    if nulls == 0 or rows == 0:
        return []
    fraction = nulls / rows
    if not spec.nullable:
        return [
            Problem(
                column=spec.name,
                problem="nulls",
                message=f"column {spec.name!r}: {nulls} nulls ({percent(fraction)}) but the column is not nullable",
            )
        ]
    if rules.max_null_fraction is not None:
        limit = parse_decimal(rules.max_null_fraction, "maxNullFraction")
        if fraction > limit:
            return [
                Problem(
                    column=spec.name,
                    problem="null_fraction",
                    message=f"column {spec.name!r}: {nulls} nulls ({percent(fraction)}) > maxNullFraction "
                    f"{percent(limit)}",
                )
            ]
    return []


def _range_problems(spec: ColumnSpec, series: pd.Series) -> list[Problem]:
    problems: list[Problem] = []
    values = series.dropna()
    low, high = spec.min_value, spec.max_value
    if low is not None:
        below = values[values < low]
        if len(below):
            problems.append(
                Problem(
                    column=spec.name,
                    problem="below_min",
                    message=f"column {spec.name!r}: {len(below)} values below min {spec.min} "
                    f"(smallest {below.min():g})",
                )
            )
    if high is not None:
        above = values[values > high]
        if len(above):
            problems.append(
                Problem(
                    column=spec.name,
                    problem="above_max",
                    message=f"column {spec.name!r}: {len(above)} values above max {spec.max} (largest {above.max():g})",
                )
            )
    return problems


def category_text(value: Any) -> str:
    """A value as the text it is compared with the declared categories as: 2.0 (an int column read as float
    because of nulls) is "2", anything else its str()."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def unknown_categories(values: pd.Series, allowed: set[str]) -> np.ndarray:
    """Per (non-null) value, whether its text is outside *allowed*.

    A column has few distinct values, so the text is made once per distinct value (factorize) instead of once per
    row: a million-row column costs one hash pass, not a million Python calls. Distinct values that compare equal
    must have the same text for that to hold; it does for numbers (2 == 2.0 -> "2") and strings, but not for a
    mixed object column (True == 1, yet "True" != "1"), which keeps the per-row path.
    """
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
        return np.asarray(~values.map(category_text).isin(allowed), dtype=bool)
    codes, uniques = pd.factorize(values)
    outside = np.asarray([category_text(u) not in allowed for u in np.asarray(uniques, dtype=object).tolist()]
                         + [False], dtype=bool)  # code -1 (a null, if any slipped through) is never unknown
    per_row: np.ndarray = outside[codes]
    return per_row


def _category_problems(spec: ColumnSpec, series: pd.Series) -> list[Problem]:
    if spec.categories is None:
        return []
    allowed = {str(c) for c in spec.categories}
    values = series.dropna()
    outside = unknown_categories(values, allowed)
    if not outside.any():
        return []
    unknown = values[outside].map(category_text)  # only the offending rows get their text made per row
    examples = ", ".join(repr(v) for v in unknown.value_counts().index[:3])
    return [
        Problem(
            column=spec.name,
            problem="unknown_category",
            message=f"column {spec.name!r}: {len(unknown)} values not in categories {sorted(allowed)} "
            f"(e.g. {examples})",
        )
    ]


def check_data(
    loaded: LoadedData, schema: DatasetSchema, rules: ValidationRules, *, duplicates: int | None = None
) -> list[Problem]:
    """Every schema and rule violation, in column order, dataset-wide problems last (*duplicates*: the frame's
    count_duplicates, when the caller has it already -- the validator reports it too, and counting is a pass
    over every row)."""
    frame = loaded.frame
    problems: list[Problem] = [
        Problem(
            column=name,
            problem="missing_column",
            message=f"column {name!r} is declared but not in the data (data has {list(frame.columns)[:20]})",
        )
        for name in loaded.missing
    ]
    problems.extend(loaded.type_problems)
    for spec in schema.columns:
        if spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        problems.extend(_null_problems(spec, series, rules, loaded.invalid.get(spec.name, 0)))
        if spec.is_numeric:
            problems.extend(_range_problems(spec, series))
        problems.extend(_category_problems(spec, series))
    rows = len(frame)
    if rows == 0:
        problems.append(Problem(column=None, problem="empty", message="the dataset has no rows"))
    if rules.min_rows is not None and rows < rules.min_rows:
        problems.append(Problem(column=None, problem="min_rows", message=f"{rows} rows < minRows {rules.min_rows}"))
    if rules.max_duplicate_fraction is not None and rows:
        limit = parse_decimal(rules.max_duplicate_fraction, "maxDuplicateFraction")
        if duplicates is None:
            duplicates = count_duplicates(frame)
        if duplicates / rows > limit:
            problems.append(
                Problem(
                    column=None,
                    problem="duplicates",
                    message=f"{duplicates} duplicate rows ({percent(duplicates / rows)}) > maxDuplicateFraction "
                    f"{percent(limit)}",
                )
            )
    return problems


def count_duplicates(frame: pd.DataFrame) -> int:
    """Rows that repeat an earlier row exactly (``frame.duplicated().sum()``).

    ``DataFrame.duplicated`` factorizes every column into a hash table, the validator's most expensive step on a
    large file. Here a 64-bit key per row is hashed column by column instead, and only rows whose key occurs more
    than once go through ``duplicated``: a row that repeats an earlier one has that row's key, so both are among
    the candidates (in their order), and a key collision only adds a candidate that ``duplicated`` then rejects --
    the count is exact either way.
    """
    keys = row_keys(frame)
    if keys is None:
        return int(frame.duplicated().sum())
    candidates = pd.Series(keys).duplicated(keep=False).to_numpy()
    if not candidates.any():
        return 0
    return int(frame[candidates].duplicated().sum())


_KEY_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1's 64-bit prime: mixes each column's hash into the row's key


def _column_key(series: pd.Series) -> np.ndarray | None:
    """Per value a uint64 that is equal for values ``duplicated`` treats as equal (equal values, any two nulls).

    Floats are keyed by their bits after making -0.0 and 0.0 one value and every NaN the same NaN (the hash table
    ``duplicated`` uses treats them so); integers and booleans by their bits; text, object and categorical columns
    by pandas' hash of their categorized values (it factorizes first, so it follows the same equality). Any other
    dtype gets None: the caller then uses ``duplicated`` on the whole frame.
    """
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy(dtype=np.float64) + 0.0  # a copy, and -0.0 + 0.0 is 0.0
        values[np.isnan(values)] = np.nan
        bits: np.ndarray = values.view(np.uint64)
        return bits
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        ints: np.ndarray = series.to_numpy().astype(np.uint64)
        return ints
    if (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype):
        hashed: np.ndarray = pd.util.hash_pandas_object(series, index=False, categorize=True).to_numpy()
        return hashed
    return None


def row_keys(frame: pd.DataFrame) -> np.ndarray | None:
    """A uint64 per row combining its columns' keys (see _column_key), or None when a column cannot be keyed."""
    if frame.shape[1] == 0 or len(frame) == 0:
        return None
    keys = np.zeros(len(frame), dtype=np.uint64)
    for _, series in frame.items():
        column = _column_key(series)
        if column is None:
            return None
        keys *= _KEY_MULTIPLIER
        keys ^= column
    return keys


def summarise(problems: list[Problem], limit: int = 2800) -> str:
    """The failure reason for the termination message: problems joined, cut to fit its size limit."""
    text = "; ".join(p.message for p in problems)
    if len(text) <= limit:
        return text
    return text[: limit - 40].rsplit("; ", 1)[0] + f"; ... ({len(problems)} problems in all)"
