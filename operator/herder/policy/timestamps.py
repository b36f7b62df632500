"""The operator's one RFC 3339 formatter (and its parser): every time the operator writes -- conditions'
lastTransitionTime, measuredAt, stepStartedAt, history entries, Events -- goes through :func:`rfc3339`, so every
timestamp on status has the same shape (UTC, second precision, ``Z``: what Kubernetes itself writes) and a test
can move the operator's clock by replacing ``time`` in this module.
"""

from __future__ import annotations

import datetime as dt
import time

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(when: float | dt.datetime | None = None) -> str:
    """``when`` (epoch seconds, or an aware datetime; default: now) as e.g. ``2026-01-02T03:04:05Z``."""
    if when is None:
        when = time.time()
    if isinstance(when, dt.datetime):
        return when.astimezone(dt.UTC).strftime(FORMAT)
    return dt.datetime.fromtimestamp(int(when), dt.UTC).strftime(FORMAT)


def parse_rfc3339(text: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when absent or unreadable."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None
