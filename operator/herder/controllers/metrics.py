"""Prometheus metrics of the operator itself: reconciles, their duration, errors and API writes by kind.

A private CollectorRegistry (not the process-global default) keeps tests and several operators in one process
apart, and means nothing here is a module global.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "herder_operator_reconciles_total", "Reconciles by kind and result (ok, invalid, waiting, error).",
            ["kind", "result"], registry=self.registry)
        self.duration = Histogram(
            "herder_operator_reconcile_duration_seconds", "Wall time of one reconcile, by kind.", ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.errors = Counter(
            "herder_operator_reconcile_errors_total", "Reconciles that raised, by kind and exception type.",
            ["kind", "exception"], registry=self.registry)
        self.writes = Counter(
            "herder_operator_api_writes_total", "Writes this operator's reconcilers made, by kind, target and verb.",
            ["kind", "target", "verb"], registry=self.registry)
        self.objects = Gauge(
            "herder_operator_objects", "Objects currently known to the operator, by kind.", ["kind"],
            registry=self.registry)

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)
