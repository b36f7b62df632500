"""The builtin provider parses the server's own exposition format, per model version."""

from __future__ import annotations

from herder.monitoring.builtin import ScrapeMemory, Target, parse_bins, parse_counters, scrape, scrape_with_bins
from herder.policy.analysis import Scrape
from herder.policy.drift import DriftScrape, window_counts

TEXT = """\
# HELP herder_requests_total Inference requests by protocol and HTTP status
# TYPE herder_requests_total counter
herder_requests_total{model="iris",version="2",protocol="v1",code="200"} 30.0
herder_requests_total{model="iris",version="2",protocol="v1",code="500"} 10.0
herder_requests_total{model="iris",version="2",protocol="v2",code="503"} 2.0
herder_requests_total{model="iris",version="2",protocol="v2",code="400"} 3.0
herder_requests_total{model="iris",version="1",protocol="v1",code="500"} 99.0
# HELP herder_request_duration_seconds Inference request latency in the server
# TYPE herder_request_duration_seconds histogram
herder_request_duration_seconds_bucket{model="iris",version="2",protocol="v1",le="0.01"} 20.0
herder_request_duration_seconds_bucket{model="iris",version="2",protocol="v1",le="+Inf"} 40.0
herder_request_duration_seconds_sum{model="iris",version="2",protocol="v1"} 1.5
herder_request_duration_seconds_count{model="iris",version="2",protocol="v1"} 40.0
herder_request_duration_seconds_bucket{model="iris",version="2",protocol="v2",le="0.01"} 5.0
herder_request_duration_seconds_bucket{model="iris",version="2",protocol="v2",le="+Inf"} 5.0
# HELP herder_feedback_total Ground-truth labels received, by outcome
# TYPE herder_feedback_total counter
herder_feedback_total{model="iris",version="2",outcome="correct"} 8.0
herder_feedback_total{model="iris",version="2",outcome="incorrect"} 2.0
herder_feedback_total{model="iris",version="2",outcome="received"} 10.0
"""


def test_parse_counters_of_one_version() -> None:
    c = parse_counters(TEXT, 2)
    assert (c.requests, c.errors) == (45, 12)
    assert c.buckets == ((0.01, 25), (float("inf"), 45))
    assert (c.correct, c.incorrect) == (8, 2)
    assert parse_counters(TEXT, 7).requests == 0


def test_scrape_names_unreachable_pods() -> None:
    def get(ip: str) -> str:
        if ip == "127.65.0.9":
            raise OSError("connection refused")
        return TEXT

    s = scrape([Target("a/1", "127.65.0.1"), Target("b/2", "127.65.0.9")], 2, clock=lambda: 5.0, get=get)
    assert s.at == 5.0 and set(s.pods) == {"a/1"}
    assert s.unreachable[0].startswith("b (OSError")


def test_memory_is_per_version() -> None:
    m = ScrapeMemory()
    m.put(("ns", "d", "analysis"), 2, Scrape(1.0))
    assert m.get(("ns", "d", "analysis"), 2) == Scrape(1.0)
    assert m.get(("ns", "d", "analysis"), 3) is None
    m.forget(("ns", "d", "analysis"))
    assert m.get(("ns", "d", "analysis"), 2) is None


def _server_text(rows: list[list[float]], labels: list[int]) -> str:
    """The exposition of a real ServerMetrics (the model server's own collector) after counting ``rows``."""
    import numpy as np

    from herder.serving.metrics import ServerMetrics
    from tests.unit.serving.helpers import numeric_estimator, numeric_metadata, served

    metrics = ServerMetrics(model=served(numeric_metadata(), numeric_estimator()))
    metrics.observe_inference(np.asarray(rows, dtype=np.float64), list(labels))
    return metrics.exposition().decode()


