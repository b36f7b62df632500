"""Pure condition bookkeeping (Kubernetes API conventions): one entry per type, ``lastTransitionTime`` moves
only when the status flips, every condition carries the ``observedGeneration`` it was computed from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Cond:
    type: str
    status: Status
    reason: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "True"


def merge_conditions(
    old: list[dict[str, Any]] | None, new: list[Cond], generation: int | None, now: str
) -> list[dict[str, Any]]:
    """The new condition list: types in ``new`` replace old ones of the same type; others are kept."""
    by_type = {c.get("type"): c for c in (old or [])}
    out: dict[str, dict[str, Any]] = {t: dict(c) for t, c in by_type.items() if t is not None}
    for c in new:
        prev = by_type.get(c.type)
        transition = prev["lastTransitionTime"] if prev and prev.get("status") == c.status and prev.get(
            "lastTransitionTime") else now
        entry: dict[str, Any] = {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
                                 "lastTransitionTime": transition}
        if generation is not None:
            entry["observedGeneration"] = generation
        out[c.type] = entry
    return sorted(out.values(), key=lambda e: str(e["type"]))


def transitions(old: list[dict[str, Any]] | None, new: list[Cond]) -> list[Cond]:
    """Conditions whose status or reason changed: the ones worth an Event."""
    by_type = {c.get("type"): c for c in (old or [])}
    changed = []
    for c in new:
        prev = by_type.get(c.type)
        if prev is None or prev.get("status") != c.status or prev.get("reason") != c.reason:
            changed.append(c)
    return changed
