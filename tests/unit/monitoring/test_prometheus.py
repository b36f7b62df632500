"""The Prometheus provider's templating, answer parsing and error messages, against a tiny HTTP server on 127.0.0.1
that answers like Prometheus' /api/v1/query (the real Prometheus is in tests/integration/test_prometheus_provider.py).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.prometheus import pod_targets, serving_scrape_config

from herder.api.common import MetricCheck
from herder.controllers.config import OperatorConfig
from herder.controllers.main import parse_args
from herder.monitoring import prometheus
from herder.monitoring.prometheus import (
    PrometheusError,
    instant_query,
    measure,
    parse_value,
    prometheus_duration,
    render,
)
from herder.policy.analysis import verdict

Answer = tuple[int, Any]
"""HTTP status and a JSON-able body (bytes are sent as they are)."""

ERROR_RATE = ('(sum(rate(herder_requests_total{namespace="{{namespace}}",deployment="{{deployment}}",'
              'version="{{version}}",code=~"5.."}[{{window}}])) or vector(0)) / sum(rate(herder_requests_total{'
              'namespace="{{namespace}}",deployment="{{deployment}}",version="{{version}}"}[{{window}}]))')


def ok(result_type: str, result: Any) -> Answer:
    return 200, {"status": "success", "data": {"resultType": result_type, "result": result}}


def vector(*values: str, labels: dict[str, str] | None = None) -> Answer:
    return ok("vector", [{"metric": {**(labels or {}), "pod": f"p{i}"}, "value": [1700000000.0, v]}
                         for i, v in enumerate(values)])


class FakePrometheus:
    """Answers every POST /api/v1/query with ``answer(query)``; records the form fields it received."""

    def __init__(self, answer: Callable[[str], Answer]) -> None:
        self.answer = answer
        self.forms: list[dict[str, str]] = []
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                fake.forms.append(form)
                fake.paths.append(self.path)
                status, body = fake.answer(form.get("query", ""))
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def queries(self) -> list[str]:
        return [f["query"] for f in self.forms]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str], Answer]], FakePrometheus]]:
    started: list[FakePrometheus] = []

    def start(answer: Callable[[str], Answer]) -> FakePrometheus:
        started.append(FakePrometheus(answer))
        return started[-1]

    yield start
    for fake in started:
        fake.close()


def check(query: str = ERROR_RATE, min_samples: int | None = None) -> MetricCheck:
    return MetricCheck.model_validate({"name": "error-rate", "provider": "Prometheus", "query": query,
                                       "threshold": {"max": "0.05"}, "minSamples": min_samples})


def run(c: MetricCheck, url: str, window: float = 30) -> prometheus.Measurement:
    return measure(c, url=url, namespace="shop", deployment="iris", version=3, window_seconds=window)


def samples_answer(count: str) -> Callable[[str], Answer]:
    """The value query answers 0.02; the request-count query answers ``count``."""
    return lambda q: vector(count) if q.startswith("sum(increase(") else vector("0.02")


# ------------------------------------------------------------------------------------------------ templating
def test_every_placeholder_is_substituted() -> None:
    out = render(ERROR_RATE, namespace="shop", deployment="iris", version=3, window_seconds=30)
    assert "{{" not in out
    assert 'namespace="shop",deployment="iris",version="3",code=~"5.."}[30s]' in out
    assert render("x{a='{{ namespace }}'}[{{window}}]", namespace="n", deployment="d", version=1,
                  window_seconds=90) == "x{a='n'}[90s]"


@pytest.mark.parametrize(("seconds", "text"), [(30, "30s"), (300.0, "300s"), (1.5, "1500ms"), (0.25, "250ms")])
def test_window_is_a_promql_duration(seconds: float, text: str) -> None:
    assert prometheus_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -5, float("nan"), float("inf")])
def test_a_window_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="window must be a positive number of seconds"):
        prometheus_duration(seconds)


def test_unknown_placeholder_is_named_and_never_sent(serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(lambda q: vector("1"))
    m = run(check('sum(rate(x{ns="{{namespce}}"}[{{window}}]))'), fake.url)
    assert m.value is None and m.samples == 0
    assert "unknown placeholder(s) {{namespce}}" in m.message
    assert "known: {{namespace}}, {{deployment}}, {{version}}, {{window}}" in m.message
    assert fake.queries == []


def test_a_label_value_that_would_break_the_matcher_is_refused() -> None:
    with pytest.raises(ValueError, match=r"namespace 'a\"b' cannot be substituted"):
        render("{{namespace}}", namespace='a"b', deployment="d", version=1, window_seconds=1)


# ------------------------------------------------------------------------------------------------ parsing
def test_scalar_and_one_series_are_the_value() -> None:
    assert parse_value("q", ok("scalar", [1.0, "0.25"])[1]["data"]) == Decimal("0.25")
    assert parse_value("q", vector("1e-05")[1]["data"]) == Decimal("0.00001")


@pytest.mark.parametrize(("answer", "message"), [
    (vector(), "returned no series (nothing matched in the window)"),
    (vector("NaN"), "returned NaN (e.g. 0/0: no requests in the window)"),
    (vector("+Inf"), "returned +Inf, outside the range a check can hold"),
    (vector("1e20"), "returned 1e20, outside the range a check can hold"),
    (ok("matrix", [{"metric": {}, "values": [[1, "1"]]}]), "returned a range vector"),
    (ok("string", [1, "hello"]), "returned a string, not a number"),
])
def test_answers_without_one_number_are_no_data(answer: Answer, message: str) -> None:
    with pytest.raises(PrometheusError, match=re.escape(f"query 'q' {message}")):
        parse_value("q", answer[1]["data"])


def test_several_series_name_the_query_and_the_count() -> None:
    data = vector("0.1", "0.2", "0.3", "0.4", labels={"__name__": "up", "job": "herder"})[1]["data"]
    with pytest.raises(PrometheusError) as e:
        parse_value("up", data)
    assert str(e.value).startswith("query 'up' returned 4 series, expected one (aggregate them, e.g. with sum(...)")
    assert 'up{job="herder",pod="p0"}' in str(e.value) and str(e.value).endswith("; ...")


# ------------------------------------------------------------------------------------------------ over HTTP
def test_measure_posts_the_rendered_query_and_counts_requests(serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(samples_answer("118.6"))
    m = run(check(), fake.url + "/")
    assert (m.value, m.samples) == (Decimal("0.02"), 119)
    assert m.message == "119 requests to version 3 in 30s"
    value_query, samples_query = fake.queries
    assert value_query == render(ERROR_RATE, namespace="shop", deployment="iris", version=3, window_seconds=30)
    assert samples_query == ('sum(increase(herder_requests_total{namespace="shop",deployment="iris",version="3"'
                             ',protocol!="feedback"}[30s]))')
    assert fake.paths == ["/api/v1/query"] * 2
    assert fake.forms[0]["timeout"] == "5s"  # Prometheus stops evaluating when the client stops waiting


def test_url_with_a_path_prefix(serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(samples_answer("10"))
    assert run(check(), fake.url + "/prometheus").value == Decimal("0.02")
    assert fake.paths[0] == "/prometheus/api/v1/query"


def test_unknown_request_count_is_zero_samples_and_inconclusive_with_min_samples(
        serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(lambda q: vector() if q.startswith("sum(increase(") else vector("0.01"))
    m = run(check(min_samples=10), fake.url)
    assert (m.value, m.samples) == (Decimal("0.01"), 0)
    assert m.message.startswith("request count unknown (query 'sum(increase(herder_requests_total{")
    assert verdict(check(min_samples=10), m) == "Inconclusive"
    assert verdict(check(), m) == "Pass"  # without minSamples the value alone decides


def test_too_few_requests_are_inconclusive_not_a_pass(serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(samples_answer("3"))
    m = run(check(min_samples=10), fake.url)
    assert m.samples == 3 and verdict(check(min_samples=10), m) == "Inconclusive"


def test_promql_error_names_the_endpoint_and_the_error(serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(lambda q: (400, {"status": "error", "errorType": "bad_data",
                                  "error": 'invalid parameter "query": 1:5: parse error: unexpected "}"'}))
    m = run(check("sum(x}"), fake.url)
    assert m.value is None and m.samples == 0
    assert m.message == (f"Prometheus at {fake.url}/api/v1/query rejected the query (HTTP 400, bad_data): "
                         'invalid parameter "query": 1:5: parse error: unexpected "}"')


def test_an_answer_that_is_not_prometheus_is_named(serve: Callable[..., FakePrometheus]) -> None:
    fake = serve(lambda q: (404, b"<html>no such page</html>"))
    assert run(check(), fake.url).message == f"HTTP 404 from {fake.url}/api/v1/query: '<html>no such page</html>'"
    fake2 = serve(lambda q: (200, b"hello"))
    assert run(check(), fake2.url).message == f"{fake2.url}/api/v1/query did not answer like Prometheus' HTTP API: " \
                                              "'hello'"


def test_warnings_are_passed_on(serve: Callable[..., FakePrometheus]) -> None:
    def answer(q: str) -> Answer:
        status, body = samples_answer("50")(q)
        return status, {**body, "warnings": ["PromQL info: metric might not be a counter"]}

    m = run(check(), serve(answer).url)
    assert m.message == ("50 requests to version 3 in 30s; Prometheus warned: PromQL info: metric might not be a "
                         "counter")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_prometheus_is_no_data_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    m = run(check(), url)
    assert m.value is None and m.samples == 0
    assert m.message.startswith(f"Prometheus at {url} is unreachable: ")
    assert "refused" in m.message.lower()


def test_a_prometheus_that_does_not_answer_times_out() -> None:
    """A server that accepts the connection and never answers: the call ends at the timeout, not never."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(PrometheusError, match=f"Prometheus at {url} is unreachable: .*timed out"):
            instant_query(url, "up", timeout=0.5)


