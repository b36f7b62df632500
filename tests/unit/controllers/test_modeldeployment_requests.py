"""ModelDeployment request annotations act once per new value (remembered on status.handledRequests), and checks
that can never be measured are named up front with their field path."""

from __future__ import annotations

from herder.api.common import MetricCheck
from herder.api.deployment import HandledRequests
from herder.controllers.modeldeployment import check_problems
from herder.policy.deployment import Requests, interpret, pending_requests
from herder.policy.rollout import RolloutState


def meta(**annotations: str) -> dict[str, object]:
    return {"name": "iris", "annotations": {f"herder.dev/{k}": v for k, v in annotations.items()}}


def test_a_new_annotation_value_is_a_new_request_and_a_handled_one_is_not() -> None:
    assert pending_requests(meta(), None) == Requests()
    argo = "2026-11-27T07:00:00Z"  # what the Argo CD actions set
    assert pending_requests(meta(rollback=argo, retry=argo, promote="3"), None) == Requests("3", argo, argo)
    handled = HandledRequests(rollback=argo, retry=argo, promote="3")
    assert pending_requests(meta(rollback=argo, retry=argo, promote="3"), handled) == Requests()
    later = "2026-11-27T07:05:00Z"
    assert pending_requests(meta(rollback=later, retry=argo), handled) == Requests(rollback=later)


def test_a_value_longer_than_the_status_field_is_recorded_by_digest_and_still_acts_once() -> None:
    """status.handledRequests.* are at most 256 characters (an annotation value may be far longer): a longer value
    is recorded as its sha256, so the status write is accepted and the request is recognised as handled."""
    long = "x" * 1000
    req = pending_requests(meta(retry=long), None)
    assert req == Requests(retry=long)
    i = interpret(req, target=2, state=RolloutState(stable_version=1, aborted_version=2), handled=None,
                  aborted_generation=1, generation=1, last_known_good=1, versions={1, 2})
    assert i.retry and i.handled.retry is not None and i.handled.retry.startswith("sha256:")
    assert HandledRequests.model_validate(i.handled.wire()) == i.handled  # fits the field
    assert pending_requests(meta(retry=long), i.handled) == Requests()
    assert pending_requests(meta(retry=long + "y"), i.handled) == Requests(retry=long + "y")


def check(i: int, **fields: object) -> MetricCheck:
    return MetricCheck.model_validate({"name": f"c{i}", "threshold": {"max": "1"}, **fields})


def test_unmeasurable_checks_are_named_by_field_path_and_value() -> None:
    checks = [check(0, metric="ErrorRate"), check(1, metric="FeatureDriftPSI"),
              check(2, provider="Prometheus", query="vector(1)")]
    problems = check_problems(checks, "spec.analysis.metrics", None)
    assert len(problems) == 2
    assert problems[0].startswith("spec.analysis.metrics[1].metric: FeatureDriftPSI")
    assert problems[1].startswith("spec.analysis.metrics[2] (check 'c2'): provider Prometheus")
    assert "--prometheus-url" in problems[1] and "prometheus.url" in problems[1]
    assert check_problems(checks, "spec.monitoring.metrics", "http://127.0.0.1:9090") == [
        problems[0].replace("spec.analysis", "spec.monitoring")]
