"""Pure condition bookkeeping on the typed :class:`~herder.api.common.Condition` (Kubernetes API conventions).

Why pure functions over a list: the reconcile computes the whole desired status and compares it with the stored
one; an unchanged condition must compare equal, so ``lastTransitionTime`` only moves when ``status`` flips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from herder.api.common import Condition, ConditionStatus


def now_rfc3339() -> str:
    """The current UTC time in the format Kubernetes uses for timestamps (second precision)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: Iterable[Condition] | None, type_: str) -> Condition | None:
    """The condition of ``type_``, or None."""
    return next((c for c in conditions or () if c.type == type_), None)


def is_true(conditions: Iterable[Condition] | None, type_: str) -> bool:
    """Whether the condition of ``type_`` exists and is True."""
    c = find_condition(conditions, type_)
    return c is not None and c.status == "True"


def set_condition(
    conditions: Sequence[Condition] | None,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: str | None = None,
) -> list[Condition]:
    """A new list with the condition of ``type_`` set; other types are kept. ``lastTransitionTime`` is kept
    from the old condition when the status did not change, and set to ``now`` when it did (or is new)."""
    new = Condition(type=type_, status=status, reason=reason, message=message,
                    last_transition_time=now or now_rfc3339(), observed_generation=observed_generation)
    return merge_condition(conditions, new)


def merge_condition(conditions: Sequence[Condition] | None, new: Condition) -> list[Condition]:
    """A new list with ``new`` replacing the condition of the same type, keeping the old ``lastTransitionTime``
    when the status is unchanged. Sorted by type, so equal states give equal lists."""
    old = find_condition(conditions, new.type)
    if old is not None and old.status == new.status:
        new = new.model_copy(update={"last_transition_time": old.last_transition_time})
    rest = [c for c in conditions or () if c.type != new.type]
    return sorted([*rest, new], key=lambda c: c.type)


def remove_condition(conditions: Sequence[Condition] | None, type_: str) -> list[Condition]:
    """A new list without the condition of ``type_``."""
    return [c for c in conditions or () if c.type != type_]
