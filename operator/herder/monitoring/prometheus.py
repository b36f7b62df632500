"""The Prometheus metric provider: one PromQL instant query per check and interval, over Prometheus' HTTP API.

Why an instant query that returns one number: the check's threshold is one number, and PromQL already knows how to
turn counters into rates and histograms into quantiles over a window (``rate``, ``histogram_quantile``), across pod
restarts and scale changes. The query text is the user's (``MetricCheck.query``) with ``{{namespace}}``,
``{{deployment}}``, ``{{version}}`` and ``{{window}}`` substituted, so one query fits every ModelDeployment and version.

What the answer means:
- one scalar, or a vector with exactly one series: the value;
- an empty vector (no series matched) or NaN (e.g. 0/0: no requests in the window): no data, so the check's
  ``noData`` policy decides (too little traffic is never a pass);
- several series: no data, with a message naming the query and the count (aggregate with ``sum`` or narrow the
  selector) -- picking one series silently would measure the wrong thing;
- an unreachable Prometheus, an HTTP error, a PromQL error: no data with a message naming the URL and the error.
  :func:`measure` never raises for these: a monitoring outage must not break the reconcile of a ModelDeployment.

Samples (what ``minSamples`` compares with): one number carries no sample count, so after a value the provider asks a
second, fixed query -- the inference requests the pods of this version answered in the window (:data:`SAMPLES_QUERY`:
``sum(increase(herder_requests_total{namespace=..., deployment=..., version=..., protocol!="feedback"}[window]))``,
which relies on the scrape labels recommended in docs/prometheus.md). ``minSamples`` therefore means the same as for
builtin checks: fewest requests in the window for a conclusive measurement. When that count is unknown (no such
series, or the second query failed) samples is 0, which only matters when ``minSamples`` is set -- then the check
is inconclusive, never a pass.

The calls block (``urllib``, bounded by :data:`QUERY_TIMEOUT_SECONDS`): run them in a worker thread, as the
operator's sync handlers do. Only the standard library is used; Prometheus needs no client package.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal, InvalidOperation
from typing import Any

from herder.api.common import MetricCheck
from herder.policy.analysis import Measurement

QUERY_TIMEOUT_SECONDS = 5.0
"""Client-side timeout of one HTTP call; Prometheus is also asked to give up evaluating after this long."""
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""A larger answer means the query returns far too many series for a check: refused instead of parsed."""
LARGEST_VALUE = Decimal("1e16")
"""Status holds decimal strings with at most 16 integer digits; larger magnitudes are reported as no data."""

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""``{{name}}`` (spaces inside the braces allowed, as in Go templates)."""
PLACEHOLDERS = ("namespace", "deployment", "version", "window")
_SAFE_LABEL_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

SAMPLES_QUERY = ('sum(increase(herder_requests_total{namespace="{{namespace}}",deployment="{{deployment}}",'
                 'version="{{version}}",protocol!="feedback"}[{{window}}]))')
"""Inference requests answered by the pods of one version in the window: the ``samples`` of a Prometheus check."""


class PrometheusError(Exception):
    """A query that produced no usable value; the message is written to status as is."""


def prometheus_duration(seconds: float) -> str:
    """A PromQL duration for ``seconds``: whole seconds as "30s", anything finer in milliseconds ("1500ms")."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"window must be a positive number of seconds (got {seconds!r})")
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def render(query: str, *, namespace: str, deployment: str, version: int, window_seconds: float) -> str:
    """The query with its placeholders substituted. Raises ValueError naming an unknown placeholder (a typo would
    otherwise reach Prometheus as a confusing parse error) or a value that cannot sit inside a PromQL label
    matcher."""
    for field, value in (("namespace", namespace), ("deployment", deployment)):
        if not _SAFE_LABEL_VALUE.fullmatch(value):
            raise ValueError(f"{field} {value!r} cannot be substituted into a PromQL query")
    values = {"namespace": namespace, "deployment": deployment, "version": str(int(version)),
              "window": prometheus_duration(window_seconds)}
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(query)} - set(values))
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)} in query "
                         f"{shorten(query)!r} (known: {', '.join('{{' + p + '}}' for p in PLACEHOLDERS)})")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], query)


