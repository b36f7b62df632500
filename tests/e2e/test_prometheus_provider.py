"""The Prometheus analysis provider against a real Prometheus (Debian's package) scraping the operator's real serving
pods on loopback, with the relabelling recommended in docs/prometheus.md, and the queries that doc recommends.

Version 1 answers every request (error rate exactly 0, fast); version 2 is the same artifact with the tests/demos
only fault-injection annotations (30% of requests answered 500, 600 ms added to each), so its error rate matches
what the client saw and its p99 is above 0.5 s. A PromQL syntax error, a query that matches nothing and one that
matches several series each measure no data with a message saying so. Then the operator itself, configured with the
Prometheus URL the way the chart configures it (HERDER_PROMETHEUS_URL), aborts a canary that answers 500 and promotes
a good one on a Prometheus error-rate check.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
import yaml
from localcluster.prometheus import LocalPrometheus
from prometheus_client.parser import text_string_to_metric_families

from herder.api.common import MetricCheck
from herder.monitoring.prometheus import measure
from herder.policy.analysis import Measurement, verdict
from tests.e2e.helpers import (
    IRIS,
    SELECTOR,
    Load,
    Workspace,
    cond,
    get,
    pin,
    predict,
    register,
    serving_pods,
    wait_cond,
)
from tests.integration.k8s import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOYMENT = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
              "spec": {"model": {"name": "iris", "version": 1}, "replicas": 1}}
ERROR_RATE = (f'(sum(rate(herder_requests_total{{{SELECTOR},code=~"5.."}}[{{{{window}}}}])) or vector(0))'
              f" / sum(rate(herder_requests_total{{{SELECTOR}}}[{{{{window}}}}]))")
LATENCY_P99 = (f"histogram_quantile(0.99, sum by (le) "
               f"(rate(herder_request_duration_seconds_bucket{{{SELECTOR}}}[{{{{window}}}}])))")
REQUESTS = 100
"""Requests per version, sent by 5 threads at about 10 per second (so the window spans several scrapes)."""


def check(name: str, query: str, max_: str) -> MetricCheck:
    return MetricCheck.model_validate({"name": name, "provider": "Prometheus", "query": query,
                                       "threshold": {"max": max_}, "minSamples": REQUESTS // 2})


ERROR_CHECK = check("error-rate", ERROR_RATE, "0.05")
LATENCY_CHECK = check("latency-p99", LATENCY_P99, "0.5")


def send(ip: str, count: int, threads: int = 5, pause: float = 0.4) -> list[int]:
    """``count`` predictions from ``threads`` threads, each pausing between its requests; the status codes."""
    codes: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for _ in range(n):
            code = predict(ip)
            with lock:
                codes.append(code)
            time.sleep(pause)

    workers = [threading.Thread(target=worker, args=(count // threads + (i < count % threads),))
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    return codes


def scraped_total(prom: LocalPrometheus, ns: str, version: int) -> tuple[int, int]:
    """(requests, series) of ``version`` in Prometheus' latest samples."""
    result = prom.query(f'herder_requests_total{{namespace="{ns}",deployment="iris",version="{version}"}}')
    return sum(int(float(s["value"][1])) for s in result), len(result)


def pod_total(ip: str, version: int) -> int:
    """Inference requests the pod itself counted (what Prometheus must have scraped; a request the client gave up
    on may still have been answered)."""
    with urllib.request.urlopen(f"http://{ip}:8080/metrics", timeout=10) as r:
        text = r.read().decode()
    return int(sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
                   if s.name == "herder_requests_total" and s.labels.get("version") == str(version)
                   and s.labels.get("protocol") != "feedback"))


