"""Cron schedules (UTC) for retraining, as pure functions over cronsim (a small, dependency-free cron evaluator).

Why "the latest occurrence" and not "the next": the operator looks at a Model every resync, not at the exact
minute, and may be down when an occurrence passes. Comparing the latest occurrence at or before now with the one
already handled (kept on status) fires once per occurrence however late the operator looks, and catches up a
missed occurrence once, never once per missed minute.
"""

from __future__ import annotations

import datetime as dt

from cronsim import CronSim, CronSimError

MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
          "@yearly": "0 0 1 1 *"}
"""The macros the API accepts, as the five-field expressions they stand for (cronsim has no macros)."""


class CronError(ValueError):
    """A schedule that does not parse; the message says which part is wrong."""


def parse_cron(expr: str) -> str:
    """The five-field form of ``expr``; CronError when a field is out of range or malformed."""
    fields = MACROS.get(expr.strip(), expr.strip())
    try:
        CronSim(fields, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as e:
        raise CronError(str(e)) from None
    return fields


def latest_at_or_before(expr: str, now: dt.datetime) -> dt.datetime:
    """The schedule's most recent occurrence at or before ``now`` (UTC, whole minutes)."""
    start = now.astimezone(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return next(CronSim(parse_cron(expr), start, reverse=True))


def next_after(expr: str, now: dt.datetime) -> dt.datetime:
    """The schedule's first occurrence strictly after ``now`` (UTC)."""
    return next(CronSim(parse_cron(expr), now.astimezone(dt.UTC)))
