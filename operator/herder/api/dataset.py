"""Dataset: a tabular data source, its declared schema and validation rules; the operator validates it in a Job
and pins what it saw (digest, row count, per-column profile with fixed bins -- the drift baseline) on status."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from herder.api.common import (
    ColumnName,
    Conditions,
    CronSchedule,
    DecimalString,
    Digest,
    Fraction,
    Name,
    PositiveDuration,
    Time,
    Uri,
    WireModel,
    check_min_max,
    duration_seconds,
    exactly_one_of,
    min_max_rule,
    one_of_message,
    rule,
    rules,
)

DatasetFormat = Literal["csv", "parquet"]
ColumnType = Literal["integer", "float", "boolean", "string", "categorical"]


class CsvOptions(WireModel):
    """How to read a CSV file."""

    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ","
    """Field separator (one character)."""
    header: bool = True
    """Whether the first line holds the column names."""
    encoding: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=32)] | None = None
    """Text encoding; UTF-8 when omitted."""


WINDOW_HINT = "e.g. {newest: 7} or {newerThan: 24h}"
PARTITIONED_CEL = "(self.uri.startsWith('s3://') || self.uri.startsWith('file://')) && " \
                  "(self.uri.endsWith('/') || self.uri.matches('[*?\\\\[]'))"


class PartitionWindow(WireModel):
    """Which partitions of a glob or prefix source a revision reads (exactly one)."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("newest", "newerThan", hint=WINDOW_HINT)))

    newest: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """The newest N partitions (directories such as dt=2026-12-01, by name; a file directly under the root is
    its own partition)."""
    newer_than: PositiveDuration | None = None
    """The parts modified within this duration, e.g. 24h."""

    @model_validator(mode="after")
    def _one(self) -> PartitionWindow:
        if (self.newest is None) == (self.newer_than is None):
            given = [n for n, v in (("newest", self.newest), ("newerThan", self.newer_than)) if v is not None]
            raise ValueError(one_of_message(("newest", "newerThan"), given, WINDOW_HINT))
        return self


