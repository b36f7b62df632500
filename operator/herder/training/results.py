"""What the entrypoints write: the validation result and the training summary.

Column profiles embed the exact bin models of ``herder.storage.metadata`` (NumericBins / CategoricalBins), so
the Dataset's profile, the model's baseline in metadata.json and the server's drift counters share one shape
and one bin convention.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from herder.storage.metadata import BaselineProfile, Category, FeatureBins


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Problem(_Result):
    """One way the data breaks its schema or rules; ``column`` is None for dataset-wide problems."""

    column: str | None
    problem: Literal[
        "missing_column",
        "wrong_type",
        "nulls",
        "null_fraction",
        "below_min",
        "above_max",
        "unknown_category",
        "min_rows",
        "duplicates",
        "empty",
    ]
    message: str


class CategoryCount(_Result):
    value: Category
    count: int


class ColumnProfile(_Result):
    """Per-column statistics over the non-null values plus the fixed drift bins and their counts."""

    name: str
    type: str
    count: int = Field(description="non-null values")
    nulls: int
    distinct: int | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] | None = None
    top: list[CategoryCount] | None = None
    bin_strategy: Literal["quantile", "uniform", "categories"] | None = None
    bins: FeatureBins | None = None
    bin_counts: list[int] | None = None


class RevisionDrift(_Result):
    """The validated content's drift against one earlier revision: PSI per column, counted into its bins."""

    revision: int
    value: float | None
    """The largest column PSI (None when no column could be compared)."""
    column: str | None
    """The column with the largest PSI."""
    columns: dict[str, float] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)


class ValidationResult(_Result):
    """The result JSON of `herder validate` (also embedded in the trainer's lineage)."""

    digest: str
    uri: str
    format: str
    rows: int
    size_bytes: int | None = None
    snapshot: str | None = None
    """Where the validated bytes were copied (content-addressed), when the request asked for a snapshot."""
    columns: int
    column_names: list[str]
    extra_columns: list[str] = Field(default_factory=list)
    duplicate_rows: int = 0
    profile: list[ColumnProfile]
    problems: list[Problem]
    valid: bool
    drift: list[RevisionDrift] = Field(default_factory=list)
    """Against each reference revision the request named."""

    def baseline(self, names: list[str] | None = None) -> BaselineProfile:
        """The drift baseline (metadata.json shape) for *names* (default: every profiled column with bins)."""
        wanted = set(names) if names is not None else None
        features = {p.name: p.bins for p in self.profile if p.bins is not None and (wanted is None or p.name in wanted)}
        return BaselineProfile(features=features)
