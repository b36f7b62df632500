"""The builtin metric provider: read the serving pods' ``/metrics`` directly (no Prometheus needed).

Each scrape reads every given pod (short timeout; an unreachable pod is named, not fatal) and keeps, per pod, the
counters of one model version: inference requests and 5xx answers (``herder_requests_total``), the latency
histogram (``herder_request_duration_seconds``) and feedback outcomes (``herder_feedback_total``). The previous
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

SCRAPE_TIMEOUT_SECONDS = 2.0
METRICS_PORT = 8080


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


def fetch(ip: str, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> str:
    with urllib.request.urlopen(f"http://{ip}:{METRICS_PORT}/metrics", timeout=timeout) as r:
        return str(r.read().decode())


def scrape(targets: Iterable[Target], version: int, clock: Callable[[], float] = time.monotonic,
           get: Callable[[str], str] = fetch) -> Scrape:
    pods: dict[str, Counters] = {}
    unreachable: list[str] = []
    for t in targets:
        try:
            pods[t.pod] = parse_counters(get(t.ip), version)
        except (OSError, ValueError) as e:
            unreachable.append(f"{t.pod.split('/')[0]} ({type(e).__name__}: {e})")
    return Scrape(clock(), pods, tuple(unreachable))


@dataclass(frozen=True)
class Remembered:
    version: int
    scrape: Scrape


class ScrapeMemory:
    """The previous scrape per (ModelDeployment, purpose), thread-safe (reconciles run on worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str], Remembered] = {}

    def get(self, key: tuple[str, str, str], version: int) -> Scrape | None:
        with self._lock:
            r = self._last.get(key)
        return r.scrape if r is not None and r.version == version else None

    def put(self, key: tuple[str, str, str], version: int, s: Scrape) -> None:
        with self._lock:
            self._last[key] = Remembered(version, s)

    def forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._last.pop(key, None)