def traffic_and_measure(ws: Workspace, prom: LocalPrometheus, version: int, codes_expected: set[int]
                        ) -> tuple[list[int], int, Measurement, Measurement]:
    """Warm up until every expected status code has a series Prometheus has scraped, then send REQUESTS, wait
    until Prometheus has scraped them all, and measure both checks over the window since the warm-up ended (its
    first sample is then the warm-up's totals, so the increase in the window is exactly what the pod answered
    after the warm-up, up to rate()'s extrapolation to the window's edges). Returns the status codes the client
    saw, the requests the pod counted after the warm-up, and the two measurements."""
    ip = wait_until(lambda: (p := [ip for ip, _, v in serving_pods(ws) if v == str(version)]) and p[0], 120,
                    what=f"a ready version-{version} pod")
    wait_until(lambda: prom.query(f'up{{namespace="{ws.namespace}",version="{version}"}} == 1'), 60,
               what=f"Prometheus to scrape the version-{version} pod")
    warm: list[int] = []
    while not codes_expected <= set(warm) and len(warm) < 200:
        warm += send(ip, 10, threads=5, pause=0)
    assert codes_expected <= set(warm), warm
    warmed_at = time.time()
    warm_total = pod_total(ip, version)
    wait_until(lambda: scraped_total(prom, ws.namespace, version) == (warm_total, len(codes_expected)), 60,
               what="Prometheus to scrape the warm-up requests")
    codes = send(ip, REQUESTS)
    assert set(codes) <= codes_expected | {0}, codes  # 0: no answer in time (a loaded machine), counted below
    total = pod_total(ip, version)
    wait_until(lambda: scraped_total(prom, ws.namespace, version)[0] == total, 60,
               what="Prometheus to scrape every request")
    window = time.time() - warmed_at
    args: dict[str, Any] = {"url": prom.url, "namespace": ws.namespace, "deployment": "iris", "version": version,
            "window_seconds": window}
    return codes, total - warm_total, measure(ERROR_CHECK, **args), measure(LATENCY_CHECK, **args)


def assert_samples(m: Measurement, answered: int) -> None:
    # exactly the requests answered in the window, plus increase()'s extrapolation to the window's edges (at most
    # about one scrape interval on each side of a window that spans ten or more of them)
    assert answered >= REQUESTS * 0.9, answered
    assert answered <= m.samples <= answered * 1.5, (m, answered)
    assert m.message.startswith(f"{m.samples} requests to version "), m


def test_prometheus_provider_measures_the_serving_pods(workspace: Workspace, prometheus: LocalPrometheus) -> None:
    ws, prom = workspace, prometheus
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], DEPLOYMENT]))
    wait_until(lambda: get(ws, "modeldeployment", "iris").get("status", {}).get("stableVersion") == 1, 300,
               interval=1, what="stable version 1")

    codes, answered, error_rate, p99 = traffic_and_measure(ws, prom, 1, {200})
    assert codes.count(200) >= REQUESTS * 0.9, codes
    assert error_rate.value == Decimal(0), error_rate
    assert_samples(error_rate, answered)
    assert verdict(ERROR_CHECK, error_rate) == "Pass"
    assert p99.value is not None and Decimal(0) < p99.value < Decimal("0.5"), p99
    assert verdict(LATENCY_CHECK, p99) == "Pass"

    # the recommended relabelling: the labels the queries use come from the pod, nothing else is added
    series = prom.query(f'herder_requests_total{{namespace="{ws.namespace}",version="1"}}')
    labels = series[0]["metric"]
    assert set(labels) == {"__name__", "code", "deployment", "instance", "job", "model", "namespace", "pod",
                           "protocol", "track", "version"}, labels
    assert (labels["deployment"], labels["track"], labels["model"]) == ("iris", "stable", "iris")
    assert labels["pod"].startswith("iris-stable-")

    # version 2: same artifact, 30% of requests answered 500 and 600 ms added to each (tests/demos only)
    register(ws, 2, {"herder.dev/inject-error-rate": "0.3", "herder.dev/inject-latency-ms": "600"})
    pin(ws, 2)
    codes, answered, error_rate, p99 = traffic_and_measure(ws, prom, 2, {200, 500})
    seen = Decimal(codes.count(500)) / Decimal(codes.count(200) + codes.count(500))
    print(f"\nversion 2: {codes.count(500)} of {len(codes)} answered 500 (client), Prometheus error rate "
          f"{error_rate.value}, p99 {p99.value}s, samples {error_rate.samples}")
    assert error_rate.value is not None and abs(error_rate.value - seen) <= Decimal("0.05"), (error_rate, seen)
    assert_samples(error_rate, answered)
    assert verdict(ERROR_CHECK, error_rate) == "Fail"
    assert p99.value is not None and p99.value > Decimal("0.5"), p99
    assert verdict(LATENCY_CHECK, p99) == "Fail"

    # no data, said clearly: a PromQL error, nothing matched, several series
    args: dict[str, Any] = {"url": prom.url, "namespace": ws.namespace, "deployment": "iris", "window_seconds": 60.0}
    broken = measure(check("broken", "sum(rate(herder_requests_total[{{window}}])", "1"), version=2, **args)
    assert (broken.value, broken.samples) == (None, 0)
    assert broken.message.startswith(f"Prometheus at {prom.url}/api/v1/query rejected the query (HTTP 400, "
                                     "bad_data): "), broken
    assert "parse error" in broken.message
    nothing = measure(ERROR_CHECK, version=99, **args)
    assert (nothing.value, nothing.samples) == (None, 0)
    assert "returned no series (nothing matched in the window)" in nothing.message
    assert verdict(ERROR_CHECK, nothing) == "Inconclusive"  # noData: Inconclusive (the default) -- never a pass
    several = measure(check("raw", f"herder_requests_total{{{SELECTOR}}}", "1"), version=2, **args)
    assert several.value is None
    assert "returned 2 series, expected one (aggregate them" in several.message, several


