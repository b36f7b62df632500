"""A ModelDeployment's pure decisions (herder.policy.deployment): what each request annotation means in each rollout
state, when a promote stays pending, what a monitoring verdict does, and that the first deployment is the machines'
Initial phase."""

from __future__ import annotations

from herder.api.deployment import HandledRequests
from herder.policy.analysis import IntervalResult
from herder.policy.bluegreen import BlueGreenSettings
from herder.policy.deployment import (
    Interpreted,
    Requests,
    RolloutInputs,
    StableRollback,
    handled_requests,
    interpret,
    monitoring_verdict,
    plan_rollout,
    rolled_back,
    rollout_in_progress,
)
from herder.policy.monitoring import Watch
from herder.policy.rollout import Plan, RolloutState, Step

STABLE = RolloutState(stable_version=1)
ROLLING = RolloutState(stable_version=1, canary_version=2, canary_weight=50, current_step=0, step_started_at=10.0)
ABORTED = RolloutState(stable_version=1, aborted_version=2)


def ask(req: Requests, state: RolloutState, *, target: int = 2, lkg: int | None = 1, aborted_generation: int = 3,
        generation: int = 3) -> Interpreted:
    return interpret(req, target=target, state=state, handled=HandledRequests(retry="old"),
                     aborted_generation=aborted_generation, generation=generation, last_known_good=lkg, versions={1, 2})


def test_retry_acts_on_an_aborted_target_only() -> None:
    i = ask(Requests(retry="r2"), ABORTED)
    assert i.retry and i.handled == HandledRequests(retry="r2") and i.events[0][1] == "RetryRequested"
    i = ask(Requests(retry="r2"), STABLE)
    assert not i.retry and i.handled.wire() == {"retry": "r2"} and i.events[0][1] == "RequestIgnored"
    # after a rollback of a production-following deployment production moved back too: say how to retry
    i = interpret(Requests(retry="r3"), target=1, state=STABLE, handled=None, aborted_generation=None, generation=3,
                  last_known_good=1, versions={1, 2}, last_rolled_back=2)
    assert not i.retry and "to try version 2 again, pin spec.model.version: 2" in i.events[0][2]
    # a spec generation after the abort retries without any request
    assert ask(Requests(), ABORTED, generation=4).retry
    assert not ask(Requests(), ABORTED).retry


def test_promote_waits_for_the_named_versions_rollout() -> None:
    assert ask(Requests(promote="2"), ROLLING).promote
    waiting = ask(Requests(promote="3"), ROLLING)
    assert not waiting.promote and waiting.handled.promote is None and not waiting.events
    now_or_never = ask(Requests(promote="yes"), STABLE, target=1)
    assert not now_or_never.promote and now_or_never.handled.promote == "yes"
    assert now_or_never.events[0][1] == "RequestIgnored"


def test_rollback_aborts_a_rollout_or_returns_to_the_last_known_good_version() -> None:
    assert ask(Requests(rollback="x"), ROLLING).abort == "x"
    back = ask(Requests(rollback="x"), RolloutState(stable_version=2), lkg=1)
    assert back.rollback is not None and (back.rollback.to, back.rollback.reason) == (1, "ManualRollback")
    nothing = ask(Requests(rollback="x"), STABLE, target=1, lkg=1)
    assert nothing.rollback is None and nothing.events[0][:2] == ("Warning", "RequestIgnored")
    assert nothing.handled.rollback == "x"


def test_a_promote_that_did_not_act_yet_stays_pending() -> None:
    i = Interpreted(promote=True, handled=HandledRequests(promote="2", retry="r"))
    held = Plan("Progressing", ROLLING, 1, 1, 2, 1, "waiting")
    before = HandledRequests(promote="1")
    assert handled_requests(i, before, held, ROLLING) == HandledRequests(promote="1", retry="r")
    moved = Plan("Promoting", RolloutState(stable_version=1, canary_version=2, current_step=1), 2, 2, 2, 1, "p")
    assert handled_requests(i, before, moved, ROLLING) == HandledRequests(promote="2", retry="r")
    assert handled_requests(Interpreted(), None, None, STABLE) is None


def result(decision: str) -> IntervalResult:
    return IntervalResult(decision, (), "m")  # type: ignore[arg-type]


def test_a_monitoring_verdict_rolls_back_alerts_or_clears_the_alert() -> None:
    rollback = Watch("Rollback", 1, 0, "breach", rollback_to=1)
    v = monitoring_verdict(result("Abort"), rollback, stable=2, versions={1, 2}, degraded_reason=None)
    assert v.rollback == StableRollback(1, "MonitoringBreach", "breach") and v.condition is None
    gone = monitoring_verdict(result("Abort"), rollback, stable=2, versions={2}, degraded_reason=None)
    assert gone.rollback is None and gone.condition is not None and gone.condition.reason == "MonitoringBreach"
    keep = Watch("Keep", 1, 1, "ok")
    cleared = monitoring_verdict(result("Pass"), keep, stable=2, versions={1, 2}, degraded_reason="MonitoringBreach")
    assert cleared.condition is not None and (cleared.condition.status, cleared.condition.reason) == ("False",
                                                                                                        "Healthy")
    assert monitoring_verdict(result("Pass"), keep, stable=2, versions={1, 2}, degraded_reason=None).condition is None
    assert rolled_back(RolloutState(stable_version=2), StableRollback(1, "r", "m")) == ABORTED.__class__(
        stable_version=1, aborted_version=2)


def test_the_first_deployment_is_the_initial_phase_of_either_machine() -> None:
    first = RolloutInputs(target=3, total=2, state=RolloutState(), now=0.0, steps=[Step(50, 5.0)])
    plan = plan_rollout(first)
    assert (plan.phase, plan.stable_serves, plan.stable_replicas, plan.canary_serves) == ("Initial", 3, 2, None)
    bg = plan_rollout(RolloutInputs(target=3, total=2, state=RolloutState(), now=0.0,
                                    bluegreen=BlueGreenSettings(None, True, 0.0)))
    assert (bg.phase, bg.stable_serves, bg.service_track) == ("Initial", 3, "stable")
    assert rollout_in_progress(ROLLING, 2) and not rollout_in_progress(ROLLING, 3)
