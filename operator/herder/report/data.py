"""The report's view of a Model, its ModelVersions and the ModelDeployments serving it, built from the objects as
the API server returns them (plain dicts).

Why not the pydantic API models: a report is read long after the objects were written, possibly by a newer or
older ``herder`` than the operator that wrote them; a field this version does not know (or no longer has) must
not stop the report. So only the fields the report shows are read, each defensively, and everything else is
ignored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from herder.policy.drift import DRIFT_METRICS


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp from status or metadata (UTC when it has no offset); None when absent or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def number(value: Any) -> float | None:
    """A decimal string (or number) as a float; None when it is not a finite number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _numbers(value: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in _dict(value).items():
        x = number(v)
        if x is not None:
            out[str(k)] = x
    return out


@dataclass(frozen=True)
class VersionRow:
    """One ModelVersion."""

    version: int
    name: str
    created: dt.datetime | None
    metrics: Mapping[str, float]
    """Offline (holdout) metrics."""
    training_job: str | None = None
    dataset: str | None = None
    """Dataset name and the first 12 hex digits of the digest trained on."""
    estimator: str | None = None
    aliases: tuple[str, ...] = ()
    rejected: str | None = None
    """Reason and message of a True Rejected condition (failed gate or rolled back)."""
    gate: str | None = None
    """The gate's message."""


@dataclass(frozen=True)
class Event:
    """One step of the loop: a Model history entry, or a ModelDeployment's last rollback."""

    at: dt.datetime
    action: str
    reason: str
    message: str = ""
    version: int | None = None
    from_version: int | None = None
    metrics: Mapping[str, str] = field(default_factory=dict)
    source: str = "Model"
    training_job: str | None = None
    """The TrainingJob of a retrain step (RetrainTriggered, RetrainFailed, Trained)."""
    revision: int | None = None
    """The Dataset revision of a NewRevision / RevisionFailed step."""

    @property
    def label(self) -> str:
        """The short text the timeline writes beside the step: the versions it moved, else why it happened (a
        failed or skipped retrain has no version, and its reason is what a reader needs)."""
        if self.revision:
            return f"rev {self.revision}"
        if self.from_version and self.version:
            return f"v{self.from_version}→v{self.version}"
        if self.version:
            return f"v{self.version}"
        return self.reason


@dataclass(frozen=True)
class Measured:
    """The latest measurement of one metric check (Model trigger metrics, ModelDeployment analysis or monitoring)."""

    source: str
    """Where it was read, e.g. "Model trigger" or "mdep iris-prod monitoring"."""
    name: str
    metric: str | None
    """The builtin metric of the check when known (from the spec)."""
    value: float | None
    verdict: str
    samples: int | None
    measured_at: dt.datetime | None
    version: int | None
    message: str
    features: Mapping[str, float] = field(default_factory=dict)
    threshold_max: float | None = None

    @property
    def is_drift(self) -> bool:
        return self.metric in DRIFT_METRICS or bool(self.features)


@dataclass(frozen=True)
class DeploymentRow:
    name: str
    follows: str
    """"alias production", "version 3", ..."""
    stable: int | None
    canary: int | None
    weight: int | None
    ready: str
    """Status and reason of the Ready condition."""
    last_rollback: Event | None
    message: str


@dataclass(frozen=True)
class ReportData:
    namespace: str
    model: str
    task: str
    latest_version: int | None
    aliases: Mapping[str, int]
    production_metrics: Mapping[str, float]
    message: str
    versions: tuple[VersionRow, ...]
    events: tuple[Event, ...]
    """Model history and deployment rollbacks, oldest first."""
    measured: tuple[Measured, ...]
    deployments: tuple[DeploymentRow, ...]
    drift_checks: Mapping[str, str]
    """Drift check name -> builtin metric (from the retraining triggers and the deployments' checks)."""
    generated_at: dt.datetime

    @property
    def drift(self) -> tuple[Measured, ...]:
        """Measurements of drift checks (with per-feature values where the operator recorded them)."""
        return tuple(m for m in self.measured if m.is_drift)

    @property
    def rolled_back(self) -> dict[int, Event]:
        """Version -> the rollback that took it out of service (the latest one), from the Model's history and the
        deployments' last rollbacks: such a version passed the offline gate but failed live."""
        return {e.from_version: e for e in self.events if e.action == "RolledBack" and e.from_version is not None}

    def drift_history(self) -> dict[str, list[tuple[dt.datetime, float]]]:
        """Drift check name -> (time, value) from the history entries' metrics (the numbers behind each step)."""
        out: dict[str, list[tuple[dt.datetime, float]]] = {}
        for e in self.events:
            for k, v in e.metrics.items():
                x = number(v)
                if k in self.drift_checks and x is not None:
                    out.setdefault(k, []).append((e.at, x))
        return out


def _checks(spec_checks: Any) -> dict[str, tuple[str | None, float | None]]:
    out: dict[str, tuple[str | None, float | None]] = {}
    for raw in _list(spec_checks):
        c = _dict(raw)
        if isinstance(c.get("name"), str):
            metric = c.get("metric") if isinstance(c.get("metric"), str) else None
            out[c["name"]] = (metric, number(_dict(c.get("threshold")).get("max")))
    return out


def _measured(source: str, values: Any, checks: Mapping[str, tuple[str | None, float | None]]) -> list[Measured]:
    out = []
    for raw in _list(values):
        v = _dict(raw)
        name = str(v.get("name") or "?")
        metric, threshold = checks.get(name, (None, None))
        out.append(Measured(source, name, metric, number(v.get("value")), str(v.get("verdict") or ""),
                            _int(v.get("samples")), parse_time(v.get("measuredAt")), _int(v.get("version")),
                            str(v.get("message") or ""), _numbers(v.get("features")), threshold))
    return out


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for c in _list(_dict(obj.get("status")).get("conditions")):
        if _dict(c).get("type") == kind:
            return _dict(c)
    return None


def _version_row(obj: Mapping[str, Any]) -> VersionRow | None:
    spec, status, meta = _dict(obj.get("spec")), _dict(obj.get("status")), _dict(obj.get("metadata"))
    version = _int(spec.get("version"))
    if version is None:
        return None
    lineage = _dict(spec.get("lineage"))
    ds = _dict(lineage.get("dataset"))
    revision = f" rev {ds['revision']}" if _int(ds.get("revision")) else ""
    dataset = f"{ds.get('name')}{revision}@{str(ds.get('digest', ''))[:12]}" if ds.get("name") else None
    est = _dict(lineage.get("estimator"))
    rejected = _condition(obj, "Rejected")
    rejected_text = None
    if rejected is not None and rejected.get("status") == "True":
        rejected_text = f"{rejected.get('reason', '')}: {rejected.get('message', '')}".strip(": ")
    gate = _dict(status.get("gate"))
    return VersionRow(version, str(meta.get("name") or ""), parse_time(meta.get("creationTimestamp")),
                      _numbers(spec.get("metrics")), lineage.get("trainingJob"), dataset,
                      str(est["class"]) if est.get("class") else None,
                      tuple(str(a) for a in _list(status.get("aliases"))), rejected_text,
                      str(gate["message"]) if gate.get("message") else None)


def _follows(selector: Mapping[str, Any]) -> str:
    if selector.get("alias"):
        return f"alias {selector['alias']}"
    if selector.get("version") is not None:
        return f"version {selector['version']}"
    return "?"


def revision_events(datasets: Sequence[Mapping[str, Any]]) -> list[Event]:
    """The Datasets' revisions as steps of the loop: new data (passed) and content that failed validation."""
    out = []
    for d in datasets:
        name = str(_dict(d.get("metadata")).get("name") or "?")
        for raw in _list(_dict(d.get("status")).get("revisions")):
            r = _dict(raw)
            at, number = parse_time(r.get("validatedAt")), _int(r.get("number"))
            if at is None or number is None:
                continue
            passed = r.get("result") == "Passed"
            what = f"{r.get('rows')} rows, {str(r.get('digest') or '')[:19]}" if passed else str(r.get("message") or "")
            out.append(Event(at, "NewRevision" if passed else "RevisionFailed",
                             "Validated" if passed else str(r.get("reason") or "ValidationFailed"),
                             f"Dataset {name} revision {number}: {what}", source=f"Dataset {name}",
                             revision=number))
    return out


def serves(deployment: Mapping[str, Any], model: str) -> bool:
    """Whether a ModelDeployment serves ``model``."""
    return _dict(_dict(deployment.get("spec")).get("model")).get("name") == model


def report_data(model: Mapping[str, Any], versions: Sequence[Mapping[str, Any]],
                deployments: Sequence[Mapping[str, Any]], now: dt.datetime | None = None,
                datasets: Sequence[Mapping[str, Any]] = ()) -> ReportData:
    """The report's view of the objects (versions of other models and deployments of other models are ignored;
    ``datasets`` are the ones the Model trains on, whose revisions join the timeline)."""
    meta, spec, status = _dict(model.get("metadata")), _dict(model.get("spec")), _dict(model.get("status"))
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "")
    rows = sorted((r for v in versions
                   if _dict(_dict(v.get("spec")).get("modelRef")).get("name") in (name, None)
                   and (r := _version_row(v)) is not None), key=lambda r: r.version)
    events: list[Event] = []
    for raw in _list(status.get("history")):
        h = _dict(raw)
        at = parse_time(h.get("at"))
        if at is None:
            continue
        events.append(Event(at, str(h.get("action") or "?"), str(h.get("reason") or ""), str(h.get("message") or ""),
                            _int(h.get("version")), _int(h.get("fromVersion")),
                            {str(k): str(v) for k, v in _dict(h.get("metrics")).items()},
                            training_job=str(h["trainingJob"]) if h.get("trainingJob") else None))
    trigger_checks = _checks(_dict(_dict(spec.get("retraining")).get("triggers")).get("metrics"))
    measured = _measured("Model trigger", status.get("triggerMetrics"), trigger_checks)
    drift_checks = {k: m for k, (m, _) in trigger_checks.items() if m in DRIFT_METRICS}
    deps: list[DeploymentRow] = []
    for d in sorted(deployments, key=lambda d: str(_dict(d.get("metadata")).get("name"))):
        if not serves(d, name):
            continue
        dname = str(_dict(d.get("metadata")).get("name") or "")
        dspec, dstatus = _dict(d.get("spec")), _dict(d.get("status"))
        for part in ("analysis", "monitoring"):
            checks = _checks(_dict(dspec.get(part)).get("metrics"))
            drift_checks.update({k: m for k, (m, _) in checks.items() if m in DRIFT_METRICS})
            measured += _measured(f"{dname} {part}", dstatus.get(f"{part}Metrics"), checks)
        rb = _dict(dstatus.get("lastRollback"))
        rollback = None
        if (rb_at := parse_time(rb.get("at"))) is not None:
            rollback = Event(rb_at, "RolledBack", str(rb.get("reason") or ""), str(rb.get("message") or ""),
                             _int(rb.get("to")), _int(rb.get("from")), source=f"ModelDeployment {dname}")
            if not any(e.action == "RolledBack" and e.at == rb_at for e in events):
                events.append(rollback)
        ready = _condition(d, "Ready")
        deps.append(DeploymentRow(dname, _follows(_dict(dspec.get("model"))), _int(dstatus.get("stableVersion")),
                                  _int(dstatus.get("canaryVersion")), _int(dstatus.get("canaryWeight")),
                                  f"{ready.get('status')} ({ready.get('reason')})" if ready else "unknown",
                                  rollback, str(dstatus.get("message") or "")))
    events += revision_events(datasets)
    events.sort(key=lambda e: e.at)
    aliases = {k: v for k, v in _dict(status.get("aliases")).items() if _int(v) is not None}
    return ReportData(namespace, name, str(spec.get("task") or ""), _int(status.get("latestVersion")), aliases,
                      _numbers(status.get("productionMetrics")), str(status.get("message") or ""), tuple(rows),
                      tuple(events), tuple(measured), tuple(deps), drift_checks,
                      now or dt.datetime.now(dt.UTC))
