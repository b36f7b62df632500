"""Prometheus metrics of the server: plain counters updated on the event loop, exposed by one collector.

Why not prometheus-client's Counter/Histogram objects: each update takes a lock and walks label dictionaries,
which costs more than the whole prediction of a small model. Here every update is an integer addition on the
event-loop thread (the only writer), and the collector turns the numbers into metric families at scrape time.
Names are a stable interface (the operator reads them for error rate, latency, drift and accuracy) and are
documented in docs/serving.md.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from herder.serving.drift import FLUSH_ROWS, FeatureBinCounter, category_key
from herder.serving.model import ServedModel
from herder.serving.signature import Signature
from herder.storage.metadata_reader import BaselineProfile, FeatureSpec

if TYPE_CHECKING:
    from prometheus_client.core import Metric

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class FastHistogram:
    """Cumulative-on-export histogram: one bisect and two additions per observation."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


@dataclass(eq=False)  # hashable by identity: prometheus registries key collectors by hash
class ServerMetrics:
    """All numbers the server exports for one model; ``enabled=False`` turns every update into a no-op."""

    model: ServedModel
    enabled: bool = True
    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    latency: dict[str, FastHistogram] = field(default_factory=dict)
    batch_sizes: FastHistogram = field(default_factory=lambda: FastHistogram(BATCH_BUCKETS))
    feedback: dict[str, int] = field(default_factory=dict)
    abs_error_total: float = 0.0
    abs_error_count: int = 0
    payload_records: int = 0
    inflight: int = 0
    ready: bool = False
    prediction_sum: float = 0.0
    prediction_count: int = 0
    features: FeatureBinCounter = field(init=False)
    class_counts: np.ndarray = field(init=False)
    prediction_bins: FeatureBinCounter | None = field(init=False)
    _pending_labels: list[Any] = field(init=False, default_factory=list)
    _class_index: dict[tuple[str, object], int] = field(init=False)

    def __post_init__(self) -> None:
        sig = self.model.signature
        self.features = FeatureBinCounter.build(sig, self.model.baseline)
        classes = sig.classes or ()
        self.class_counts = np.zeros(len(classes), dtype=np.int64)
        self._class_index = {category_key(c): i for i, c in enumerate(classes)}
        self.prediction_bins = None
        baseline = self.model.baseline
        if sig.task == "regression" and baseline is not None and baseline.prediction is not None:
            fake = Signature(features=(FeatureSpec(name="prediction"),), task="regression", classes=None)
            self.prediction_bins = FeatureBinCounter.build(
                fake, BaselineProfile(features={"prediction": baseline.prediction})
            )

    # --- updates (event-loop thread only) -------------------------------------------------------------------

    def observe_request(self, protocol: str, status: int, seconds: float) -> None:
        if not self.enabled:
            return
        key = (protocol, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(protocol)
        if hist is None:
            hist = self.latency[protocol] = FastHistogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def observe_batch(self, rows: int) -> None:
        if self.enabled:
            self.batch_sizes.observe(rows)

    def observe_inference(self, matrix: np.ndarray, labels: list[Any]) -> None:
        """Drift bins of the inputs and the distribution of the outputs (both counted in bulk, see drift.py)."""
        if not self.enabled:
            return
        self.features.observe(matrix)
        pending = self._pending_labels
        pending.extend(labels)
        if len(pending) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Fold queued predictions into the counters (before every scrape, and every FLUSH_ROWS rows)."""
        self.features.flush()
        pending = self._pending_labels
        if not pending:
            return
        self._pending_labels = []
        if self.class_counts.size:
            index = self._class_index
            for label, count in Counter(pending).items():
                position = index.get(category_key(label))
                if position is not None:
                    self.class_counts[position] += count
        else:
            values = np.asarray(pending, dtype=np.float64)
            self.prediction_sum += float(values.sum())
            self.prediction_count += int(values.size)
            if self.prediction_bins is not None:
                self.prediction_bins.observe(values.reshape(-1, 1))
                self.prediction_bins.flush()

    def observe_feedback(self, outcome: str, count: int = 1) -> None:
        if self.enabled:
            self.feedback[outcome] = self.feedback.get(outcome, 0) + count

    def observe_abs_error(self, total: float, count: int) -> None:
        if self.enabled:
            self.abs_error_total += total
            self.abs_error_count += count

    # --- exposition -----------------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """prometheus-client Collector protocol."""
        # imported at the first scrape, not at start-up (~1.5 MiB and ~20 ms less before the server is ready)
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        self.flush()
        m = self.model
        base = ["model", "version"]
        ids = [m.name, m.version]
        info = GaugeMetricFamily(
            "herder_model_info",
            "The served model version and artifact digest",
            labels=[*base, "sha256", "format"],
        )
        info.add_metric([*ids, m.sha256, m.format], 1)
        yield info
        ready = GaugeMetricFamily("herder_model_ready", "1 when the model is loaded and not draining", labels=base)
        ready.add_metric(ids, 1 if self.ready else 0)
        yield ready
        inflight = GaugeMetricFamily("herder_inflight_requests", "Inference requests in progress", labels=base)
        inflight.add_metric(ids, self.inflight)
        yield inflight
        requests = CounterMetricFamily(
            "herder_requests",
            "Inference requests by protocol and HTTP status",
            labels=[*base, "protocol", "code"],
        )
        for (protocol, status), count in sorted(self.requests.items()):
            requests.add_metric([*ids, protocol, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "herder_request_duration_seconds",
            "Inference request latency in the server",
            labels=[*base, "protocol"],
        )
        for protocol, hist in sorted(self.latency.items()):
            latency.add_metric([*ids, protocol], hist.buckets(), hist.total)
        yield latency
        batch = HistogramMetricFamily("herder_batch_size", "Rows per model call", labels=base)
        batch.add_metric(ids, self.batch_sizes.buckets(), self.batch_sizes.total)
        yield batch
        if self.class_counts.size:
            preds = CounterMetricFamily("herder_predictions", "Predicted rows by class", labels=[*base, "class"])
            for cls, count in zip(m.signature.classes or (), self.class_counts.tolist(), strict=True):
                preds.add_metric([*ids, str(cls)], count)
            yield preds
        else:
            value = SummaryMetricFamily("herder_prediction_value", "Predicted values (regression)", labels=base)
            value.add_metric(ids, self.prediction_count, self.prediction_sum)
            yield value
            if self.prediction_bins is not None:
                pbins = CounterMetricFamily(
                    "herder_prediction_bin", "Predicted values by baseline bin", labels=[*base, "bin"]
                )
                for _, index, count in self.prediction_bins.series():
                    pbins.add_metric([*ids, str(index)], count)
                yield pbins
        bins = CounterMetricFamily(
            "herder_feature_bin",
            "Input rows by feature and baseline bin (drift)",
            labels=[*base, "feature", "bin"],
        )
        for feature, index, count in self.features.series():
            bins.add_metric([*ids, feature, str(index)], count)
        yield bins
        feedback = CounterMetricFamily(
            "herder_feedback", "Ground-truth labels received, by outcome", labels=[*base, "outcome"]
        )
        for outcome, count in sorted(self.feedback.items()):
            feedback.add_metric([*ids, outcome], count)
        yield feedback
        if m.signature.task == "regression":
            err = SummaryMetricFamily(
                "herder_feedback_absolute_error", "Absolute error of predictions with feedback", labels=base
            )
            err.add_metric(ids, self.abs_error_count, self.abs_error_total)
            yield err
        logged = CounterMetricFamily("herder_payload_log_records", "Sampled payload records written", labels=base)
        logged.add_metric(ids, self.payload_records)
        yield logged

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)
