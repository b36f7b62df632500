"""The builtin provider parses the server's own exposition format, per model version."""

from __future__ import annotations

from herder.monitoring.builtin import ScrapeMemory, Target, parse_counters, scrape
from herder.policy.analysis import Scrape

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
