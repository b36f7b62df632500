"""Dataset: validated and profiled by a Job running ``herder validate``; status carries digest and rows."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from herder.api.annotations import REFRESH
from herder.api.common import duration_seconds
from herder.api.dataset import ColumnProfile, DatasetSpec
from herder.controllers import children, lookups
from herder.controllers.context import OperatorContext
from herder.controllers.scaffold import Outcome, parse_spec_as, waiting
from herder.policy import snapshot_retention
from herder.policy.conditions import Cond
from herder.policy.dataset_revisions import (
    Validation,
    attempt_job_name,
    baselines_after,
    current,
    drift_summary,
    drift_text,
    record,
    references,
)
from herder.policy.partitions import Window
from herder.policy.timestamps import rfc3339
from herder.resources.common import Owner
from herder.resources.jobs import JobParams, build_job
from herder.resources.trainer_requests import validate_request
from herder.storage.source_metadata import fingerprint


def status_profile(raw: Any) -> list[dict[str, Any]] | None:
    """The validator's compact profile, kept only if it matches the status schema (anything the API server
    would prune would otherwise look like a change on every resync)."""
    if not isinstance(raw, list):
        return None
    try:
        return [ColumnProfile.model_validate(c).wire() for c in raw]
    except ValueError:
        return None


def _decided(status: dict[str, Any], body: dict[str, Any], job_name: str) -> bool:
    """Whether this attempt's validation is finished and recorded: its Job is the one on status and Validated
    is True or False (a new attempt writes Validated=Unknown first, so an older attempt's verdict never counts
    for a newer spec or refresh -- the wedge where a changed spec stayed Validating for good)."""
    validated = lookups.condition(body, "Validated") or {}
    return status.get("validationJob") == job_name and validated.get("status") in ("True", "False")


def spec_format(body: dict[str, Any]) -> str:
    return str(((body.get("spec") or {}).get("source") or {}).get("format") or "csv")


class DatasetController:
    kind = "Dataset"
    plural = "datasets"

    def parse(self, body: dict[str, Any]) -> DatasetSpec:
        return parse_spec_as(self.kind, body, DatasetSpec)

    def __init__(self) -> None:
        # When each refreshing Dataset's source is asked next (monotonic; in memory: after a restart the first
        # reconcile asks at once, and an unchanged answer names the attempt already decided -- no Job, no write).
        self._next_check: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def reconcile(self, spec: DatasetSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        """Name the attempt (generation + refresh request + the source's metadata) -> nothing to do once it is
        decided -> storage -> the validation Job -> its result recorded as a revision."""
        meta = body["metadata"]
        ns, name, gen = meta["namespace"], meta["name"], meta.get("generation", 1)
        status = body.get("status") or {}
        refresh = (meta.get("annotations") or {}).get(REFRESH)
        source = self._source_fingerprint(spec, status, ns, name)
        job_name = attempt_job_name(name, gen, "|".join(t for t in (refresh, source) if t) or None)
        again = spec.refresh.seconds_until_next(dt.datetime.now(dt.UTC)) if spec.refresh else None
        if _decided(status, body, job_name):
            return Outcome([], requeue_after=again)  # decided; a new spec, refresh value or source makes a new Job
        if status.get("validationJob") != job_name and (problem := lookups.storage_missing(ctx, ns)) is not None:
            return waiting(ctx, [problem], set())
        job, action = self._ensure_job(spec, body, ctx, job_name)
        events = [("Normal", "ValidationStarted", f"created Job {job_name}")] if action == "created" else []
        done = {c["type"]: c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
        attempt = {"validationJob": job_name, "refreshRequest": refresh, "sourceFingerprint": source}
        if "Complete" in done:
            return self._passed(body, ctx, job_name, attempt, events)
        if "Failed" in done:
            return self._failed(body, ctx, job_name, attempt, failed=done["Failed"], events=events)
        running = f"validation Job {job_name} is running"
        usable = current(status.get("revisions") or [])
        ready = (Cond("Ready", "True", "Validated", f"revision {usable['number']}, {usable.get('digest')} "
                                                    f"({running}; training keeps revision {usable['number']})")
                 if usable is not None and usable.get("snapshot") else Cond("Ready", "False", "Validating", running))
        return Outcome([Cond("Validated", "Unknown", "Validating", running), ready],
                       fields={"validationJob": job_name, "sourceFingerprint": source}, events=events,
                       requeue_after=2.0)

    def _source_fingerprint(self, spec: DatasetSpec, status: dict[str, Any], ns: str, name: str) -> str | None:
        """The source's metadata as last recorded, asked again when spec.refresh says it is time."""
        stored = status.get("sourceFingerprint")
        if spec.refresh is None:
            return None
        now = time.monotonic()
        with self._lock:
            due = self._next_check.get((ns, name), 0.0) <= now
            if due:
                self._next_check[(ns, name)] = now + spec.refresh.seconds_until_next(dt.datetime.now(dt.UTC))
        if not due:
            return str(stored) if stored else None
        w = spec.source.window
        window = Window() if w is None else Window(w.newest, duration_seconds(w.newer_than) if w.newer_than else None)
        return fingerprint(spec.source.uri, spec.source.format, window)

    def _ensure_job(self, spec: DatasetSpec, body: dict[str, Any], ctx: OperatorContext,
                    job_name: str) -> tuple[dict[str, Any], str]:
        meta = body["metadata"]
        store = lookups.storage(ctx)
        request = validate_request(spec, store.path("profiles", meta["uid"], f"{job_name}.json"),
                                   snapshot_dir=store.path("snapshots"),
                                   references=references(body.get("status") or {}),
                                   retention=self._retention(ctx))
        return children.ensure(ctx, self.kind, build_job(Owner.from_body(self.kind, body), JobParams(
            name=job_name, component="validation", image=ctx.config.herder_image, args=["validate"],
            request=request, storage=store, deadline_seconds=1800, backoff_limit=1,
            s3_secret=ctx.config.storage_secret)), update=False)

    @staticmethod
    def _retention(ctx: OperatorContext) -> dict[str, Any] | None:
        """The marks for the validation pod's sweep: every snapshot a Dataset revision, a ModelVersion or a
        TrainingJob still refers to (the operator's store holds them all); None when retention is off."""
        if ctx.config.snapshot_min_age_seconds <= 0:
            return None
        keep = snapshot_retention.referenced([b for _, b in ctx.store.items("Dataset")],
                                             [b for _, b in ctx.store.items("ModelVersion")],
                                             [b for _, b in ctx.store.items("TrainingJob")])
        return snapshot_retention.sweep_request(keep, ctx.config.snapshot_min_age_seconds)

    def _passed(self, body: dict[str, Any], ctx: OperatorContext, job_name: str, attempt: dict[str, Any],
                events: list[tuple[str, str, str]]) -> Outcome:
        status = body.get("status") or {}
        pods = children.pods_of_job(ctx, job_name, body["metadata"]["namespace"])
        _, message = children.termination_message(pods[-1]) if pods else (None, "")
        summary = lookups.parse_summary(message) or {}
        if "digest" not in summary:
            return Outcome([Cond("Ready", "False", "ResultMissing",
                                 f"validation Job {job_name} succeeded but left no result; retrying")],
                           requeue_after=ctx.config.missing_reference_retry_seconds)
        digest = str(summary["digest"])
        digest = digest if digest.startswith("sha256:") else f"sha256:{digest}"
        rows = summary.get("rows") if isinstance(summary.get("rows"), int) else None
        size = summary.get("sizeBytes") if isinstance(summary.get("sizeBytes"), int) else None
        snapshot = self._snapshot_uri(ctx, digest, spec_format(body)) if summary.get("snapshot") else None
        before = status.get("revisions") or []
        drift = drift_summary(summary.get("drift"))
        revisions = record(before, Validation(job_name, "Passed", rfc3339(), digest, rows, size, snapshot,
                                              drift=drift))
        number = (current(revisions) or {}).get("number")
        new = len(revisions) > len(before) or revisions[:1] != before[:1]
        said = (f"revision {number}: {rows} rows match the schema" + (drift_text(drift) if new else "")
                + ("" if new else " (content unchanged)"))
        fields: dict[str, Any] = {
            "digest": digest, "rows": rows, "validatedAt": rfc3339(), "validationJob": job_name,
            "profile": status_profile(summary.get("profile")), "revisions": revisions, "currentRevision": number,
            "snapshot": snapshot, **attempt}
        if new:
            kept = baselines_after(status, number, lookups.dataset_revisions_in_use(ctx, body))
            fields["baselines"] = kept or None
        return Outcome(
            [Cond("Validated", "True", "Valid", said),
             Cond("Ready", "True", "Validated", f"revision {number}, {digest}")],
            fields=fields, events=events)

    @staticmethod
    def _snapshot_uri(ctx: OperatorContext, digest: str, fmt: str) -> str:
        """The snapshot as every pod sees it (the store's mount path), rebuilt from the digest: the validator reports
        the path as *it* saw it, which may be a node-local translation."""
        return lookups.storage(ctx).uri("snapshots", "sha256", f"{digest.removeprefix('sha256:')}.{fmt}")

    def _failed(self, body: dict[str, Any], ctx: OperatorContext, job_name: str, attempt: dict[str, Any], *,
                failed: dict[str, Any], events: list[tuple[str, str, str]]) -> Outcome:
        """A failed validation is a revision that never becomes current. With a current revision whose snapshot
        is in the store, the Dataset stays Ready on it (training keeps reading those bytes); without one (the
        first content failed, or a Dataset from before snapshots) it is not Ready and training waits."""
        status = body.get("status") or {}
        pods = children.pods_of_job(ctx, job_name, body["metadata"]["namespace"])
        code, message = children.termination_message(pods[-1]) if pods else (None, "")
        reason = "InvalidData" if code == 2 else (failed.get("reason") or "ValidationFailed")
        text = message or failed.get("message") or "validation failed"
        revisions = record(status.get("revisions") or [],
                           Validation(job_name, "Failed", rfc3339(), reason=reason, message=text[:1024]))
        number = revisions[0]["number"] if revisions else None
        text = f"revision {number}: {text}"  # the Validated transition's Event says it once
        usable = current(revisions)
        fields = {"revisions": revisions, **attempt}
        if usable is not None and usable.get("snapshot") and status.get("snapshot") == usable["snapshot"]:
            return Outcome([Cond("Validated", "False", reason, text),
                            Cond("Ready", "True", "Validated",
                                 f"revision {usable['number']}, {usable.get('digest')} (revision {number} failed "
                                 f"validation: {reason}; training keeps revision {usable['number']})")],
                           fields=fields, events=events)
        return Outcome([Cond("Validated", "False", reason, text), Cond("Ready", "False", reason, text)],
                       fields=fields, events=events)
