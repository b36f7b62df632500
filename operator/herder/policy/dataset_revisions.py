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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

KEEP = 10
"""Revisions kept on status (newest first); the current one is kept even when older."""
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


def _wire(v: Validation, number: int) -> dict[str, Any]:
    out: dict[str, Any] = {"number": number, "result": v.result, "validatedAt": v.validated_at, "job": v.job}
    for key, value in (("digest", v.digest), ("rows", v.rows), ("sizeBytes", v.size_bytes), ("snapshot", v.snapshot),
                       ("reason", v.reason),
                       ("message", v.message)):
        if value is not None:
            out[key] = value
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
