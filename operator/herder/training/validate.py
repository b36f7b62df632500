"""`herder validate`'s work: read, hash, check and profile a dataset (also reused by the trainer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from herder.training.checks import check_data, count_duplicates
from herder.training.dataset import LoadedData, load_dataset
from herder.training.outputs import join_uri, write_once
from herder.training.profile import profile_columns
from herder.training.requests import DatasetSchema, DataSource, ValidateRequest, ValidationRules
from herder.training.results import ValidationResult
from herder.training.revision_drift import drift_against
from herder.training.snapshot_retention import sweep


def profile_and_check(
    loaded: LoadedData,
    source: DataSource,
    schema: DatasetSchema,
    rules: ValidationRules,
    *,
    bins: int,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> ValidationResult:
    """Problems and per-column profile of already loaded data."""
    frame = loaded.frame
    duplicates = count_duplicates(frame) if rules.max_duplicate_fraction is not None else 0
    problems = check_data(loaded, schema, rules, duplicates=duplicates)  # counted once: a pass over every row
    profile = profile_columns(frame, [spec for spec in schema.columns if spec.name in frame.columns], bins, strategy)
    return ValidationResult(
        digest=loaded.digest,
        uri=source.uri,
        format=source.format,
        rows=len(frame),
        size_bytes=loaded.size_bytes,
        columns=len(frame.columns),
        column_names=[str(c) for c in frame.columns],
        extra_columns=loaded.extra,
        duplicate_rows=duplicates,
        profile=profile,
        problems=problems,
        valid=not problems,
    )


def run_validation(request: ValidateRequest, log: Callable[[str], None] = print) -> ValidationResult:
    """Load the source (checking expectedDigest if given), then check and profile it."""
    loaded = load_dataset(request.source, request.schema_, request.expected_digest)
    log(f"[validate] read {request.source.uri}: {len(loaded.frame)} rows, sha256 {loaded.digest}")
    result = profile_and_check(
        loaded, request.source, request.schema_, request.validation, bins=request.bins, strategy=request.bin_strategy
    )
    log(f"[validate] {len(result.problems)} problems; valid={result.valid}")
    if result.valid:
        result.drift = [drift_against(loaded.frame, ref) for ref in request.references]
        for d in result.drift:
            log(f"[validate] drift against revision {d.revision}: PSI {d.value} ({d.column})")
    if result.valid and request.snapshot_dir and loaded.raw is not None:
        result.snapshot = snapshot(request.snapshot_dir, loaded.digest, request.source.format, loaded.raw)
        log(f"[validate] snapshot {result.snapshot}")
    loaded.raw = None  # the bytes were kept only for the snapshot
    if request.snapshot_dir and request.retention is not None:
        sweep(request.snapshot_dir, set(request.retention.keep), request.retention.min_age_seconds,
              own=loaded.digest, log=log)
    return result


def snapshot(snapshot_dir: str, digest: str, fmt: str, data: bytes) -> str:
    """Copy valid content once into the content-addressed store: the same digest is the same file, so a second
    validation of unchanged data writes nothing, and different bytes can never replace a snapshot."""
    hexdigest = digest.removeprefix("sha256:")
    target = join_uri(snapshot_dir, "sha256", f"{hexdigest}.{fmt}")
    write_once(target, data)
    return f"file://{target}" if target.startswith("/") else target  # a URI, as the status schema wants