def test_parse_bins_reads_the_servers_feature_bins_and_class_counts() -> None:
    # feature a has edges (-1, 0, 1): bins 0..3; n is categorical (0, 1, 2) + other; version is "3"
    text = _server_text([[-5.0, 0.0, 0], [0.5, 0.0, 2], [0.7, 0.0, 9]], [0, 1, 1])
    counts = parse_bins(text, 3)
    assert counts.features == {"a": (1, 0, 2, 0), "n": (1, 0, 1, 1)}
    assert counts.classes == {"0": 1, "1": 2}
    assert counts.rows() == 3 and counts.predictions() == 3
    assert parse_bins(text, 4).features == {}


def test_scrape_with_bins_gives_rollout_and_drift_counters_from_one_read() -> None:
    text = _server_text([[0.5, 0.0, 1]] * 4, [1] * 4)
    reads: list[str] = []

    def get(ip: str) -> str:
        reads.append(ip)
        if ip == "127.65.0.9":
            raise OSError("connection refused")
        return text

    counters, bins = scrape_with_bins([Target("a/1", "127.65.0.1"), Target("b/2", "127.65.0.9")], 3,
                                      clock=lambda: 7.0, get=get)
    assert reads == ["127.65.0.1", "127.65.0.9"]
    assert counters.at == bins.at == 7.0 and set(counters.pods) == set(bins.pods) == {"a/1"}
    assert bins.unreachable == counters.unreachable and bins.unreachable[0].startswith("b (OSError")
    assert bins.pods["a/1"].features["a"] == (0, 0, 4, 0)
    assert scrape([Target("a/1", "127.65.0.1")], 3, clock=lambda: 7.0, get=get).pods == counters.pods


def test_drift_window_from_two_scrapes_handles_a_restarted_pod() -> None:
    first = _server_text([[0.5, 0.0, 1]] * 10, [1] * 10)
    second = _server_text([[0.5, 0.0, 1]] * 10 + [[-5.0, 0.0, 0]] * 6, [1] * 16)
    restarted = _server_text([[2.0, 0.0, 1]] * 2, [0] * 2)
    texts = {"127.65.0.1": first, "127.65.0.2": first}
    _, before = scrape_with_bins([Target("a/1", "127.65.0.1"), Target("b/2", "127.65.0.2")], 3,
                                 get=texts.__getitem__)
    texts = {"127.65.0.1": second, "127.65.0.2": restarted}
    _, after = scrape_with_bins([Target("a/1", "127.65.0.1"), Target("b/2", "127.65.0.2")], 3,
                                get=texts.__getitem__)
    window = window_counts(before, after)
    assert window.features["a"] == (6, 0, 0, 2)  # 6 new rows on a/1, the restarted b/2's whole 2
    assert window.classes == {"0": 2, "1": 6}


def test_memory_keeps_drift_scrapes_apart_and_forgets_both() -> None:
    m = ScrapeMemory()
    key = ("ns", "d", "drift")
    m.put(key, 2, Scrape(1.0))
    m.put_bins(key, 2, DriftScrape(0.5))
    assert m.get(key, 2) == Scrape(1.0) and m.get_bins(key, 2) == DriftScrape(0.5)
    assert m.get_bins(key, 3) is None
    m.forget(key)
    assert m.get(key, 2) is None and m.get_bins(key, 2) is None


def test_memory_looks_back_a_drift_window() -> None:
    m = ScrapeMemory()
    key = ("ns", "d", "drift")
    for at in (0.0, 30.0, 60.0, 90.0, 120.0):
        m.put_bins(key, 2, DriftScrape(at), keep_seconds=60.0)
    assert m.get_bins(key, 2) == DriftScrape(120.0)  # the latest by default
    assert m.get_bins(key, 2, window_seconds=60.0, now=150.0) == DriftScrape(90.0)  # newest >= 60 s before now
    assert m.get_bins(key, 2, window_seconds=60.0) == DriftScrape(60.0)  # relative to the latest scrape
    assert m.get_bins(key, 2, window_seconds=600.0, now=150.0) == DriftScrape(60.0)  # oldest kept: 0 and 30 dropped
    m.put_bins(key, 3, DriftScrape(130.0), keep_seconds=60.0)  # a new version starts over
    assert m.get_bins(key, 2) is None and m.get_bins(key, 3, window_seconds=60.0, now=200.0) == DriftScrape(130.0)
