"""The validator's fast paths give exactly what the slow paths they replaced gave (kept here as the reference): the
per-distinct-value category check and categorical profile, and the row-key duplicate count against
``DataFrame.duplicated``, on every column shape the validator meets: text as object or as pandas' string dtype,
ints read as floats because of nulls, int64, bool, a pandas Categorical, signed zeros and NaNs, and a mixed object
column where equal values have different texts (True == 1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from herder.training.checks import _category_problems, check_data, count_duplicates, row_keys
from herder.training.profile import _python, categorical_bins, profile_column, profile_columns
from herder.training.requests import ColumnSpec
from herder.training.results import CategoryCount, Problem


def reference_category_problems(spec: ColumnSpec, series: pd.Series) -> list[Problem]:
    """checks._category_problems before it worked per distinct value."""
    if spec.categories is None:
        return []
    allowed = {str(c) for c in spec.categories}
    values = series.dropna()
    text = values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    unknown = text[~text.isin(allowed)]
    if unknown.empty:
        return []
    examples = ", ".join(repr(v) for v in unknown.value_counts().index[:3])
    return [Problem(column=spec.name, problem="unknown_category",
                    message=f"column {spec.name!r}: {len(unknown)} values not in categories {sorted(allowed)} "
                            f"(e.g. {examples})")]


def reference_categorical_profile(present: pd.Series, categories: list[Any] | None) -> tuple[Any, ...]:
    """profile.profile_column's categorical part before it counted once: distinct, top and bins."""
    counts = present.map(_python).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    top = [CategoryCount(value=v, count=int(c)) for v, c in ranked[:10]]
    return len(counts), top, categorical_bins(present, categories)


rng = np.random.default_rng(7)
WORDS = np.asarray(["red", "green", "blue", "teal", "mauve"], dtype=object)[rng.integers(0, 5, 2000)]
WITH_NULLS = WORDS.copy()
WITH_NULLS[rng.random(2000) < 0.1] = np.nan
INTS = rng.integers(0, 12, 2000)
FLOAT_INTS = INTS.astype(np.float64)
FLOAT_INTS[rng.random(2000) < 0.1] = np.nan
FLOAT_INTS[:3] = [2.5, -0.0, 11.0]

COLUMNS: dict[str, tuple[pd.Series, list[str | int | bool]]] = {
    "object text": (pd.Series(WITH_NULLS, dtype=object), ["red", "green", "blue"]),
    "string dtype": (pd.Series(WITH_NULLS, dtype="string"), ["red", "green"]),
    "str dtype, all known": (pd.Series(WORDS).astype(str), ["red", "green", "blue", "teal", "mauve"]),
    "categorical dtype": (pd.Series(pd.Categorical(WITH_NULLS)), ["blue", "teal"]),
    "ints read as floats": (pd.Series(FLOAT_INTS), [0, 1, 2, 3, 4, 5]),
    "int64": (pd.Series(INTS), [1, 2, 3]),
    "bool": (pd.Series(INTS % 2 == 0), ["True"]),
    "mixed object": (pd.Series([True, 1, "1", 2.0, 1.0, False, 0, None, "x"] * 50, dtype=object), ["1", "2"]),
    "all null": (pd.Series([np.nan] * 10, dtype=object), ["a"]),
    "empty": (pd.Series([], dtype=object), ["a"]),
}


@pytest.mark.parametrize("name", COLUMNS)
def test_category_problems_are_those_of_the_per_row_check(name: str) -> None:
    series, categories = COLUMNS[name]
    spec = ColumnSpec(name="c", type="int" if name in ("ints read as floats", "int64") else "category",
                      nullable=True, categories=categories)
    assert _category_problems(spec, series) == reference_category_problems(spec, series)


@pytest.mark.parametrize("name", COLUMNS)
def test_categorical_profile_is_that_of_the_per_row_count(name: str) -> None:
    series, categories = COLUMNS[name]
    declared = [str(c) for c in categories]
    spec = ColumnSpec(name="c", type="category", nullable=True, categories=declared)
    profile = profile_column(series, spec, 10, "quantile")
    distinct, top, bins = reference_categorical_profile(series.dropna(), declared)
    assert (profile.distinct, profile.top) == (distinct, top)
    if bins is None:
        assert profile.bins is None
    else:
        assert (profile.bins, profile.bin_counts) == bins


def test_the_fast_category_check_reports_every_unknown_value() -> None:
    series = pd.Series(["a", "b", "zz", "a", "yy", "zz", None] * 1000, dtype="string")
    [problem] = _category_problems(ColumnSpec(name="c", type="category", nullable=True, categories=["a", "b"]),
                                   series)
    assert problem.message == "column 'c': 3000 values not in categories ['a', 'b'] (e.g. 'zz', 'yy')"


