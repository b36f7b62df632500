"""Dataset: validated and profiled by a Job running ``herder validate``; status carries digest and rows."""

from __future__ import annotations

from typing import Any

from herder.api.annotations import REFRESH
from herder.api.dataset import ColumnProfile, DatasetSpec
from herder.controllers import children, lookups
from herder.controllers.conditions import Cond
from herder.controllers.context import OperatorContext
from herder.controllers.scaffold import Outcome, parse_spec_as, waiting
from herder.policy.dataset_revisions import Validation, attempt_job_name, current, record
from herder.policy.timestamps import rfc3339
from herder.resources.common import Owner
from herder.resources.jobs import JobParams, build_job
from herder.resources.trainer_requests import validate_request


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

    def reconcile(self, spec: DatasetSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        """Name the attempt (generation + refresh request) -> nothing to do once it is decided -> storage ->
        the validation Job -> its result recorded as a revision."""
        meta = body["metadata"]
        ns, name, gen = meta["namespace"], meta["name"], meta.get("generation", 1)
        status = body.get("status") or {}
        refresh = (meta.get("annotations") or {}).get(REFRESH)
        job_name = attempt_job_name(name, gen, refresh)
        if _decided(status, body, job_name):
            return Outcome([])  # this attempt is decided; a new spec or refresh value makes a new Job
        if status.get("validationJob") != job_name and (problem := lookups.storage_missing(ctx, ns)) is not None:
            return waiting(ctx, [problem], set())
        job, action = self._ensure_job(spec, body, ctx, job_name)
        events = [("Normal", "ValidationStarted", f"created Job {job_name}")] if action == "created" else []
        done = {c["type"]: c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
        if "Complete" in done:
            return self._passed(body, ctx, job_name, refresh, events)
        if "Failed" in done:
            return self._failed(body, ctx, job_name, refresh, failed=done["Failed"], events=events)
        return Outcome([Cond("Validated", "Unknown", "Validating", f"validation Job {job_name} is running"),
                        Cond("Ready", "False", "Validating", f"validation Job {job_name} is running")],
                       fields={"validationJob": job_name}, events=events, requeue_after=2.0)

    def _ensure_job(self, spec: DatasetSpec, body: dict[str, Any], ctx: OperatorContext,
                    job_name: str) -> tuple[dict[str, Any], str]:
        meta = body["metadata"]
        store = lookups.storage(ctx)
        request = validate_request(spec, store.path("profiles", meta["uid"], f"{job_name}.json"),
                                   snapshot_dir=store.path("snapshots"))
        return children.ensure(ctx, self.kind, build_job(Owner.from_body(self.kind, body), JobParams(
            name=job_name, component="validation", image=ctx.config.herder_image, args=["validate"],
            request=request, storage=store, deadline_seconds=1800, backoff_limit=1)), update=False)

    def _passed(self, body: dict[str, Any], ctx: OperatorContext, job_name: str, refresh: str | None,
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
        revisions = record(before, Validation(job_name, "Passed", rfc3339(), digest, rows, size, snapshot))
        number = (current(revisions) or {}).get("number")
        new = len(revisions) > len(before) or revisions[:1] != before[:1]
        said = f"revision {number}: {rows} rows match the schema" + ("" if new else " (content unchanged)")
        return Outcome(
            [Cond("Validated", "True", "Valid", said),
             Cond("Ready", "True", "Validated", f"revision {number}, {digest}")],
            fields={"digest": digest, "rows": rows, "validatedAt": rfc3339(), "validationJob": job_name,
                    "profile": status_profile(summary.get("profile")), "revisions": revisions,
                    "currentRevision": (current(revisions) or {}).get("number"), "snapshot": snapshot,
                    "refreshRequest": refresh},
            events=events)

    @staticmethod
    def _snapshot_uri(ctx: OperatorContext, digest: str, fmt: str) -> str:
        """The snapshot as every pod sees it (the store's mount path), rebuilt from the digest: the validator reports
        the path as *it* saw it, which may be a node-local translation."""
        return "file://" + lookups.storage(ctx).path("snapshots", "sha256", f"{digest.removeprefix('sha256:')}.{fmt}")

    def _failed(self, body: dict[str, Any], ctx: OperatorContext, job_name: str, refresh: str | None, *,
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
        fields = {"validationJob": job_name, "revisions": revisions, "refreshRequest": refresh}
        if usable is not None and usable.get("snapshot") and status.get("snapshot") == usable["snapshot"]:
            return Outcome([Cond("Validated", "False", reason, text),
                            Cond("Ready", "True", "Validated",
                                 f"revision {usable['number']}, {usable.get('digest')} (revision {number} failed "
                                 f"validation: {reason}; training keeps revision {usable['number']})")],
                           fields=fields, events=events)
        return Outcome([Cond("Validated", "False", reason, text), Cond("Ready", "False", reason, text)],
                       fields=fields, events=events)
