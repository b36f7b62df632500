"""The ModelDeployment status builder (herder.policy.deployment_status): one rule per field -- above all
lastKnownGoodVersion and handledRequests -- and the conditions and requeue of each phase."""

from __future__ import annotations

from typing import Any

from herder.api.deployment import HandledRequests, ModelDeploymentSpec, ModelDeploymentStatus, TrackStatus
from herder.policy.conditions import Cond
from herder.policy.deployment import Interpreted, Monitored, StableRollback
from herder.policy.deployment_status import Context, Observed, deployment_status, last_known_good
from herder.policy.monitoring import Watch
from herder.policy.rollout import Plan, Rollback, RolloutState

OK = Cond("ReferencesResolved", "True", "Resolved")
MONITORING = {"interval": "30s", "metrics": [{"name": "e", "metric": "ErrorRate", "threshold": {"max": "0.1"}}]}


def context(status: dict[str, Any] | None = None, *, monitoring: bool = False, **kw: Any) -> Context:
    spec = ModelDeploymentSpec.model_validate({"model": {"name": "iris", "version": 2},
                                               **({"monitoring": MONITORING} if monitoring else {})})
    typed = ModelDeploymentStatus.model_validate({"stableVersion": 1, "lastKnownGoodVersion": 1} if status is None
                                                 else status)
    return Context(spec=spec, status=typed, generation=4, url="http://iris", target=2, ok=OK,
                   state=RolloutState(stable_version=typed.stable_version), stable_before=typed.stable_version, **kw)


def conds(update: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in update.conditions}


def fields(update: Any) -> dict[str, Any]:
    """The status patch as the controller writes it."""
    wire: dict[str, Any] = update.status.wire()
    return wire


def test_the_first_deployment_records_its_version_as_last_known_good_once_rolled() -> None:
    plan = Plan("Initial", RolloutState(), 2, 2, None, 0, "deploying version 2")
    rolling = deployment_status(context({}), plan, Observed(2, 1, None))
    assert "stableVersion" not in fields(rolling) and rolling.requeue_after == 5.0
    assert conds(rolling)["Progressing"] == ("True", "RollingOut") and conds(rolling)["Ready"][0] == "False"
    done = deployment_status(context({}), plan, Observed(2, 2, 2, children=ModelDeploymentStatus(
        stable=TrackStatus(version=2))))
    assert fields(done) == {"url": "http://iris", "resolvedVersion": 2, "stable": {"version": 2}, "stableVersion": 2,
                            "lastKnownGoodVersion": 2}
    assert done.requeue_after is None
    assert conds(done) == {"ReferencesResolved": ("True", "Resolved"), "Progressing": ("False", "Stable"),
                           "Ready": ("True", "Serving")}


def test_last_known_good_follows_promotion_probation_and_rollback() -> None:
    promoted = Plan("Promoted", RolloutState(stable_version=2), 2, 2, None, 0, "promoted")
    assert last_known_good(context(), promoted) == 2
    assert last_known_good(context(monitoring=True), promoted) == 1  # on probation
    proven = Monitored(watch=Watch("Keep", 2, 3, "proven", proven=True))
    stable = Plan("Stable", RolloutState(stable_version=2), 2, 2, None, 0, "serving")
    assert last_known_good(context(monitoring=True, monitored=proven), stable) == 2
    back = StableRollback(1, "MonitoringBreach", "breach")
    assert last_known_good(context(monitoring=True, stable_rollback=back), stable) == 1


def test_an_abort_is_recorded_once_with_the_generation() -> None:
    rb = Rollback(2, 1, "AnalysisFailed", "error-rate=1")
    plan = Plan("Aborted", RolloutState(stable_version=1, aborted_version=2), 1, 2, None, 0, "aborted", rollback=rb)
    update = deployment_status(context(), plan, Observed(2, 2, 1))
    f = fields(update)
    assert (f["abortedVersion"], f["abortedGeneration"], f["lastRollback"]["reason"]) == (2, 4, "AnalysisFailed")
    assert conds(update)["Degraded"] == ("True", "AnalysisFailed")
    assert conds(update)["Progressing"] == ("False", "Aborted")
    later = deployment_status(context({"stableVersion": 1, "abortedVersion": 2, "abortedGeneration": 3}),
                              Plan("Aborted", plan.state, 1, 2, None, 0, "still aborted"), Observed(2, 2, 1))
    assert fields(later)["abortedGeneration"] == 3 and "lastRollback" not in fields(later)
    assert "Degraded" not in conds(later)


def test_a_stable_rollback_says_rolled_back_and_restarts_probation() -> None:
    back = StableRollback(1, "MonitoringBreach", "error-rate=1")
    plan = Plan("Aborted", RolloutState(stable_version=1, aborted_version=2), 1, 1, None, 0, "aborted")
    c = context({"stableVersion": 2, "lastKnownGoodVersion": 1}, monitoring=True, stable_rollback=back)
    update = deployment_status(c, plan, Observed(1, 1, 2))
    assert conds(update)["Progressing"] == ("False", "RolledBack")
    assert conds(update)["Degraded"] == ("True", "MonitoringBreach")
    assert fields(update)["lastRollback"]["from"] == 2 and fields(update)["monitoringPassedIntervals"] is None
    assert update.requeue_after == 5.0  # the stable track still rolls back


def test_handled_requests_and_a_monitoring_alert_that_stays() -> None:
    plan = Plan("Stable", RolloutState(stable_version=1), 1, 1, None, 0, "serving version 1")
    alerted = {"stableVersion": 1, "conditions": [{"type": "Degraded", "status": "True",
                                                   "reason": "MonitoringBreach",
                                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    handled = Interpreted(handled=HandledRequests(retry="x"))
    update = deployment_status(context(alerted, monitoring=True, interpreted=handled,
                                       monitored=Monitored(requeue=7.0)), plan, Observed(1, 1, 1))
    assert fields(update)["handledRequests"] == {"retry": "x"}
    assert "Degraded" not in conds(update) and update.requeue_after == 7.0
    quiet = deployment_status(context({"stableVersion": 1}), plan, Observed(1, 1, 1))
    assert conds(quiet)["Degraded"] == ("False", "Healthy") and quiet.requeue_after is None
    assert fields(quiet)["handledRequests"] is None