def shorten(text: str, limit: int = 300) -> str:
    """Long queries and answers are cut in messages (status and Events stay readable)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def query_endpoint(url: str) -> str:
    """``<url>/api/v1/query``; ``url`` may carry a path prefix (Prometheus' --web.route-prefix)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError as e:
        raise PrometheusError(f"Prometheus URL {url!r} is not a valid URL: {e}") from None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise PrometheusError(f"Prometheus URL {url!r} is not an http:// or https:// URL")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/api/v1/query", "", ""))


def instant_query(url: str, query: str, timeout: float = QUERY_TIMEOUT_SECONDS) -> dict[str, Any]:
    """POST one instant query to ``<url>/api/v1/query``; the answer's ``data`` object (resultType, result).
    Every failure -- connection, HTTP status, PromQL error, an answer that is not Prometheus' -- is a
    PrometheusError naming the URL and what went wrong."""
    endpoint = query_endpoint(url)
    body = urllib.parse.urlencode({"query": query, "timeout": f"{timeout:g}s"}).encode()
    request = urllib.request.Request(endpoint, data=body, method="POST", headers={  # noqa: S310 (http/https only)
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only)
            raw = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as e:
        try:
            detail = e.read(64 * 1024)
        except (OSError, http.client.HTTPException):
            detail = b""
        raise PrometheusError(http_error_message(endpoint, e.code, detail)) from None
    except urllib.error.URLError as e:
        raise PrometheusError(f"Prometheus at {url} is unreachable: {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:  # timeouts, resets, truncated answers
        raise PrometheusError(f"Prometheus at {url} is unreachable: {type(e).__name__}: {e}") from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise PrometheusError(f"Prometheus at {url} answered more than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB "
                              f"for query {shorten(query)!r}: it returns far too many series for one check")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise PrometheusError(f"{endpoint} did not answer like Prometheus' HTTP API: "
                              f"{shorten(raw.decode(errors='replace'), 200)!r}") from None
    if not isinstance(answer, dict) or answer.get("status") != "success" or not isinstance(answer.get("data"), dict):
        raise PrometheusError(f"{endpoint} did not answer like Prometheus' HTTP API: {shorten(str(answer), 200)!r}")
    data: dict[str, Any] = answer["data"]
    warnings = answer.get("warnings")
    if isinstance(warnings, list) and warnings:
        data = {**data, "warnings": [str(w) for w in warnings]}
    return data


def http_error_message(endpoint: str, status: int, body: bytes) -> str:
    """Prometheus puts PromQL errors in a JSON body ({"errorType": "bad_data", "error": "1:5: parse error: ..."});
    anything else (a proxy's HTML page, a wrong path prefix) is quoted briefly."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("error"):
        return (f"Prometheus at {endpoint} rejected the query (HTTP {status}, {answer.get('errorType', 'error')}): "
                f"{shorten(str(answer['error']))}")
    return f"HTTP {status} from {endpoint}: {shorten(body.decode(errors='replace'), 200)!r}"


def parse_value(query: str, data: dict[str, Any]) -> Decimal:
    """The one number in an instant query's ``data``; PrometheusError (no data) for an empty vector, NaN, +-Inf,
    several series, a range vector or a string."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        sample = result
    elif kind == "vector":
        if not isinstance(result, list):
            raise PrometheusError(f"unexpected answer to query {shorten(query)!r}: {shorten(str(data), 200)}")
        if not result:
            raise PrometheusError(f"query {shorten(query)!r} returned no series (nothing matched in the window)")
        if len(result) > 1:
            shown = "; ".join(series_name(s) for s in result[:3]) + ("; ..." if len(result) > 3 else "")
            raise PrometheusError(f"query {shorten(query)!r} returned {len(result)} series, expected one "
                                  f"(aggregate them, e.g. with sum(...), or narrow the selector): {shown}")
        sample = result[0].get("value") if isinstance(result[0], dict) else None
    elif kind == "matrix":
        raise PrometheusError(f"query {shorten(query)!r} returned a range vector; a check needs one number "
                              "(e.g. wrap the range in rate(...) and aggregate with sum(...))")
    else:
        raise PrometheusError(f"query {shorten(query)!r} returned a {kind}, not a number")
    if not (isinstance(sample, list) and len(sample) == 2):
        raise PrometheusError(f"unexpected answer to query {shorten(query)!r}: {shorten(str(data), 200)}")
    try:
        value = Decimal(str(sample[1]))
    except InvalidOperation:
        raise PrometheusError(f"query {shorten(query)!r} returned {sample[1]!r}, not a number") from None
    if value.is_nan():
        raise PrometheusError(f"query {shorten(query)!r} returned NaN (e.g. 0/0: no requests in the window)")
    if value.is_infinite() or abs(value) >= LARGEST_VALUE:
        raise PrometheusError(f"query {shorten(query)!r} returned {sample[1]}, outside the range a check can hold")
    return value


def series_name(series: object) -> str:
    """One series of an answer as PromQL writes it: name{label="value",...}."""
    labels = series.get("metric") if isinstance(series, dict) else None
    if not isinstance(labels, dict):
        return "{}"
    name = str(labels.get("__name__", ""))
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"


def count_requests(url: str, *, namespace: str, deployment: str, version: int, window_seconds: float
                   ) -> tuple[int, str]:
    """Inference requests the pods of ``version`` answered in the window (:data:`SAMPLES_QUERY`), and a note for
    the message; 0 with the reason when the count is unknown."""
    query = render(SAMPLES_QUERY, namespace=namespace, deployment=deployment, version=version,
                   window_seconds=window_seconds)
    window = prometheus_duration(window_seconds)
    try:
        count = parse_value(query, instant_query(url, query))
    except PrometheusError as e:
        return 0, f"request count unknown ({e})"
    n = max(0, int(count.to_integral_value()))
    return n, f"{n} requests to version {version} in {window}"


def measure(check: MetricCheck, *, url: str, namespace: str, deployment: str, version: int,
            window_seconds: float) -> Measurement:
    """One Prometheus check over the last ``window_seconds``: the query's value and the request count of the
    version (see the module doc), or no data with a message saying why. Never raises for a Prometheus problem."""
    if not url:
        return Measurement(None, 0, "no Prometheus URL is configured (operator flag --prometheus-url, "
                                    "HERDER_PROMETHEUS_URL, chart value prometheus.url)")
    if check.query is None:
        return Measurement(None, 0, f"check {check.name} has no query (provider {check.provider})")
    try:
        query = render(check.query, namespace=namespace, deployment=deployment, version=version,
                       window_seconds=window_seconds)
        data = instant_query(url, query)
        value = parse_value(query, data)
    except (PrometheusError, ValueError) as e:
        return Measurement(None, 0, str(e))
    samples, note = count_requests(url, namespace=namespace, deployment=deployment, version=version,
                                   window_seconds=window_seconds)
    warnings = data.get("warnings")
    if warnings:
        note += "; Prometheus warned: " + shorten("; ".join(warnings), 200)
    return Measurement(value, samples, note)