CANARY = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {
        "model": {"name": "iris", "version": 1},
        "replicas": 2,
        "strategy": {"type": "Canary", "canary": {"steps": [{"weight": 50, "pause": "5s"}]}},
        "analysis": {"interval": "3s", "metrics": [
            {"name": "error-rate", "provider": "Prometheus", "query": ERROR_RATE, "window": "10s",
             "threshold": {"max": "0.05"}, "minSamples": 10, "failureLimit": 1}]},
    },
}


def test_a_rollout_is_aborted_and_promoted_by_prometheus_checks(workspace: Workspace,
                                                                operator_with_prometheus: LocalPrometheus) -> None:
    """The operator itself measures the canary through Prometheus: a version answering 500 is aborted, a good one
    promoted, each with the Prometheus measurement on status."""
    ws = workspace
    ws.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*IRIS[:4], CANARY]))
    wait_until(lambda: get(ws, "modeldeployment", "iris").get("status", {}).get("stableVersion") == 1, 300,
               interval=1, what="stable version 1")
    wait_cond(ws, "modeldeployment", "iris", "Ready")

    register(ws, 2, {"herder.dev/inject-error-rate": "1.0"})
    load = Load(ws, seconds=120)
    load.start()
    try:
        pin(ws, 2)
        body = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("abortedVersion") == 2
                          and b, 120, interval=0.5, what="the rollout of version 2 to be aborted")
    finally:
        load.finish()
    st = body["status"]
    failed = next(m for m in st["analysisMetrics"] if m["name"] == "error-rate")
    assert (failed["verdict"], failed["value"], failed["version"]) == ("Fail", "1", 2), failed
    assert failed["samples"] >= 10 and "requests to version 2 in 10s" in failed["message"], failed
    assert (st["lastRollback"]["from"], st["lastRollback"]["to"]) == (2, 1)
    assert cond(body, "Degraded")["reason"] == "AnalysisFailed"

    register(ws, 3)
    load = Load(ws, seconds=120)
    load.start()
    try:
        pin(ws, 3)
        done = wait_until(lambda: (b := get(ws, "modeldeployment", "iris"))["status"].get("stableVersion") == 3
                          and cond(b, "Progressing").get("status") == "False" and b, 120, interval=0.5,
                          what="version 3 promoted")
    finally:
        load.finish()
    passed = next(m for m in done["status"]["analysisMetrics"] if m["name"] == "error-rate")
    assert (passed["verdict"], passed["value"], passed["version"]) == ("Pass", "0", 3), passed

    ws.kubectl("delete", "modeldeployment", "iris", "--wait=true")
    wait_until(lambda: not serving_pods(ws), 60, what="the serving pods to be gone")
