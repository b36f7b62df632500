"""The one measurement cycle (herder.monitoring.sampling): which pods are measured, when a window is due, the
failures carried on status, and two scrapes -> one measurement per check."""

from __future__ import annotations

from types import SimpleNamespace as Ns
from typing import Any

from herder.api.common import MetricCheck
from herder.monitoring import sampling
from herder.monitoring.builtin import ScrapeMemory, Target
from herder.policy.analysis import Counters, Scrape


class Pods:
    def __init__(self, *pods: Any) -> None:
        self.pods = pods
        self.selectors: list[str] = []

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any:
        self.selectors.append(kwargs["label_selector"])
        return Ns(items=list(self.pods))


def pod(name: str, ip: str | None, phase: str = "Running", deleting: bool = False) -> Any:
    return Ns(metadata=Ns(name=name, uid=f"u-{name}", deletion_timestamp="now" if deleting else None),
              status=Ns(pod_ip=ip, phase=phase))


def test_pod_targets_select_one_track_and_version_and_skip_pods_that_cannot_answer() -> None:
    core = Pods(pod("a", "127.65.0.1"), pod("b", None), pod("c", "127.65.0.3", phase="Pending"),
                pod("d", "127.65.0.4", deleting=True))
    assert sampling.pod_targets(core, "ns", "iris", "canary", 3) == [Target("a/u-a", "127.65.0.1")]
    assert core.selectors == ["herder.dev/serving=iris,herder.dev/track=canary,herder.dev/model-version=3"]


def test_a_window_is_due_at_95_percent_of_its_length() -> None:
    assert sampling.is_due(None, 100.0, 30.0)
    assert not sampling.is_due(Scrape(100.0), 128.0, 30.0)
    assert sampling.is_due(Scrape(100.0), 128.5, 30.0)
    assert sampling.wait(Scrape(100.0), 110.0, 30.0) == 20.0


def test_failures_come_from_the_measurements_of_the_same_version() -> None:
    stored = [{"name": "e", "version": 2, "consecutiveFailures": 2}, {"name": "e", "version": 1,
                                                                      "consecutiveFailures": 5},
              {"name": "l", "version": 2}]
    assert sampling.failures_of(stored, 2) == {"e": 2, "l": 0}
    assert sampling.failures_of(None, 2) == {}


def test_take_remembers_the_scrape_and_returns_the_one_it_replaces(monkeypatch: Any) -> None:
    text = 'herder_requests_total{version="2",code="200"} 10\nherder_requests_total{version="2",code="500"} 1\n'
    monkeypatch.setattr("herder.monitoring.builtin.fetch", lambda ip: text)
    memory = ScrapeMemory()
    first, current = sampling.take(memory, ("ns", "iris", "analysis"), 2, [Target("a/1", "127.65.0.1")])
    assert first is None and (current.pods["a/1"].requests, current.pods["a/1"].errors) == (11, 1)
    again, _ = sampling.take(memory, ("ns", "iris", "analysis"), 2, [Target("a/1", "127.65.0.1")])
    assert again == current


def test_builtin_checks_are_measured_over_the_per_pod_increase() -> None:
    check = MetricCheck.model_validate({"name": "e", "metric": "ErrorRate", "threshold": {"max": "0.1"}})
    before = Scrape(0.0, {"a": Counters(requests=10, errors=1)})
    after = Scrape(30.0, {"a": Counters(requests=30, errors=3), "b": Counters(requests=5, errors=0)})
    m = sampling.measure_checks([check], before, after, prometheus_url=None, namespace="ns", deployment="iris",
                                version=2)["e"]
    assert (str(m.value), m.samples) == ("0.08", 25)
    assert sampling.unreachable_note(Scrape(1.0, unreachable=("x (OSError)",))) == "; unreachable pods: x (OSError)"
    assert sampling.unreachable_note(after) == ""
