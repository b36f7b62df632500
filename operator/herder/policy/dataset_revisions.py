"""A Dataset's revisions: every distinct content a validation read, newest first, and which one is current.

Pure bookkeeping (no I/O), so the rules are unit-tested on their own:
- a validation attempt is named by the spec's generation and the refresh request it answers, so a restarted
  operator finds the same Job again instead of starting a second one;
- a passed validation of content already recorded (same digest) adds no revision: a quiet refresh writes nothing;
- a failed validation is recorded (with its reason) but never becomes current;
- the history is bounded (KEEP revisions), the current revision is always kept.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from herder.api.common import from_decimal

KEEP = 10
"""Revisions kept on status (newest first); the current one is kept even when older."""
KEEP_BASELINES = 3
"""Profiles of earlier, still referenced revisions kept on status (each is at most ~2 KiB)."""
MAX_NAME = 63
"""Job names are label values (job-name): at most 63 characters."""

Result = Literal["Passed", "Failed"]


def attempt_job_name(dataset: str, generation: int, refresh: str | None) -> str:
    """The validation Job of one attempt: ``<name>-validate-<generation>`` for the spec, plus a short digest of
    the refresh request when one asked to read the source again (same request, same name: no duplicate Job)."""
    base = f"{dataset}-validate-{generation}"
    if refresh:
        base += "-" + hashlib.sha256(refresh.encode()).hexdigest()[:8]
    if len(base) > MAX_NAME:  # a long Dataset name: keep it recognisable and unique
        tail = hashlib.sha256(base.encode()).hexdigest()[:8]
        base = f"{base[:MAX_NAME - 9].rstrip('-')}-{tail}"
    return base


@dataclass(frozen=True)
class Validation:
    """What one finished validation Job found."""

    job: str
    result: Result
    validated_at: str
    digest: str | None = None
    rows: int | None = None
    size_bytes: int | None = None
    snapshot: str | None = None
    reason: str | None = None
    message: str | None = None
    drift: tuple[dict[str, Any], ...] = ()
    """Wire form (see :func:`drift_summary`) of the drift against earlier revisions."""


def _wire(v: Validation, number: int) -> dict[str, Any]:
    out: dict[str, Any] = {"number": number, "result": v.result, "validatedAt": v.validated_at, "job": v.job}
    for key, value in (("digest", v.digest), ("rows", v.rows), ("sizeBytes", v.size_bytes), ("snapshot", v.snapshot),
                       ("reason", v.reason),
                       ("message", v.message)):
        if value is not None:
            out[key] = value
    if v.drift:
        out["drift"] = [dict(d) for d in v.drift]
    return out


def current(revisions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest revision that passed validation (what training uses), or None."""
    return next((r for r in revisions if r.get("result") == "Passed"), None)


def record(revisions: Sequence[Mapping[str, Any]], found: Validation) -> list[dict[str, Any]]:
    """The history after ``found``: unchanged when it repeats what is already recorded (the same job again, or
    the current content passing again), else a new revision on top, bounded to KEEP plus the current one."""
    history = [dict(r) for r in revisions]
    if any(r.get("job") == found.job for r in history):
        return history  # this attempt is already recorded (a resync, a restarted operator)
    now = current(history)
    if found.result == "Passed" and now is not None and now.get("digest") == found.digest:
        return history  # the same content again: nothing new
    number = max((int(r.get("number", 0)) for r in history), default=0) + 1
    history.insert(0, _wire(found, number))
    keep = history[:KEEP]
    newest_passed = current(history)
    if newest_passed is not None and newest_passed not in keep:
        keep[-1] = dict(newest_passed)  # never drop the revision training uses
    return keep


# ---------------------------------------------------------------------------------------------- drift baselines
def references(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a new validation compares its content with: the current revision's profile and the kept baselines
    (the validation request's ``references``)."""
    out: list[dict[str, Any]] = []
    if status.get("currentRevision") and status.get("profile"):
        out.append({"revision": int(status["currentRevision"]), "profile": list(status["profile"])})
    for b in status.get("baselines") or []:
        if b.get("revision") not in {r["revision"] for r in out} and b.get("profile"):
            out.append({"revision": int(b["revision"]), "profile": list(b["profile"])})
    return out[:4]


def profile_of(status: Mapping[str, Any], revision: int | None) -> list[Any] | None:
    """The profile of ``revision`` (None: the current one) if the status still has it."""
    if revision is None or revision == status.get("currentRevision"):
        return status.get("profile") or None
    return next((b.get("profile") for b in status.get("baselines") or [] if b.get("revision") == revision), None)


def baselines_after(status: Mapping[str, Any], new_current: int | None,
                    referenced: Collection[int]) -> list[dict[str, Any]]:
    """The baselines to keep once ``new_current`` is the current revision: the profiles (the old current one's,
    the kept ones) of revisions a model version still refers to, newest first, at most KEEP_BASELINES."""
    known = {int(b["revision"]): b["profile"] for b in status.get("baselines") or [] if b.get("profile")}
    if status.get("currentRevision") and status.get("profile"):
        known[int(status["currentRevision"])] = status["profile"]
    keep = sorted((n for n in known if n in referenced and n != new_current), reverse=True)[:KEEP_BASELINES]
    return [{"revision": n, "profile": list(known[n])} for n in keep]


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return from_decimal(value)


def drift_summary(raw: Any) -> tuple[dict[str, Any], ...]:
    """The validator's drift report (``[{revision, value, column, columns}]``) as status entries; anything
    malformed is left out rather than failing the revision."""
    out: list[dict[str, Any]] = []
    for d in raw if isinstance(raw, list) else []:
        if not isinstance(d, dict) or not isinstance(d.get("revision"), int) or d["revision"] < 1:
            continue
        entry: dict[str, Any] = {"againstRevision": d["revision"]}
        if (value := _number(d.get("value"))) is not None:
            entry["value"] = value
            if isinstance(d.get("column"), str) and d["column"]:
                entry["column"] = d["column"][:128]
        columns = {str(k)[:128]: n for k, v in (d.get("columns") or {}).items() if (n := _number(v)) is not None}
        if columns:
            entry["columns"] = dict(list(columns.items())[:5])
        out.append(entry)
    return tuple(out[:4])


def drift_text(drift: Sequence[Mapping[str, Any]]) -> str:
    """'; drift against revision 1: PSI 0.41 (petal_length)' for a Validated message (empty without drift)."""
    said = [f"revision {d['againstRevision']}: PSI {d['value']} ({d.get('column')})" for d in drift if "value" in d]
    return f"; drift against {', '.join(said)}" if said else ""
