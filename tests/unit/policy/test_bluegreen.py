"""The blue/green state machine: preview (not selected by the Service) -> switch (auto or on promote) -> old version
kept for scaleDownDelay -> stable track rolled -> promoted; abort and manual rollback switch back."""

from __future__ import annotations

from herder.policy.bluegreen import PREVIEW, BlueGreenSettings, decide_bluegreen
from herder.policy.rollout import RolloutState

AUTO = BlueGreenSettings(preview_replicas=None, auto_promote=True, scale_down_delay=30.0)
MANUAL = BlueGreenSettings(preview_replicas=1, auto_promote=False, scale_down_delay=30.0)
STABLE = RolloutState(stable_version=1)


def at(step: int, started: float = 100) -> RolloutState:
    return RolloutState(stable_version=1, canary_version=2, canary_weight=0 if step == 0 else 100, current_step=step,
                        step_started_at=started)


def test_a_new_version_starts_as_a_full_size_preview_the_service_does_not_select() -> None:
    p = decide_bluegreen(target=2, total=3, settings=AUTO, state=STABLE, now=100, analysis="Wait")
    assert p.phase == "Progressing" and p.state == at(0)
    assert (p.stable_serves, p.stable_replicas, p.canary_serves, p.canary_replicas) == (1, 3, 2, 3)
    assert (p.canary_track, p.service_track) == (PREVIEW, "stable")
    assert p.events[0][1] == "RolloutStarted"
    small = decide_bluegreen(target=2, total=3, settings=MANUAL, state=STABLE, now=100, analysis=None)
    assert small.canary_replicas == 1


def test_the_switch_waits_for_ready_preview_pods_and_passing_analysis() -> None:
    not_ready = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(0), now=110, analysis="Pass")
    assert not_ready.state == at(0) and "preview replicas to be ready" in not_ready.message
    failing = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(0), now=110, analysis="Wait",
                               analysis_message="errors=no data", preview_ready=True)
    assert failing.state == at(0) and "errors=no data" in failing.message
    switched = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(0), now=110, analysis="Pass",
                                preview_ready=True)
    assert switched.state == at(1, 110) and switched.service_track == PREVIEW
    assert (switched.stable_serves, switched.canary_serves) == (1, 2)  # the old version keeps running
    assert switched.events[0][1] == "TrafficSwitched"


def test_without_auto_promote_the_switch_waits_for_the_promote_annotation() -> None:
    wait = decide_bluegreen(target=2, total=3, settings=MANUAL, state=at(0), now=110, analysis=None,
                            preview_ready=True)
    assert wait.state == at(0) and "herder.dev/promote" in wait.message and wait.paused
    go = decide_bluegreen(target=2, total=3, settings=MANUAL, state=at(0), now=110, analysis=None,
                          preview_ready=True, promote=True)
    assert go.state.current_step == 1 and "herder.dev/promote" in go.events[0][2]


def test_old_version_kept_for_the_scale_down_delay_then_stable_rolls_then_preview_goes() -> None:
    held = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(1, 100), now=120, analysis="Pass")
    assert held.state == at(1, 100) and held.stable_serves == 1 and held.service_track == PREVIEW
    rolling = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(1, 100), now=131, analysis="Pass")
    assert rolling.phase == "Promoting" and rolling.state.current_step == 2
    assert (rolling.stable_serves, rolling.canary_serves, rolling.service_track) == (2, 2, PREVIEW)
    still = decide_bluegreen(target=2, total=3, settings=AUTO, state=rolling.state, now=132, analysis=None,
                             stable_rolled_to=1)
    assert still.phase == "Promoting" and still.service_track == PREVIEW
    done = decide_bluegreen(target=2, total=3, settings=AUTO, state=rolling.state, now=140, analysis=None,
                            stable_rolled_to=2)
    assert (done.phase, done.state, done.canary_serves, done.service_track) == (
        "Promoted", RolloutState(stable_version=2), None, "stable")


def test_analysis_failure_in_preview_or_after_the_switch_switches_back() -> None:
    for step in (0, 1):
        p = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(step), now=110, analysis="Abort",
                             analysis_message="errors=1 (Fail, 40 samples)")
        assert (p.phase, p.state) == ("Aborted", RolloutState(stable_version=1, aborted_version=2))
        assert (p.stable_serves, p.canary_serves, p.service_track) == (1, None, "stable")
        assert p.rollback is not None and p.rollback.reason == "AnalysisFailed" and "errors=1" in p.rollback.message
    again = decide_bluegreen(target=2, total=3, settings=AUTO, state=p.state, now=200, analysis=None)
    assert (again.phase, again.events) == ("Aborted", ())
    retried = decide_bluegreen(target=2, total=3, settings=AUTO, state=p.state, now=200, analysis=None, retry=True)
    assert retried.state == at(0, 200)


def test_manual_rollback_switches_back_and_resume_from_status_is_stable() -> None:
    p = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(1), now=110, analysis=None, rollback="now")
    assert (p.phase, p.service_track, p.canary_serves) == ("Aborted", "stable", None)
    assert p.rollback is not None and p.rollback.reason == "ManualRollback"
    for step in (0, 1, 2):  # a restarted operator: same status in, same plan out, no Event
        q = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(step), now=105, analysis="Wait",
                             stable_rolled_to=1)
        assert q.state == at(step) and q.events == ()


def test_under_gateway_api_the_preview_is_the_canary_track_and_the_switch_moves_its_weight() -> None:
    p = decide_bluegreen(target=2, total=3, settings=AUTO, state=STABLE, now=100, analysis=None, track="canary")
    assert (p.canary_track, p.service_track, p.state.canary_weight) == ("canary", "stable", 0)
    s = decide_bluegreen(target=2, total=3, settings=AUTO, state=at(0), now=101, analysis=None, preview_ready=True,
                         track="canary")
    assert (s.canary_track, s.service_track, s.state.canary_weight) == ("canary", "canary", 100)