@pytest.mark.parametrize("url", ["", "prometheus:9090", "file:///etc/passwd", "ftp://127.0.0.1/"])
def test_missing_or_bad_url_is_no_data(url: str) -> None:
    m = run(check(), url)
    assert m.value is None and m.samples == 0
    if url:
        assert m.message == f"Prometheus URL {url!r} is not an http:// or https:// URL"
    else:
        assert m.message.startswith("no Prometheus URL is configured (operator flag --prometheus-url, "
                                    "HERDER_PROMETHEUS_URL, chart value prometheus.url)")


def test_a_malformed_url_is_no_data_not_an_exception() -> None:
    m = run(check(), "http://[::1")
    assert (m.value, m.samples) == (None, 0)
    assert m.message == "Prometheus URL 'http://[::1' is not a valid URL: Invalid IPv6 URL"


# ------------------------------------------------------------------------------------------------ configuration
def test_url_from_env_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERDER_PROMETHEUS_URL", raising=False)
    assert OperatorConfig.from_env().prometheus_url is None
    monkeypatch.setenv("HERDER_PROMETHEUS_URL", "")  # the chart's default: not configured
    assert OperatorConfig.from_env().prometheus_url is None
    monkeypatch.setenv("HERDER_PROMETHEUS_URL", "http://prometheus.monitoring:9090")
    assert OperatorConfig.from_env().prometheus_url == "http://prometheus.monitoring:9090"
    flag = parse_args(["--prometheus-url", "http://127.0.0.1:9090"]).prometheus_url
    assert OperatorConfig.from_env(prometheus_url=flag).prometheus_url == "http://127.0.0.1:9090"


