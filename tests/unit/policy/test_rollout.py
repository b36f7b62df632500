"""The canary state machine: start, hold, advance, promote, abort, stay aborted, retry, resume from status."""

from __future__ import annotations

from herder.policy.rollout import RolloutState, Step, decide

STEPS = [Step(25, 10.0), Step(50, 10.0)]
STABLE = RolloutState(stable_version=1)


def test_first_deployment_goes_straight_to_stable() -> None:
    p = decide(target=1, steps=STEPS, total=4, state=RolloutState(), now=0, analysis=None)
    assert (p.phase, p.stable_serves, p.stable_replicas, p.canary_serves) == ("Initial", 1, 4, None)


def test_nothing_to_do_when_the_target_is_stable() -> None:
    p = decide(target=1, steps=STEPS, total=4, state=STABLE, now=0, analysis=None)
    assert (p.phase, p.state, p.events, p.requeue_after) == ("Stable", STABLE, (), None)


def test_a_new_version_starts_at_the_first_step() -> None:
    p = decide(target=2, steps=STEPS, total=4, state=STABLE, now=100, analysis="Wait", interval=3)
    assert p.phase == "Progressing"
    assert p.state == RolloutState(stable_version=1, canary_version=2, canary_weight=25, current_step=0,
                                   step_started_at=100)
    assert (p.stable_serves, p.stable_replicas, p.canary_serves, p.canary_replicas) == (1, 3, 2, 1)
    assert p.events[0][1] == "RolloutStarted"
    assert p.requeue_after == 3


def at_step(i: int, started: float = 100) -> RolloutState:
    return RolloutState(stable_version=1, canary_version=2, canary_weight=STEPS[i].weight, current_step=i,
                        step_started_at=started)


def test_a_step_holds_until_pause_and_analysis_both_allow() -> None:
    early = decide(target=2, steps=STEPS, total=4, state=at_step(0), now=105, analysis="Pass", interval=3)
    assert early.state == at_step(0) and early.requeue_after == 3
    waiting = decide(target=2, steps=STEPS, total=4, state=at_step(0), now=120, analysis="Wait",
                     analysis_message="errors=no data (Inconclusive, 0 samples)")
    assert waiting.state == at_step(0)
    assert "Inconclusive" in waiting.message  # too little traffic is not a pass
    nxt = decide(target=2, steps=STEPS, total=4, state=at_step(0), now=120, analysis="Pass")
    assert nxt.state == at_step(1, 120)
    assert (nxt.stable_replicas, nxt.canary_replicas) == (2, 2)
    assert nxt.events[0][1] == "RolloutStepAdvanced"


def test_without_analysis_the_pause_alone_advances() -> None:
    assert decide(target=2, steps=STEPS, total=4, state=at_step(0), now=109, analysis=None).state == at_step(0)
    assert decide(target=2, steps=STEPS, total=4, state=at_step(0), now=110, analysis=None).state == at_step(1, 110)


def test_after_the_last_step_the_stable_track_rolls_then_the_canary_goes() -> None:
    p = decide(target=2, steps=STEPS, total=4, state=at_step(1), now=130, analysis="Pass")
    assert p.phase == "Promoting" and p.state.current_step == 2
    # the stable track gets the new version at full size while the canary keeps serving
    assert (p.stable_serves, p.stable_replicas, p.canary_serves, p.canary_replicas) == (2, 4, 2, 2)
    rolling = decide(target=2, steps=STEPS, total=4, state=p.state, now=131, analysis=None, stable_rolled_to=1)
    assert rolling.phase == "Promoting" and rolling.canary_serves == 2
    done = decide(target=2, steps=STEPS, total=4, state=p.state, now=140, analysis=None, stable_rolled_to=2)
    assert done.phase == "Promoted"
    assert done.state == RolloutState(stable_version=2)
    assert (done.stable_serves, done.stable_replicas, done.canary_serves) == (2, 4, None)
    assert done.events[0][1] == "RolloutPromoted"


def test_weight_100_keeps_the_canary_until_stable_has_rolled() -> None:
    steps = [Step(50, 1.0), Step(100, 1.0)]
    st = RolloutState(stable_version=1, canary_version=2, canary_weight=100, current_step=1, step_started_at=0)
    p = decide(target=2, steps=steps, total=2, state=st, now=5, analysis="Pass")
    assert (p.phase, p.stable_replicas, p.canary_replicas) == ("Promoting", 2, 2)


def test_promote_annotation_skips_the_remaining_steps() -> None:
    p = decide(target=2, steps=STEPS, total=4, state=at_step(0), now=101, analysis="Wait", promote=True)
    assert p.phase == "Promoting" and p.stable_serves == 2


