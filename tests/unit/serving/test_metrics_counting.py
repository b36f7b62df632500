"""/metrics counts exactly what was observed, although the server queues observations and counts them in bulk.

The server appends each request's status, latency, batch size, input rows and predicted labels to queues and
folds them with numpy every FLUSH_ROWS observations and before every scrape (metrics.py). These tests compare
the exposition with a plain one-observation-at-a-time reference, across the flush boundary and with scrapes in
between, so the bulk path cannot lose, double-count or mis-bucket anything the operator reads.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter

import numpy as np

from herder.serving.drift import FLUSH_ROWS, MAX_TABLE_EDGES, FeatureBinCounter, numeric_bin
from herder.serving.metrics import BATCH_BUCKETS, LATENCY_BUCKETS, ServerMetrics
from herder.serving.signature import Signature
from herder.storage.metadata_reader import BaselineProfile, FeatureSpec, NumericBins
from tests.unit.serving.helpers import metric_value, numeric_estimator, numeric_metadata, served

PROTOCOLS = ("v1", "v2")


def _cumulative(bounds: tuple[float, ...], values: list[float]) -> dict[str, int]:
    """Prometheus buckets (value <= bound) counted one value at a time."""
    per_bucket = [0] * (len(bounds) + 1)
    for value in values:
        per_bucket[bisect.bisect_left(bounds, value)] += 1
    out, running = {}, 0
    for bound, count in zip([*bounds, float("inf")], per_bucket, strict=True):
        running += count
        out["+Inf" if bound == float("inf") else repr(float(bound))] = running
    return out


def _bin(edges: list[float], value: float) -> int:
    return bisect.bisect_right(edges, value)


def test_bulk_counting_matches_one_at_a_time_across_flushes_and_scrapes() -> None:
    metrics = ServerMetrics(model=served(numeric_metadata(), numeric_estimator()))
    rng = random.Random(7)
    # latencies include exact bucket bounds: a value equal to a bound belongs to that bound's bucket (le)
    latency_choices = [*LATENCY_BUCKETS, 0.0001, 0.0007, 0.003, 20.0]
    statuses: Counter[tuple[str, int]] = Counter()
    latencies: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
    batches: list[float] = []
    a_bins = [0, 0, 0, 0]
    n_bins = [0, 0, 0, 0]
    labels_seen: Counter[int] = Counter()
    scraped_midway = ""
    total = 2 * FLUSH_ROWS + 300
    for i in range(total):
        protocol = PROTOCOLS[i % 3 == 0]
        status = rng.choice((200, 200, 200, 400, 503))
        seconds = rng.choice(latency_choices)
        metrics.observe_request(protocol, status, seconds)
        statuses[(protocol, status)] += 1
        latencies[protocol].append(seconds)
        if status == 200:
            rows = rng.choice((1, 1, 2, 5))
            matrix = np.asarray(
                [
                    [rng.choice((-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 4.0)), 0.0, rng.choice((0, 1, 2, 7))]
                    for _ in range(rows)
                ]
            )
            labels = [rng.choice((0, 1)) for _ in range(rows)]
            metrics.observe_batch(rows)
            # float rows are queued as bytes, other matrices (categorical features) as arrays: mix both
            metrics.observe_inference(matrix.astype(object) if i % 7 == 0 else matrix, labels)
            batches.append(rows)
            labels_seen.update(labels)
            for a, _, n in matrix.tolist():
                a_bins[_bin([-1.0, 0.0, 1.0], a)] += 1
                n_bins[int(n) if n in (0, 1, 2) else 3] += 1
        if i == FLUSH_ROWS + 17:
            scraped_midway = metrics.exposition().decode()
            expected_midway = sum(statuses.values())
    assert sum(metric_value(scraped_midway, "herder_requests_total", protocol=p, code=str(c)) or 0
               for p in PROTOCOLS for c in (200, 400, 503)) == expected_midway  # fmt: skip

    text = metrics.exposition().decode()
    for (protocol, status), count in statuses.items():
        assert metric_value(text, "herder_requests_total", protocol=protocol, code=str(status)) == count
    assert metrics.requests == dict(statuses)
    for protocol, values in latencies.items():
        for le, count in _cumulative(LATENCY_BUCKETS, values).items():
            got = metric_value(text, "herder_request_duration_seconds_bucket", protocol=protocol, le=le)
            assert got == count, (protocol, le)
        assert metric_value(text, "herder_request_duration_seconds_count", protocol=protocol) == len(values)
        assert (
            abs((metric_value(text, "herder_request_duration_seconds_sum", protocol=protocol) or 0) - sum(values))
            < 1e-6
        )
    for le, count in _cumulative(tuple(float(b) for b in BATCH_BUCKETS), batches).items():
        assert metric_value(text, "herder_batch_size_bucket", le=le) == count, le
    assert metric_value(text, "herder_batch_size_sum") == sum(batches)
    for index, count in enumerate(a_bins):
        assert metric_value(text, "herder_feature_bin_total", feature="a", bin=str(index)) == count
    for index, count in enumerate(n_bins):
        assert metric_value(text, "herder_feature_bin_total", feature="n", bin=str(index)) == count
    for cls in (0, 1):
        assert metric_value(text, "herder_predictions_total", **{"class": str(cls)}) == labels_seen[cls]


def test_disabled_metrics_queue_nothing() -> None:
    """With --no-metrics the queues stay empty however many requests pass (no memory growth, no counts)."""
    metrics = ServerMetrics(model=served(numeric_metadata(), numeric_estimator()), enabled=False)
    for _ in range(3 * FLUSH_ROWS):
        metrics.observe_request("v2", 200, 0.001)
        metrics.observe_batch(1)
        metrics.observe_inference(np.zeros((1, 3)), [0])
    assert metrics.requests == {}
    text = metrics.exposition().decode()
    assert metric_value(text, "herder_batch_size_count") == 0
    assert metric_value(text, "herder_feature_bin_total", feature="a", bin="1") == 0


def test_drift_bins_match_the_reference_bin_for_few_repeated_and_many_edges() -> None:
    """Numeric bin = number of edges <= x (herder.storage.metadata's convention), whichever way it is counted:
    the edge-comparison table (up to MAX_TABLE_EDGES edges) or a binary search (more edges)."""
    edges = {
        "few": [-1.0, 0.0, 1.0],
        "repeated": [0.0, 0.0, 0.5, 0.5, 2.0],
        "many": [float(e) for e in range(MAX_TABLE_EDGES + 8)],
    }
    for chosen in (("few", "repeated"), ("few", "repeated", "many")):
        sig = Signature(features=tuple(FeatureSpec(name=n) for n in chosen), task="regression", classes=None)
        baseline = BaselineProfile(features={n: NumericBins(edges=edges[n]) for n in chosen})
        counter = FeatureBinCounter.build(sig, baseline)
        rng = np.random.default_rng(3)
        picks = np.asarray(sorted({v for n in chosen for v in edges[n]} | {-5.0, 0.25, 1e9}))
        matrix = np.column_stack([rng.choice(picks, size=500) for _ in chosen])
        counter.observe_all([matrix[:200], matrix[200:]])
        counted: dict[str, list[int]] = {n: [] for n in chosen}
        for name, _, count in counter.series():
            counted[name].append(count)
        for k, name in enumerate(chosen):
            expected = [0] * (len(edges[name]) + 1)
            for value in matrix[:, k]:
                expected[numeric_bin(edges[name], float(value))] += 1
            assert counted[name] == expected, (chosen, name)