# ------------------------------------------------------------------------------------------------ scrape config
DOC = Path(__file__).resolve().parents[3] / "docs" / "prometheus.md"


def test_the_doc_recommends_the_relabelling_the_real_prometheus_test_uses() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    (job,) = next(yaml.safe_load(b)["scrape_configs"] for b in blocks if "scrape_configs" in b)
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    expected = serving_scrape_config({"role": "pod"}, job["scrape_interval"])
    assert job == expected


def test_pod_discovery_gives_the_labels_kubernetes_sd_gives() -> None:
    pod = {"metadata": {"name": "iris-canary-abc", "namespace": "shop", "uid": "u1",
                        "labels": {"herder.dev/serving": "iris", "herder.dev/track": "canary",
                                   "herder.dev/model-version": "3"}},
           "spec": {"nodeName": "n1", "containers": [{"name": "server", "ports": [
               {"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
           "status": {"podIP": "127.70.0.5", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    (group,) = pod_targets(pod)
    assert group["targets"] == ["127.70.0.5:8080"]
    labels = group["labels"]
    assert labels["__meta_kubernetes_pod_label_herder_dev_serving"] == "iris"
    assert labels["__meta_kubernetes_pod_label_herder_dev_model_version"] == "3"
    assert labels["__meta_kubernetes_pod_labelpresent_herder_dev_track"] == "true"
    assert labels["__meta_kubernetes_pod_container_port_name"] == "http"
    assert (labels["__meta_kubernetes_namespace"], labels["__meta_kubernetes_pod_phase"],
            labels["__meta_kubernetes_pod_ready"]) == ("shop", "Running", "true")
    assert pod_targets({**pod, "status": {"phase": "Pending"}}) == []  # no IP yet: no target
