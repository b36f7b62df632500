"""The builtin metric provider: read the serving pods' ``/metrics`` directly (no Prometheus needed).

Each scrape reads every given pod (short timeout; an unreachable pod is named, not fatal) and keeps, per pod, the
counters of one model version: inference requests and 5xx answers (``herder_requests_total``), the latency
histogram (``herder_request_duration_seconds``) and feedback outcomes (``herder_feedback_total``); and, for drift
(:func:`scrape_with_bins`), the per-(feature, bin) input counts (``herder_feature_bin_total``) and the prediction
class counts (``herder_predictions_total``) or value bins (``herder_prediction_bin_total``). The previous
scrape of each ModelDeployment lives in :class:`ScrapeMemory` (in the operator's context, not a module global), so
every interval compares two scrapes; after an operator restart there is no previous scrape and the first interval
is inconclusive.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from herder.policy.analysis import Counters, Scrape
from herder.policy.drift import BinCounts, DriftScrape

SCRAPE_TIMEOUT_SECONDS = 2.0
METRICS_PORT = 8080
MAX_KEPT_SCRAPES = 1000
"""Drift scrapes kept per ModelDeployment for long windows (e.g. a 24h window scraped every 90s)."""


@dataclass(frozen=True)
class Target:
    pod: str
    """Pod identity: name/uid (a replaced pod with the same name is a new pod)."""
    ip: str


def parse_counters(text: str, version: int) -> Counters:
    """The counters of ``version`` in one exposition text (summed over protocols)."""
    want = str(version)
    requests = errors = correct = incorrect = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("version") != want:
                continue
            if s.name == "herder_requests_total":
                requests += s.value
                if s.labels.get("code", "").startswith("5"):
                    errors += s.value
            elif s.name == "herder_request_duration_seconds_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
            elif s.name == "herder_feedback_total":
                outcome = s.labels.get("outcome", "")
                if outcome == "correct":
                    correct += s.value
                elif outcome == "incorrect":
                    incorrect += s.value
    return Counters(requests, errors, tuple(sorted(buckets.items())), correct, incorrect)


def parse_bins(text: str, version: int) -> BinCounts:
    """The drift counters of ``version`` in one exposition text: rows per (feature, bin index), predictions per
    class (classification) or per bin of the predicted value (regression). Bins are dense by index (a bin the
    text does not name counts 0)."""
    want = str(version)
    features: dict[str, dict[int, float]] = {}
    classes: dict[str, float] = {}
    pbins: dict[int, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in {"herder_feature_bin", "herder_predictions", "herder_prediction_bin"}:
            continue
        for s in family.samples:
            if s.labels.get("version") != want or not s.name.endswith("_total"):
                continue
            if s.name == "herder_feature_bin_total":
                per = features.setdefault(s.labels["feature"], {})
                b = int(s.labels["bin"])
                per[b] = per.get(b, 0.0) + s.value
            elif s.name == "herder_predictions_total":
                classes[s.labels["class"]] = classes.get(s.labels["class"], 0.0) + s.value
            elif s.name == "herder_prediction_bin_total":
                b = int(s.labels["bin"])
                pbins[b] = pbins.get(b, 0.0) + s.value
    return BinCounts({name: _dense(per) for name, per in features.items()}, classes, _dense(pbins))


def _dense(by_index: dict[int, float]) -> tuple[float, ...]:
    if not by_index:
        return ()
    if min(by_index) < 0:
        raise ValueError(f"negative bin index {min(by_index)}")
    return tuple(by_index.get(i, 0.0) for i in range(max(by_index) + 1))


def fetch(ip: str, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> str:
    with urllib.request.urlopen(f"http://{ip}:{METRICS_PORT}/metrics", timeout=timeout) as r:
        return str(r.read().decode())


def scrape(targets: Iterable[Target], version: int, clock: Callable[[], float] | None = None,
           get: Callable[[str], str] | None = None) -> Scrape:
    """The request/latency/feedback counters of every pod (see :func:`scrape_with_bins` for drift too)."""
    return scrape_with_bins(targets, version, clock, get)[0]


def scrape_with_bins(targets: Iterable[Target], version: int, clock: Callable[[], float] | None = None,
                     get: Callable[[str], str] | None = None) -> tuple[Scrape, DriftScrape]:
    """One read of every pod's /metrics, as the rollout counters and the drift counters (same pods, same moment,
    same unreachable list). Per-pod window counts: :func:`herder.policy.drift.window_counts`.

    ``clock`` and ``get`` default to ``time.monotonic`` and :func:`fetch`, looked up when called (so a test can
    replace them for the whole operator)."""
    clock = clock or time.monotonic
    get = get or fetch
    pods: dict[str, Counters] = {}
    bins: dict[str, BinCounts] = {}
    unreachable: list[str] = []
    for t in targets:
        try:
            text = get(t.ip)
            counters, counts = parse_counters(text, version), parse_bins(text, version)
        except (OSError, ValueError, KeyError) as e:
            unreachable.append(f"{t.pod.split('/')[0]} ({type(e).__name__}: {e})")
            continue
        pods[t.pod], bins[t.pod] = counters, counts
    at, missing = clock(), tuple(unreachable)
    return Scrape(at, pods, missing), DriftScrape(at, bins, missing)


@dataclass(frozen=True)
class Remembered:
    version: int
    scrape: Scrape


class ScrapeMemory:
    """The previous scrape per (ModelDeployment, purpose), thread-safe (reconciles run on worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str], Remembered] = {}
        self._bins: dict[tuple[str, str, str], tuple[int, tuple[DriftScrape, ...]]] = {}

    def get(self, key: tuple[str, str, str], version: int) -> Scrape | None:
        with self._lock:
            r = self._last.get(key)
        return r.scrape if r is not None and r.version == version else None

    def put(self, key: tuple[str, str, str], version: int, s: Scrape) -> None:
        with self._lock:
            self._last[key] = Remembered(version, s)

    def get_bins(self, key: tuple[str, str, str], version: int, window_seconds: float | None = None,
                 now: float | None = None) -> DriftScrape | None:
        """A remembered drift scrape of ``version`` (kept apart from the rollout scrape: drift windows are usually
        longer than analysis intervals). Without ``window_seconds``: the latest. With it: the newest scrape taken at
        least ``window_seconds`` before ``now`` (default: the latest scrape's time), so the window covers the check's
        ``window``; the oldest one kept when none is that old yet (a shorter window -- its row count shows it)."""
        with self._lock:
            r = self._bins.get(key)
        if r is None or r[0] != version or not r[1]:
            return None
        kept = r[1]
        if window_seconds is None:
            return kept[-1]
        cutoff = (kept[-1].at if now is None else now) - window_seconds
        old_enough = [s for s in kept if s.at <= cutoff]
        return old_enough[-1] if old_enough else kept[0]

    def put_bins(self, key: tuple[str, str, str], version: int, s: DriftScrape, keep_seconds: float = 0.0) -> None:
        """Remember ``s``; with ``keep_seconds`` also the earlier scrapes of the same version needed to look back that
        far from ``s`` (the newest one at least that old, and every later one; at most MAX_KEPT_SCRAPES)."""
        with self._lock:
            r = self._bins.get(key)
            kept = [*(r[1] if r is not None and r[0] == version else ()), s]
            cutoff = s.at - keep_seconds
            first = max((i for i, k in enumerate(kept) if k.at <= cutoff), default=0)
            self._bins[key] = (version, tuple(kept[first:][-MAX_KEPT_SCRAPES:]))

    def forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._last.pop(key, None)
            self._bins.pop(key, None)
