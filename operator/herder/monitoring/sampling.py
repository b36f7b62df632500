"""The one measurement cycle every consumer of live metrics shares: rollout analysis of the canary (or preview)
pods, monitoring of the stable pods after a promotion, and the metric triggers of retraining.

A cycle is: the pods that serve one version of one ModelDeployment's track (:func:`pod_targets`) -> whether the
window opened by the remembered scrape has elapsed (:func:`is_due`) -> one scrape of their ``/metrics``,
remembered per (owner, purpose) in :class:`~herder.monitoring.builtin.ScrapeMemory` (:func:`take`) -> a
measurement per check over the two scrapes, builtin from the per-pod deltas, Prometheus by one query over the
check's window (:func:`measure_checks`) -> the verdicts, with the consecutive failures carried over from status
(:func:`failures_of`, :func:`herder.policy.analysis.evaluate`).

Why one module: the three consumers used to write this cycle out each, with two copies of the pod query (label
selectors spelled as strings) and slightly different rules for "is the window over". The rules are now one set:
a window counts as elapsed at 95 % of its length (a reconcile a little early still measures, instead of waiting a
whole further interval), and a version's measurements on status are the only memory of its failures.

Everything here except :func:`pod_targets` and :func:`take` (which read the API server and the pods) is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from herder.api.common import MetricCheck, MetricValue, duration_seconds
from herder.monitoring import prometheus
from herder.monitoring.builtin import ScrapeMemory, Target, scrape
from herder.policy.analysis import CheckResult, Measurement, Scrape, interval_delta, measure

SERVING_LABEL = "herder.dev/serving"
TRACK_LABEL = "herder.dev/track"
VERSION_LABEL = "herder.dev/model-version"
STABLE_TRACK = "stable"
"""The track monitoring and retraining triggers measure (rollout analysis measures the canary or preview track)."""
DUE_FRACTION = 0.95
"""A window counts as elapsed at this fraction of its length (requeues are not exact)."""

ScrapeKey = tuple[str, str, str]
StoredMetric = MetricValue | Mapping[str, Any]
"""A measurement on status: typed (a ModelDeployment's, read through its status model) or as the API server stores
it (a Model's retraining triggers)."""
S = TypeVar("S", bound=StoredMetric)


class PodLister(Protocol):
    """The part of ``kubernetes.client.CoreV1Api`` the pod query needs."""

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any: ...


def serving_labels(deployment: str, track: str, version: int) -> dict[str, str]:
    """The labels of the pods of one ModelDeployment's track serving one version (herder.resources.serving)."""
    return {SERVING_LABEL: deployment, TRACK_LABEL: track, VERSION_LABEL: str(version)}


def label_selector(labels: Mapping[str, str]) -> str:
    """A Kubernetes equality label selector for ``labels``."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


def pod_targets(core: PodLister, namespace: str, deployment: str, track: str, version: int) -> list[Target]:
    """The running, not terminating pods with an IP of ``deployment``'s ``track`` serving ``version``."""
    pods = core.list_namespaced_pod(namespace, label_selector=label_selector(serving_labels(deployment, track,
                                                                                             version)))
    return [Target(f"{p.metadata.name}/{p.metadata.uid}", p.status.pod_ip) for p in pods.items
            if p.status and p.status.pod_ip and p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def is_due(previous: Scrape | None, now: float, window: float) -> bool:
    """Whether a new scrape is due: nothing remembered yet, or the window ``previous`` opened has elapsed."""
    return previous is None or now - previous.at >= window * DUE_FRACTION


def wait(previous: Scrape, now: float, window: float) -> float:
    """Seconds until the window ``previous`` opened has elapsed (negative: overdue)."""
    return window - (now - previous.at)


def take(memory: ScrapeMemory, key: ScrapeKey, version: int, targets: Iterable[Target]) -> tuple[Scrape | None,
                                                                                                  Scrape]:
    """Scrape ``targets`` now and remember it under ``key``: (the scrape it replaces, if of ``version``; this one)."""
    previous = memory.get(key, version)
    current = scrape(targets, version)
    memory.put(key, version, current)
    return previous, current


def measure_builtin(check: MetricCheck, previous: Scrape, current: Scrape) -> Measurement:
    """A builtin (non-drift) check over the per-pod increase between two scrapes."""
    return measure(check.metric or "", interval_delta(previous, current), current.at - previous.at)


def measure_checks(checks: Sequence[MetricCheck], previous: Scrape, current: Scrape, *, prometheus_url: str | None,
                   namespace: str, deployment: str, version: int) -> dict[str, Measurement]:
    """Builtin checks from the two scrapes (per-pod deltas); Prometheus checks by one PromQL query each over
    the check's window (the interval between the scrapes when it has none)."""
    seconds = current.at - previous.at
    out = {}
    for c in checks:
        if c.provider == "Builtin":
            out[c.name] = measure_builtin(c, previous, current)
        else:
            out[c.name] = prometheus.measure(
                c, url=prometheus_url or "", namespace=namespace, deployment=deployment, version=version,
                window_seconds=duration_seconds(c.window) if c.window else max(1.0, seconds))
    return out


def _version(m: StoredMetric) -> Any:
    return m.version if isinstance(m, MetricValue) else m.get("version")


def of_version(stored: Iterable[S] | None, version: int | None) -> list[S]:
    """The measurements on status that belong to ``version`` (status keeps one list across versions)."""
    return [m for m in stored or () if _version(m) == version]


def failures_of(stored: Iterable[StoredMetric] | None, version: int | None) -> dict[str, int]:
    """Consecutive failures per check of ``version``, as the latest measurements on status record them."""
    out = {}
    for m in of_version(stored, version):
        if isinstance(m, MetricValue):
            out[m.name] = m.consecutive_failures or 0
        else:
            out[str(m["name"])] = int(m.get("consecutiveFailures") or 0)
    return out


def unreachable_note(s: Scrape) -> str:
    """"; unreachable pods: ..." when some pod could not be read (appended to a measurement's message)."""
    return "; unreachable pods: " + ", ".join(s.unreachable) if s.unreachable else ""


def metric_values(results: Iterable[CheckResult], at: str, version: int) -> list[MetricValue]:
    """Check results as ``MetricValue`` entries on status."""
    return [r.metric_value(at, version) for r in results]
