"""ModelDeployment request annotations act once per new value (remembered on status.handledRequests), and checks
that can never be measured are named up front with their field path."""

from __future__ import annotations

from herder.api.common import MetricCheck
from herder.controllers.modeldeployment import check_problems
from herder.policy.deployment import Requests, pending_requests


def meta(**annotations: str) -> dict[str, object]:
    return {"name": "iris", "annotations": {f"herder.dev/{k}": v for k, v in annotations.items()}}


def test_a_new_annotation_value_is_a_new_request_and_a_handled_one_is_not() -> None:
    assert pending_requests(meta(), {}) == Requests()
    argo = "2026-11-27T07:00:00Z"  # what the Argo CD actions set
    assert pending_requests(meta(rollback=argo, retry=argo, promote="3"), {}) == Requests("3", argo, argo)
    handled = {"handledRequests": {"rollback": argo, "retry": argo, "promote": "3"}}
    assert pending_requests(meta(rollback=argo, retry=argo, promote="3"), handled) == Requests()
    later = "2026-11-27T07:05:00Z"
    assert pending_requests(meta(rollback=later, retry=argo), handled) == Requests(rollback=later)


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