class DatasetSource(WireModel):
    """Where the data is and how to read it."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!has(self.csv) || self.format == 'csv'", "csv options are only allowed with format csv",
             value="'format ' + self.format", hint="remove csv, or set format: csv", field_path=".csv"),
        rule(f"!has(self.window) || ({PARTITIONED_CEL})",
             "a window needs a source of many parts: an s3:// or file:// glob or a prefix ending in /",
             value="self.uri", hint="e.g. uri: s3://events/clicks/dt=*/part-*.parquet", field_path=".window"),
    ))

    uri: Uri
    """Location read through fsspec: file:// (inside pods the artifact store is mounted at /var/lib/herder/store),
    s3://, http:// or https://. An s3:// or file:// URI with a glob (s3://events/clicks/dt=*/part-*.parquet) or
    ending in / (every file of the format below it) reads many parts as one table: in path order, the digest and
    the snapshot cover their combined content (see window)."""
    window: PartitionWindow | None = None
    """For a glob or prefix: which partitions to read (default: every part)."""
    max_bytes: Annotated[int, Field(ge=1)] | None = None
    """Refuse content larger than this many bytes (all parts together): a failed revision naming the URI and the
    size, instead of a validation pod that runs out of memory. Default (and upper bound): the validation pod's
    HERDER_MAX_DATASET_BYTES, 8 GiB."""
    format: DatasetFormat
    """File format: csv or parquet."""
    csv: CsvOptions | None = None
    """Options for format csv."""
    digest: Digest | None = None
    """Expected sha256 of the content; validation fails when the data no longer matches (pins the data)."""

    @model_validator(mode="after")
    def _csv_only_for_csv(self) -> DatasetSource:
        if self.csv is not None and self.format != "csv":
            raise ValueError(f"csv options are only allowed with format csv (got format {self.format}); remove csv, "
                             "or set format: csv")
        from herder.policy.partitions import is_partitioned

        if self.window is not None and not is_partitioned(self.uri):
            raise ValueError(f"a window needs a source of many parts: an s3:// or file:// glob or a prefix ending in "
                             f"/ (got {self.uri}); e.g. uri: s3://events/clicks/dt=*/part-*.parquet")
        return self


class Column(WireModel):
    """One declared column: its type and the values it may hold."""

    model_config = ConfigDict(json_schema_extra=rules(
        min_max_rule(hint='e.g. {min: "0", max: "10"}'),
        rule("!has(self.categories) || self.type in ['categorical', 'string', 'integer']",
             "categories are only allowed for categorical, string or integer columns",
             value="'type ' + self.type + ' in column ' + self.name", hint="use type categorical, or remove categories",
             field_path=".categories"),
        rule("!(has(self.min) || has(self.max)) || self.type in ['integer', 'float']",
             "min/max are only allowed for integer or float columns",
             value="'type ' + self.type + ' in column ' + self.name", hint="use type float, or remove min and max"),
    ))

    name: ColumnName
    """Column name as it appears in the data."""
    type: ColumnType
    """Logical type: integer, float, boolean, string or categorical."""
    nullable: bool = False
    """Whether missing values are allowed (still bounded by validation.maxNullFraction)."""
    min: DecimalString | None = None
    """Smallest allowed value (numeric columns)."""
    max: DecimalString | None = None
    """Largest allowed value (numeric columns)."""
    categories: Annotated[list[Annotated[str, StringConstraints(max_length=256)]],
                          Field(min_length=1, max_length=1000, json_schema_extra={"x-kubernetes-list-type": "set"}
                                )] | None = None
    """Allowed values; any other value fails validation."""

    @model_validator(mode="after")
    def _bounds(self) -> Column:
        check_min_max(self.min, self.max, hint='e.g. {min: "0", max: "10"}')
        if self.categories is not None and self.type not in ("categorical", "string", "integer"):
            raise ValueError(f"categories are only allowed for categorical, string or integer columns (got type "
                             f"{self.type} in column {self.name}); use type categorical, or remove categories")
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "float"):
            raise ValueError(f"min/max are only allowed for integer or float columns (got type {self.type} in "
                             f"column {self.name}); use type float, or remove min and max")
        return self


class DatasetSchema(WireModel):
    """The declared columns and which one is the prediction target."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!has(self.target) || self.columns.exists(c, c.name == self.target)",
             "target must be one of the declared columns",
             value="self.target + '; declared: ' + self.columns[0].name + (size(self.columns) > 1 ? ', ' + "
                   "self.columns[1].name : '') + (size(self.columns) > 2 ? ', ' + self.columns[2].name : '') + "
                   "(size(self.columns) > 3 ? ', ...' : '')",
             hint="name the label column, or declare it under columns", field_path=".target"),
    ))

    columns: Annotated[list[Column], Field(min_length=1, max_length=512, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]
    """Declared columns (unique names). Columns in the data but not declared are dropped unless
    validation.allowExtraColumns is false, in which case they fail validation."""
    target: ColumnName | None = None
    """Column to predict; omitted for unlabelled data (e.g. a scoring set)."""

    @model_validator(mode="after")
    def _target_declared(self) -> DatasetSchema:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        if self.target is not None and self.target not in names:
            declared = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise ValueError(f"target must be one of the declared columns (got {self.target}; declared: "
                             f"{declared}); name the label column, or declare it under columns")
        return self


class ValidationRules(WireModel):
    """Rules the data must pass beyond the schema; violations name the column and the numbers."""

    max_null_fraction: Fraction | None = None
    """Largest share of missing values allowed in any nullable column, e.g. "0.01"."""
    min_rows: Annotated[int, Field(ge=1, le=10_000_000_000)] | None = None
    """Fewest rows the data must have."""
    max_duplicate_fraction: Fraction | None = None
    """Largest share of fully duplicated rows allowed."""
    allow_extra_columns: bool = True
    """Whether columns not declared in the schema are tolerated (they are dropped)."""


class ProfileOptions(WireModel):
    """How the profile (the drift baseline) is computed."""

    bins: Annotated[int, Field(ge=2, le=100)] = 10
    """Number of fixed bins per numeric column (quantile edges of the training data)."""


REFRESH_HINT = 'e.g. {interval: 5m} or {schedule: "0 * * * *"}'


class RefreshPolicy(WireModel):
    """How often the operator looks for new content at the source: every interval, or at each occurrence of a
    cron schedule (exactly one)."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("interval", "schedule", hint=REFRESH_HINT)))

    interval: PositiveDuration | None = None
    """How often to ask the source for its metadata (size, modification time, ETag). Only a change starts a
    validation Job; an unchanged source costs no Job and no status write."""
    schedule: CronSchedule | None = None
    """Ask at each occurrence of this cron schedule (five fields, UTC, or a macro such as @hourly), e.g.
    "15 * * * *" for a source that is rewritten every hour at :10. Same check as interval."""

    @model_validator(mode="after")
    def _one(self) -> RefreshPolicy:
        if (self.interval is None) == (self.schedule is None):
            given = [n for n, v in (("interval", self.interval), ("schedule", self.schedule)) if v is not None]
            raise ValueError(one_of_message(("interval", "schedule"), given, REFRESH_HINT))
        if self.schedule is not None:
            from herder.policy.schedule import CronError, parse_cron

            try:
                parse_cron(self.schedule)
            except CronError as e:
                raise ValueError(f"invalid cron schedule {self.schedule!r}: {e}") from None
        return self

    def seconds_until_next(self, now: dt.datetime) -> float:
        """How long until the source is asked again (the interval, or until the schedule's next occurrence)."""
        if self.interval is not None:
            return duration_seconds(self.interval)
        from herder.policy.schedule import next_after

        assert self.schedule is not None
        return max(1.0, (next_after(self.schedule, now) - now).total_seconds())


class DatasetSpec(WireModel):
    """A tabular data source, its schema and validation rules."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!has(self.refresh) || !self.source.uri.startsWith('file:')",
             "spec.refresh needs a source the operator can ask for metadata (s3://, http:// or https://)",
             value="self.source.uri",
             hint="the operator cannot look into the store's claim: use the herder.dev/refresh annotation for "
                  "file:// sources (e.g. from a CronJob after the file is replaced)", field_path=".refresh"),
    ))

    source: DatasetSource
    """Where the data is and how to read it."""
    schema_: Annotated[DatasetSchema, Field(alias="schema")]
    """Declared columns and target."""
    validation: ValidationRules | None = None
    """Data quality rules checked by the validation Job."""
    profile: ProfileOptions | None = None
    """Options of the per-column profile recorded on status."""
    refresh: RefreshPolicy | None = None
    """Look for new content periodically (without it: on spec changes and the herder.dev/refresh annotation)."""

    @model_validator(mode="after")
    def _refresh_needs_remote_source(self) -> DatasetSpec:
        if self.refresh is not None and self.source.uri.startswith("file:"):
            raise ValueError(f"spec.refresh needs a source the operator can ask for metadata (s3://, http:// or "
                             f"https://) (got {self.source.uri}); the operator cannot look into the store's claim: "
                             "use the herder.dev/refresh annotation for file:// sources (e.g. from a CronJob after "
                             "the file is replaced)")
        return self


# ---------------------------------------------------------------------------------------------- status
class ColumnBins(WireModel):
    """Fixed bins of one column: numeric edges (k edges make k+1 bins) or categories (plus one "other" bin)."""

    strategy: Literal["quantile", "uniform", "categories"] | None = None
    """How the bins were chosen."""
    edges: Annotated[list[DecimalString], Field(max_length=101)] | None = None
    """Bin edges of a numeric column, strictly increasing."""
    categories: Annotated[list[Annotated[str, StringConstraints(max_length=256)]], Field(max_length=1000)] | None = None
    """Categories of a categorical column."""
    counts: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=1001)] | None = None
    """Rows in each bin."""
    fractions: Annotated[list[DecimalString], Field(max_length=1001)] | None = None
    """Share of rows in each bin (sums to 1)."""


class ColumnProfile(WireModel):
    """Statistics of one column of the validated data."""

    name: ColumnName
    """Column name."""
    type: ColumnType | None = None
    """Declared type."""
    count: Annotated[int, Field(ge=0)] | None = None
    """Number of present (non-missing) values."""
    nulls: Annotated[int, Field(ge=0)] | None = None
    """Number of missing values."""
    distinct: Annotated[int, Field(ge=0)] | None = None
    """Number of distinct values."""
    min: DecimalString | None = None
    """Smallest value (numeric)."""
    max: DecimalString | None = None
    """Largest value (numeric)."""
    mean: DecimalString | None = None
    """Mean (numeric)."""
    std: DecimalString | None = None
    """Standard deviation (numeric)."""
    quantiles: Annotated[dict[str, DecimalString], Field(max_length=16)] | None = None
    """Quantiles by name, e.g. {p50: "5.8", p99: "7.7"} (numeric)."""
    bins: ColumnBins | None = None
    """Fixed bins: the drift baseline."""


RevisionResult = Literal["Passed", "Failed"]


class RevisionDrift(WireModel):
    """How far a revision's content moved from an earlier revision (PSI per column, counted into the earlier
    revision's bins by the validation Job; the statistic drift monitoring uses: < 0.1 stable, 0.1-0.25 moderate,
    > 0.25 a significant shift)."""

    against_revision: Annotated[int, Field(ge=1)]
    """The earlier revision: the one current before it, and each one a production version was trained on."""
    value: DecimalString | None = None
    """The largest column PSI (absent when no column could be compared)."""
    column: ColumnName | None = None
    """The column with the largest PSI."""
    columns: Annotated[dict[str, DecimalString], Field(max_length=5)] | None = None
    """The (at most five) columns that moved most, with their PSI."""


class DatasetBaseline(WireModel):
    """The profile of a revision that is no longer current but that a model version was trained on: the bins its
    drift monitoring counts live traffic into, and what new revisions are compared with."""

    revision: Annotated[int, Field(ge=1)]
    """The revision's number."""
    profile: Annotated[list[ColumnProfile], Field(max_length=512)]
    """Its per-column profile, as status.profile was while it was current."""


class DatasetRevision(WireModel):
    """One distinct content a validation read (or failed to accept)."""

    number: Annotated[int, Field(ge=1)]
    """Revision number, counting up from 1 per Dataset."""
    result: RevisionResult
    """Passed (usable for training) or Failed (recorded, never current)."""
    validated_at: Time
    """When the validation finished."""
    job: Name
    """The validation Job that read it."""
    digest: Digest | None = None
    """sha256 of the content (absent when it could not be read)."""
    rows: Annotated[int, Field(ge=0)] | None = None
    """Row count."""
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    """Size of the source in bytes."""
    snapshot: Uri | None = None
    """Where the validated bytes were copied, named by digest: training reads this, never the moving source."""
    reason: Annotated[str, StringConstraints(max_length=64)] | None = None
    """Why it failed, e.g. InvalidData."""
    message: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """What the validation said."""
    drift: Annotated[list[RevisionDrift], Field(max_length=4)] | None = None
    """Drift against the revision current before it and against the revisions production versions were trained
    on (a passed revision only)."""


class DatasetStatus(WireModel):
    """What the last validation found."""

    observed_generation: int | None = None
    """metadata.generation the status was computed from."""
    conditions: Conditions | None = None
    """Ready (validated and usable) with reasons such as Validating, SchemaMismatch, DigestMismatch."""
    digest: Digest | None = None
    """sha256 of the validated content: TrainingJobs pin it."""
    rows: Annotated[int, Field(ge=0)] | None = None
    """Row count of the validated data."""
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    """Size of the source in bytes."""
    validated_at: Time | None = None
    """When the data was last validated."""
    validation_job: Name | None = None
    """Name of the validation Job."""
    profile: Annotated[list[ColumnProfile], Field(max_length=512)] | None = None
    """Per-column statistics and fixed bins."""
    current_revision: Annotated[int, Field(ge=1)] | None = None
    """Number of the newest revision that passed validation: digest, rows and profile above are its."""
    snapshot: Uri | None = None
    """The current revision's content-addressed copy in the store (what new TrainingJobs read)."""
    revisions: Annotated[list[DatasetRevision], Field(max_length=11)] | None = None
    """Distinct contents validated so far, newest first (the last 10, and the current one)."""
    baselines: Annotated[list[DatasetBaseline], Field(max_length=3)] | None = None
    """Profiles of earlier revisions that model versions with an alias (production, candidate) were trained on:
    their drift baselines, kept while they are referenced (at most three, newest first)."""
    refresh_request: Annotated[str, StringConstraints(max_length=256)] | None = None
    """The herder.dev/refresh value the last validation answered."""
    source_fingerprint: Annotated[str, StringConstraints(max_length=512)] | None = None
    """The source's metadata (size, modification time, ETag) when it was last validated (spec.refresh)."""

