"""The Model learns about rollbacks that happened live, as one pure function: (the Model's aliases and history,
the status of the ModelDeployments that follow its production alias, now) -> the RolledBack history entries, the
Events, and where the production alias points afterwards.

Why each rule is what it is:

- A ModelDeployment that aborts the rollout of version v (canary analysis) or rolls it back after promotion
  (monitoring, or the herder.dev/rollback annotation) records ``abortedVersion: v`` and ``lastRollback: {from: v,
  to: w, reason}``. Production still says v, so the deployment would stay "aborted" forever and every other
  follower would keep rolling v out. The Model moves production back to w -- the version the deployment serves
  again -- so the alias and what is served agree.
- The entry reads like a promotion backwards: ``version`` is where production went (w), ``fromVersion`` the version
  rolled back (v) -- the API's "previous version", and how ``herder report`` reads a deployment's lastRollback. Its
  ``at`` is the rollback's own time, so the report shows the deployment's rollback and this entry as one step.
- The history is the memory: a rollback is recorded when no RolledBack entry from v is dated at or after the
  rollback's time. Recorded once across resyncs and restarts; a later, second rollback of the same version (after a
  retry) is recorded again.
- The alias moves only while it still points at v: had a newer version been promoted meanwhile, it stays there.
- A rolled-back version is kept (and protected from retention while the history records it) and never promoted
  again automatically: the gate loop skips versions in ``rolled_back``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Follower:
    """The parts of a ModelDeployment that follows the Model's production alias this decision reads."""

    name: str
    aborted_version: int | None
    stable_version: int | None
    last_rollback: Mapping[str, Any] | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Follower:
        st = body.get("status") or {}
        rb = st.get("lastRollback")
        return cls(str(body["metadata"]["name"]), _int(st.get("abortedVersion")), _int(st.get("stableVersion")),
                   rb if isinstance(rb, Mapping) else None)


@dataclass
class LiveRollbacks:
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    production: int | None = None
    """Where production points afterwards (unchanged when nothing moved it)."""


def follows_production(body: Mapping[str, Any], ns: str, model: str) -> bool:
    """A ModelDeployment in ``ns`` whose spec.model follows ``model``'s production alias."""
    m = (body.get("spec") or {}).get("model") or {}
    return bool(body.get("metadata", {}).get("namespace") == ns and m.get("name") == model
                and m.get("alias") == "production")


def rolled_back(history: Sequence[Mapping[str, Any]]) -> set[int]:
    """Versions the history records as rolled back: kept, and never promoted again automatically."""
    return {v for h in history if h.get("action") == "RolledBack" and (v := _int(h.get("fromVersion"))) is not None}


def live_rollbacks(production: int | None, history: Sequence[Mapping[str, Any]], followers: Sequence[Follower],
                   now: str) -> LiveRollbacks:
    """The rollbacks of ``followers`` the history does not record yet (see the module docstring)."""
    out = LiveRollbacks(production=production)
    recorded: dict[int, list[dt.datetime]] = {}
    for h in history:
        if h.get("action") == "RolledBack" and (v := _int(h.get("fromVersion"))) is not None:
            recorded.setdefault(v, []).append(_time(h.get("at")))
    for f in sorted(followers, key=lambda f: f.name):
        rb = f.last_rollback
        if rb is None or f.aborted_version is None or _int(rb.get("from")) != f.aborted_version:
            continue
        v = f.aborted_version
        at = _time(rb.get("at"))
        if any(t >= at for t in recorded.get(v, [])):
            continue
        to = _int(rb.get("to"))
        if to is None and f.stable_version is not None and f.stable_version != v:
            to = f.stable_version
        reason = str(rb.get("reason") or "RolledBack")
        detail = str(rb.get("message") or "").strip()
        if out.production == v and to is not None:
            out.production = to
            where = f"production back to version {to}"
        elif out.production == v:
            where = "production stays at it: the deployment serves no other version"
        else:
            where = f"production already points at version {out.production}" if out.production else "no production"
        message = (f"ModelDeployment {f.name} rolled back version {v}" + (f" to version {to}" if to else "")
                   + f" ({reason}): {detail or 'no detail'}; {where}; version {v} is kept and not promoted again "
                   "automatically")[:4000]
        when = str(rb["at"]) if at > EPOCH else now
        out.history.append({"at": when, "action": "RolledBack", **({"version": to} if to is not None else {}),
                            "fromVersion": v, "reason": reason, "message": message})
        out.events.append(("Warning", "VersionRolledBack", message))
        recorded.setdefault(v, []).append(max(at, _time(when)))
    return out


EPOCH = dt.datetime.fromtimestamp(0, dt.UTC)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> dt.datetime:
    """RFC 3339 to an aware datetime; a missing or unreadable time is the epoch (any record covers it)."""
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return EPOCH