def test_abort_restores_stable_and_records_the_rollback() -> None:
    p = decide(target=2, steps=STEPS, total=4, state=at_step(1), now=105, analysis="Abort",
               analysis_message="errors=1 (Fail, 30 samples)")
    assert p.phase == "Aborted"
    assert p.state == RolloutState(stable_version=1, aborted_version=2)
    assert (p.stable_serves, p.stable_replicas, p.canary_serves, p.canary_replicas) == (1, 4, None, 0)
    assert p.rollback is not None
    assert (p.rollback.from_version, p.rollback.to_version, p.rollback.reason) == (2, 1, "AnalysisFailed")
    assert "errors=1" in p.rollback.message and "step 2/2" in p.rollback.message
    assert p.events[0][0] == "Warning"
    # it stays aborted: the same target is not retried ...
    again = decide(target=2, steps=STEPS, total=4, state=p.state, now=200, analysis=None)
    assert (again.phase, again.canary_serves, again.rollback, again.events) == ("Aborted", None, None, ())
    # ... until a retry, or a different version
    assert decide(target=2, steps=STEPS, total=4, state=p.state, now=200, analysis=None,
                  retry=True).state.canary_version == 2
    other = decide(target=3, steps=STEPS, total=4, state=p.state, now=200, analysis=None)
    assert other.state.canary_version == 3 and other.state.aborted_version is None


def test_a_spec_back_at_stable_cancels_the_canary() -> None:
    p = decide(target=1, steps=STEPS, total=4, state=at_step(0), now=101, analysis=None)
    assert (p.phase, p.canary_serves, p.state) == ("Stable", None, STABLE)
    assert p.events[0][1] == "RolloutCancelled"


def test_a_restarted_operator_resumes_the_step_from_status() -> None:
    # the state is all on status: the same inputs give the same step, no restart from step 0
    p = decide(target=2, steps=STEPS, total=4, state=at_step(1, 100), now=104, analysis="Wait")
    assert p.state == at_step(1, 100) and p.events == ()
    assert (p.stable_replicas, p.canary_replicas) == (2, 2)


def test_a_target_change_mid_rollout_restarts_at_step_one() -> None:
    p = decide(target=3, steps=STEPS, total=4, state=at_step(1), now=150, analysis="Pass")
    assert p.state.canary_version == 3 and p.state.current_step == 0


def test_a_manual_rollback_aborts_a_rollout_in_progress() -> None:
    p = decide(target=2, steps=STEPS, total=4, state=at_step(1), now=105, analysis="Wait",
               rollback="2026-01-01T00:00:00Z")
    assert (p.phase, p.state) == ("Aborted", RolloutState(stable_version=1, aborted_version=2))
    assert (p.stable_serves, p.stable_replicas, p.canary_serves) == (1, 4, None)
    assert p.rollback is not None and p.rollback.reason == "ManualRollback"
    assert "step 2/2" in p.rollback.message and "herder.dev/rollback" in p.rollback.message
    # while promoting too
    promoting = RolloutState(stable_version=1, canary_version=2, canary_weight=50, current_step=2,
                             step_started_at=100)
    q = decide(target=2, steps=STEPS, total=4, state=promoting, now=105, analysis=None, rollback="x")
    assert (q.phase, q.stable_serves) == ("Aborted", 1) and "while promoting" in q.message


def test_without_steps_a_new_version_rolls_in_place_with_the_same_bookkeeping() -> None:
    p = decide(target=2, steps=[], total=2, state=STABLE, now=100, analysis=None)
    assert (p.phase, p.stable_serves, p.stable_replicas, p.canary_serves) == ("Promoting", 2, 2, None)
    assert p.state.canary_version == 2 and p.events[0][1] == "RolloutStarted"
    rolling = decide(target=2, steps=[], total=2, state=p.state, now=101, analysis=None, stable_rolled_to=1)
    assert (rolling.phase, rolling.canary_serves, rolling.events) == ("Promoting", None, ())
    done = decide(target=2, steps=[], total=2, state=p.state, now=102, analysis=None, stable_rolled_to=2)
    assert (done.phase, done.state) == ("Promoted", RolloutState(stable_version=2))
    # a manual rollback while it rolls puts the old version back and records the abort
    back = decide(target=2, steps=[], total=2, state=p.state, now=101, analysis=None, rollback="now")
    assert (back.phase, back.stable_serves, back.state.aborted_version) == ("Aborted", 1, 2)


def test_resume_at_every_step_from_status_alone() -> None:
    """What a restarted operator sees at each step: the same state in, the same Deployments out, no new Event
    (so no second RolloutStarted and no second canary)."""
    steps = [Step(25, 10.0), Step(50, 10.0)]
    promoting = RolloutState(stable_version=1, canary_version=2, canary_weight=50, current_step=2,
                             step_started_at=100)
    aborted = RolloutState(stable_version=1, aborted_version=2)
    cases = [(at_step(0), "Progressing", (3, 1)), (at_step(1), "Progressing", (2, 2)),
             (promoting, "Promoting", (4, 2)), (aborted, "Aborted", (4, 0))]
    for state, phase, replicas in cases:
        p = decide(target=2, steps=steps, total=4, state=state, now=104, analysis="Wait", stable_rolled_to=1)
        assert (p.phase, p.state, (p.stable_replicas, p.canary_replicas), p.events) == (phase, state, replicas, ())


def test_under_gateway_api_the_stable_track_stays_full_during_steps() -> None:
    from herder.resources.traffic import gateway_replicas

    p = decide(target=2, steps=STEPS, total=4, state=STABLE, now=100, analysis=None, split=gateway_replicas)
    assert (p.stable_replicas, p.canary_replicas) == (4, 1)  # the HTTPRoute, not the pod count, splits traffic
    nxt = decide(target=2, steps=STEPS, total=4, state=at_step(0), now=120, analysis=None, split=gateway_replicas)
    assert (nxt.stable_replicas, nxt.canary_replicas) == (4, 2)
