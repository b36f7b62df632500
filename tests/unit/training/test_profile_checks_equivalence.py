"""The per-distinct-value paths of the category check and the categorical profile give exactly what the per-row
paths they replaced gave (kept here as the reference), on every column shape the validator meets: text as object
or as pandas' string dtype, ints read as floats because of nulls, int64, bool, a pandas Categorical, and a mixed
object column where equal values have different texts (True == 1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from herder.training.checks import _category_problems
from herder.training.profile import _python, categorical_bins, profile_column
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
