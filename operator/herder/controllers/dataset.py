"""Dataset: validated and profiled by a Job running ``herder validate``; status carries digest and rows."""

from __future__ import annotations

from typing import Any

from herder.api.annotations import REFRESH
from herder.api.dataset import ColumnProfile, DatasetSpec
from herder.controllers import children, lookups
from herder.controllers.conditions import Cond, now_rfc3339
from herder.controllers.context import OperatorContext
from herder.controllers.scaffold import Outcome, parse_spec_as
from herder.policy.dataset_revisions import Validation, attempt_job_name, current, record
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
            return Outcome([problem], requeue_after=ctx.config.missing_reference_retry_seconds)
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
        request = validate_request(spec, store.path("profiles", meta["uid"], f"{job_name}.json"))
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
        before = status.get("revisions") or []
        revisions = record(before, Validation(job_name, "Passed", now_rfc3339(), digest, rows, size))
        newest = revisions[0] if revisions else {}
        if len(revisions) > len(before) or revisions[:1] != before[:1]:
            events.append(("Normal", "NewRevision", f"revision {newest['number']}: {rows} rows, {digest}"))
        return Outcome(
            [Cond("Validated", "True", "Valid", f"{rows} rows match the schema"),
             Cond("Ready", "True", "Validated", f"revision {(current(revisions) or {}).get('number')}, {digest}")],
            fields={"digest": digest, "rows": rows, "validatedAt": now_rfc3339(), "validationJob": job_name,
                    "profile": status_profile(summary.get("profile")), "revisions": revisions,
                    "currentRevision": (current(revisions) or {}).get("number"), "refreshRequest": refresh},
            events=events)

    def _failed(self, body: dict[str, Any], ctx: OperatorContext, job_name: str, refresh: str | None, *,
                failed: dict[str, Any], events: list[tuple[str, str, str]]) -> Outcome:
        """A failed validation is a revision that never becomes current; the Dataset is not Ready (training
        waits) until a spec change or refresh brings content that passes."""
        pods = children.pods_of_job(ctx, job_name, body["metadata"]["namespace"])
        code, message = children.termination_message(pods[-1]) if pods else (None, "")
        reason = "InvalidData" if code == 2 else (failed.get("reason") or "ValidationFailed")
        text = message or failed.get("message") or "validation failed"
        revisions = record((body.get("status") or {}).get("revisions") or [],
                           Validation(job_name, "Failed", now_rfc3339(), reason=reason, message=text[:1024]))
        return Outcome([Cond("Validated", "False", reason, text), Cond("Ready", "False", reason, text)],
                       fields={"validationJob": job_name, "revisions": revisions, "refreshRequest": refresh},
                       events=events)
