"""Metric triggers of a Model's retraining (spec.retraining.triggers.metrics): drift and quality measured from the
serving pods of the ModelDeployments that serve the Model's production version, one verdict per check.

How a check is measured: every check has its own window (spec ``window``; :data:`DEFAULT_WINDOW` when omitted).
The pods are scraped when some check is due; each check keeps the scrape that opened its window (in the operator's
:class:`~herder.monitoring.builtin.ScrapeMemory`) and is measured once the window has elapsed, over the per-pod
increase between the two scrapes -- drift against the production version's baseline bins
(:func:`herder.policy.drift.measure_drift`), the other builtin metrics as rollout analysis measures them. After an
operator restart, or when production moves, the first scrape opens a window and measures nothing. A Prometheus
check is one query per serving ModelDeployment over its window, every window; the worst answer counts.

Why "too little traffic never triggers": below ``minSamples`` a measurement is Inconclusive (``noData: Fail``
makes it a failure); consecutive failures are kept on status.triggerMetrics per production version, and only
``failureLimit`` of them in a row count as a breach. A Pass resets them; an Inconclusive keeps them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from herder.api.common import MetricCheck, duration_seconds
from herder.api.dataset import ColumnProfile
from herder.controllers import lookups
from herder.controllers.context import ObjKey, OperatorContext
from herder.monitoring import prometheus, sampling
from herder.monitoring.builtin import scrape_with_bins
from herder.policy.analysis import Measurement, evaluate, verdict
from herder.policy.dataset_revisions import profile_of
from herder.policy.drift import (
    DEFAULT_MIN_SAMPLES,
    DRIFT_METRICS,
    DriftMeasurement,
    baseline_from_profile,
    measure_drift,
    window_counts,
)
from herder.policy.retraining import Breach
from herder.policy.timestamps import rfc3339
from herder.storage.metadata import BaselineProfile

DEFAULT_WINDOW = "5m"
"""Window of a trigger check without one (retraining reacts to sustained change, not to a minute's noise)."""


@dataclass
class TriggerState:
    """What the Model's reconcile needs from the metric triggers."""

    breaches: list[Breach] = field(default_factory=list)
    status: list[dict[str, Any]] | None = None
    """status.triggerMetrics (None: leave as it is)."""
    requeue_after: float | None = None
    deployments: set[ObjKey] = field(default_factory=set)


def window_of(check: MetricCheck) -> float:
    return duration_seconds(check.window or DEFAULT_WINDOW)


def breaches_from(checks: list[MetricCheck], stored: list[dict[str, Any]], version: int | None) -> list[Breach]:
    """Pure: a Breach per check from the latest measurements on status (only those of the production version)."""
    by_name = {m.get("name"): m for m in stored if m.get("version") == version}
    out = []
    for c in checks:
        m = by_name.get(c.name)
        if m is None:
            continue
        failures = int(m.get("consecutiveFailures") or 0)
        value = m.get("value")
        shown = "no data" if value is None else value
        out.append(Breach(c.name, c.metric or "Prometheus", failures >= c.failure_limit,
                          f"{c.metric or 'query'}={shown} ({m.get('verdict')}, {m.get('samples', 0)} samples; "
                          f"{m.get('message', '')}); {failures} consecutive failure(s), failureLimit "
                          f"{c.failure_limit}", value))
    return out


def worst_of(check: MetricCheck, per_deployment: list[tuple[str, Measurement]]) -> Measurement:
    """Pure: one measurement of a check taken per serving ModelDeployment (Prometheus queries name one deployment)
    -> the one that matters: a failing deployment's first, else an inconclusive one's (a deployment without
    enough data keeps the check inconclusive), else the first passing one. The message names the deployment."""
    if not per_deployment:
        return Measurement(None, 0, "no ModelDeployment serves the production version")
    rank = {"Fail": 0, "Inconclusive": 1, "Pass": 2}
    name, m = min(per_deployment, key=lambda dm: rank[verdict(check, dm[1])])
    prefix = f"ModelDeployment {name}: " if len(per_deployment) > 1 else ""
    return Measurement(m.value, m.samples, prefix + m.message)


def serving_deployments(ctx: OperatorContext, ns: str, model: str, version: int) -> list[str]:
    """ModelDeployments of this Model whose stable track serves ``version`` (production)."""
    return sorted(k.name for k, b in ctx.store.items("ModelDeployment")
                  if k.namespace == ns and b.get("spec", {}).get("model", {}).get("name") == model
                  and (b.get("status") or {}).get("stableVersion") == version)


def baseline_of(ctx: OperatorContext, ns: str, mv: Mapping[str, Any]) -> BaselineProfile | None:
    """The production version's drift baseline: the bins of the Dataset revision it was trained on (the same bins
    the trainer wrote into the artifact's metadata and the server counts into) -- the current profile, or a kept
    baseline once newer content is current (comparing live counts with another revision's bins would be noise)."""
    lineage = ((mv.get("spec") or {}).get("lineage") or {}).get("dataset") or {}
    ds = lookups.get(ctx, "Dataset", ns, lineage["name"]) if lineage.get("name") else None
    revision = lineage.get("revision") if isinstance(lineage.get("revision"), int) else None
    profile = profile_of((ds or {}).get("status") or {}, revision)
    if not profile:
        return None
    target = (((ds or {}).get("spec") or {}).get("schema") or {}).get("target")
    columns = [ColumnProfile.model_validate(p) for p in profile]
    return baseline_from_profile(columns, target=target)


def measure_triggers(ctx: OperatorContext, checks: list[MetricCheck], *, ns: str, model: str,
                     production: int | None, production_mv: Mapping[str, Any] | None,
                     stored: list[dict[str, Any]]) -> TriggerState:
    """Measure the checks that are due; the breaches from the latest measurements (see the module doc)."""
    state = TriggerState()
    if production is None or production_mv is None:
        state.status = [{"name": c.name, "verdict": "Inconclusive", "message": "no production version to measure"}
                        for c in checks]
        return state
    deps = serving_deployments(ctx, ns, model, production)
    state.deployments = {ObjKey("ModelDeployment", ns, d) for d in deps}
    now = time.monotonic()
    keys = {c.name: (f"Model:{ns}", model, f"retrain:{c.name}") for c in checks}
    due = [c for c in checks if sampling.is_due(ctx.scrapes.get(keys[c.name], production), now, window_of(c))]
    waits = [sampling.wait(prev, now, window_of(c)) for c in checks
             if (prev := ctx.scrapes.get(keys[c.name], production)) is not None]
    state.requeue_after = max(1.0, min(waits, default=min(window_of(c) for c in checks)))
    if not deps:
        state.status = [{"name": c.name, "verdict": "Inconclusive", "version": production,
                         "message": f"no ModelDeployment serves production version {production} of {model}"}
                        for c in checks]
        return state
    if due:
        builtin = any(c.provider == "Builtin" for c in due)  # Prometheus checks need no scrape of the pods
        targets = [t for d in deps for t in sampling.pod_targets(ctx.clients.core, ns, d, sampling.STABLE_TRACK,
                                                                     production)
                   ] if builtin else []
        current, bins = scrape_with_bins(targets, production)
        baseline = baseline_of(ctx, ns, production_mv) if any(c.metric in DRIFT_METRICS for c in due) else None
        measured: dict[str, Measurement] = {}
        for c in due:
            key = keys[c.name]
            previous, prev_bins = ctx.scrapes.get(key, production), ctx.scrapes.get_bins(key, production)
            ctx.scrapes.put(key, production, current)
            ctx.scrapes.put_bins(key, production, bins)
            if c.provider != "Builtin":  # the query covers its window itself: measured whenever due
                measured[c.name] = worst_of(c, [(d, prometheus.measure(
                    c, url=ctx.config.prometheus_url or "", namespace=ns, deployment=d, version=production,
                    window_seconds=window_of(c))) for d in deps])
                continue
            if previous is None:
                continue  # this scrape opens the check's first window
            if c.metric in DRIFT_METRICS:
                measured[c.name] = measure_drift(c.metric or "", baseline, window_counts(prev_bins, bins),
                                                 c.min_samples if c.min_samples is not None else DEFAULT_MIN_SAMPLES)
            else:
                measured[c.name] = sampling.measure_builtin(c, previous, current)
        if measured:
            mine = sampling.of_version(stored, production)
            result = evaluate([c for c in checks if c.name in measured], measured,
                              sampling.failures_of(stored, production))
            at = rfc3339()
            fresh = {}
            for r in result.checks:
                wire = r.wire(at, production)
                m = measured[r.name]
                if isinstance(m, DriftMeasurement) and m.features:
                    wire["features"] = m.wire_features()
                if current.unreachable:
                    wire["message"] = f"{wire.get('message', '')}{sampling.unreachable_note(current)}"
                fresh[r.name] = wire
            old = {m["name"]: m for m in mine}
            state.status = [fresh.get(c.name) or old.get(c.name) or {
                "name": c.name, "verdict": "Inconclusive", "version": production,
                "message": "first window open; measured when it has elapsed"} for c in checks]
    state.breaches = breaches_from(checks, state.status if state.status is not None else stored, production)
    return state
