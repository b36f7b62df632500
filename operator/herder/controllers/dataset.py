"""Dataset: validated and profiled by a Job running ``herder validate``; status carries digest and rows."""

from __future__ import annotations

from typing import Any

from herder.api.dataset import ColumnProfile, DatasetSpec
from herder.controllers import children, lookups
from herder.controllers.conditions import Cond
from herder.controllers.context import OperatorContext
from herder.controllers.scaffold import Outcome, parse_spec_as, waiting
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


class DatasetController:
    kind = "Dataset"
    plural = "datasets"

    def parse(self, body: dict[str, Any]) -> DatasetSpec:
        return parse_spec_as(self.kind, body, DatasetSpec)

    def reconcile(self, spec: DatasetSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        meta = body["metadata"]
        ns, name, gen = meta["namespace"], meta["name"], meta.get("generation", 1)
        status = body.get("status") or {}
        job_name = f"{name}-validate-{gen}"
        if status.get("validationJob") == job_name and lookups.condition(body, "Validated"):
            return Outcome([])  # this generation is decided; a new spec makes a new Job
        if status.get("validationJob") != job_name and (problem := lookups.storage_missing(ctx, ns)) is not None:
            return waiting(ctx, [problem], set())
        owner = Owner.from_body(self.kind, body)
        store = lookups.storage(ctx)
        request = validate_request(spec, store.path("profiles", meta["uid"], f"{gen}.json"))
        job, action = children.ensure(ctx, self.kind, build_job(owner, JobParams(
            name=job_name, component="validation", image=ctx.config.herder_image, args=["validate"],
            request=request, storage=store, deadline_seconds=1800, backoff_limit=1)), update=False)
        events = [("Normal", "ValidationStarted", f"created Job {job_name}")] if action == "created" else []
        js = job.get("status") or {}
        done = {c["type"]: c for c in js.get("conditions") or [] if c.get("status") == "True"}
        if "Complete" in done:
            pods = children.pods_of_job(ctx, job_name, ns)
            _, message = children.termination_message(pods[-1]) if pods else (None, "")
            summary = lookups.parse_summary(message) or {}
            if "digest" not in summary:
                return Outcome([Cond("Ready", "False", "ResultMissing",
                                     f"validation Job {job_name} succeeded but left no result; retrying")],
                               requeue_after=ctx.config.missing_reference_retry_seconds)
            digest = str(summary["digest"])
            profile = status_profile(summary.get("profile"))
            return Outcome(
                [Cond("Validated", "True", "Valid", f"{summary.get('rows')} rows match the schema"),
                 Cond("Ready", "True", "Validated", f"digest {digest}")],
                fields={"digest": digest if digest.startswith("sha256:") else f"sha256:{digest}",
                        "rows": summary.get("rows"), "validatedAt": rfc3339(), "validationJob": job_name,
                        "profile": profile},
                events=events)
        if "Failed" in done:
            pods = children.pods_of_job(ctx, job_name, ns)
            code, message = children.termination_message(pods[-1]) if pods else (None, "")
            reason = "InvalidData" if code == 2 else (done["Failed"].get("reason") or "ValidationFailed")
            text = message or done["Failed"].get("message") or "validation failed"
            return Outcome([Cond("Validated", "False", reason, text), Cond("Ready", "False", reason, text)],
                           fields={"validationJob": job_name, "digest": None, "rows": None}, events=events)
        return Outcome([Cond("Ready", "False", "Validating", f"validation Job {job_name} is running")],
                       fields={"validationJob": job_name}, events=events,
                       requeue_after=2.0)