def _frames() -> dict[str, pd.DataFrame]:
    small = np.random.default_rng(3)
    n = 3000
    floats = small.integers(0, 4, n).astype(np.float64)
    floats[small.random(n) < 0.2] = np.nan
    floats[small.random(n) < 0.2] = -0.0
    words = np.asarray(["a", "b", None, np.nan], dtype=object)[small.integers(0, 4, n)]
    return {
        "floats with nans and signed zeros": pd.DataFrame({"x": floats, "y": small.integers(0, 3, n)}),
        "object text with None and NaN": pd.DataFrame({"w": words, "b": small.random(n) < 0.5}),
        "string dtype": pd.DataFrame({"w": pd.Series(words, dtype="string"), "i": small.integers(0, 2, n)}),
        "str dtype": pd.DataFrame({"w": pd.Series(words).astype("str"), "i": small.integers(0, 2, n)}),
        "categorical": pd.DataFrame({"c": pd.Categorical(words), "f": floats}),
        "mixed object (True == 1)": pd.DataFrame({"o": pd.Series([True, 1, "1", 1.0, None, np.nan] * 50,
                                                                dtype=object)}),
        "a datetime column (whole-frame path)": pd.DataFrame({"t": pd.to_datetime(small.integers(0, 3, n), unit="D"),
                                                              "y": small.integers(0, 3, n)}),
        "no duplicates": pd.DataFrame({"x": np.arange(n, dtype=np.float64), "s": [f"r{i}" for i in range(n)]}),
        "one row": pd.DataFrame({"x": [1.0]}),
        "no rows": pd.DataFrame({"x": pd.Series([], dtype=np.float64)}),
    }


@pytest.mark.parametrize("name", list(_frames()))
def test_duplicate_count_is_that_of_dataframe_duplicated(name: str) -> None:
    frame = _frames()[name]
    assert count_duplicates(frame) == int(frame.duplicated().sum())


def test_duplicates_equal_under_duplicated_share_a_row_key() -> None:
    frame = pd.DataFrame({"x": [0.0, -0.0, np.nan, float("nan")], "w": pd.Series(["a", "a", None, np.nan],
                                                                                  dtype=object)})
    keys = row_keys(frame)
    assert keys is not None and keys[0] == keys[1] and keys[2] == keys[3]


NUMERIC = np.concatenate([rng.normal(size=3000).round(2), [np.inf, -np.inf, -0.0, 0.0, np.nan, np.nan]])


@pytest.mark.parametrize("series", [pd.Series(NUMERIC), pd.Series(INTS), pd.Series(FLOAT_INTS)],
                         ids=["floats with inf, nan, signed zeros", "int64", "ints read as floats"])
def test_numeric_profile_of_a_numpy_column_is_that_of_its_values_without_nulls(series: pd.Series) -> None:
    spec = ColumnSpec(name="x", type="float", nullable=True)
    as_objects = series.astype(object)  # not a plain numpy column: the dropna path
    assert profile_column(series, spec, 10, "quantile") == profile_column(as_objects, spec, 10, "quantile")


def test_profiles_on_threads_are_those_one_after_the_other() -> None:
    frame = pd.DataFrame({"x": NUMERIC[:2000], "i": INTS, "w": WITH_NULLS})
    specs = [ColumnSpec(name="x", type="float", nullable=True), ColumnSpec(name="missing", type="float"),
             ColumnSpec(name="w", type="category", nullable=True), ColumnSpec(name="i", type="int")]
    one_by_one = [profile_column(frame[s.name], s, 10, "quantile") for s in specs if s.name in frame.columns]
    assert profile_columns(frame, specs, 10, "quantile", workers=3) == one_by_one
    assert profile_columns(frame, specs, 10, "quantile", workers=1) == one_by_one
    assert [p.name for p in one_by_one] == ["x", "w", "i"]


def test_check_data_uses_a_duplicate_count_it_is_given() -> None:
    from herder.training.dataset import LoadedData
    from herder.training.requests import DatasetSchema, ValidationRules

    frame = pd.DataFrame({"x": [1.0, 1.0, 2.0, 3.0]})
    loaded = LoadedData(digest="sha256:0", frame=frame, type_problems=[], missing=[], extra=[], invalid={})
    schema = DatasetSchema(columns=[ColumnSpec(name="x", type="float")])
    rules = ValidationRules(max_duplicate_fraction="0.1")
    counted = check_data(loaded, schema, rules)
    assert counted == check_data(loaded, schema, rules, duplicates=count_duplicates(frame))
    assert [p.message for p in counted] == ["1 duplicate rows (25%) > maxDuplicateFraction 10%"]
