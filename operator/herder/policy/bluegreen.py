"""The blue/green rollout state machine, as one pure function beside the canary one (herder.policy.rollout), with
the same inputs from status and the same Plan out, so the controller, the request annotations, the abort record
and monitoring are shared.

Deployments keep fixed names: ``<name>-stable`` serves the current version and ``<name>-preview`` the new one
(``<name>-canary`` under Gateway API routing: the HTTPRoute's second backend, weight 0 before the switch and 100
after, is the canary track's Service); the ModelDeployment's Service selects exactly one track. Steps
(``currentStep`` on status; ``canaryVersion`` is the preview version, ``canaryWeight`` its share of the traffic:
0 or 100):

- 0, preview: the new version at ``previewReplicas`` (the stable count when omitted) in the preview Deployment,
  which the Service does NOT select (the ``<name>-preview`` Service does, for test traffic); analysis scrapes the
  preview pods. Once they are all ready and analysis passed (or there is none) the traffic switches with
  ``autoPromote``; the herder.dev/promote annotation switches as soon as the preview pods are ready;
- 1, switched: the Service selects the preview pods; the old version keeps running, untouched, for
  ``scaleDownDelay`` (a rollback now is just switching back); analysis keeps running on the preview pods, which now
  take real traffic;
- 2, promoting: the stable Deployment rolls to the new version at full size (the Service still on the preview
  pods); once it has rolled the Service selects the stable track again and the preview Deployment is deleted.

Why roll the stable track instead of alternating colours: every other part of Herder (monitoring, the HPA, the
printer columns, Argo CD health) knows the stable Deployment by its fixed name; the cost is one extra rolling update
between pods of the same version, after the old version has had its scaleDownDelay.

An analysis failure or a manual rollback at step 0 or 1 switches back (the old version never stopped) and deletes
the preview: Aborted, exactly as for a canary.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from herder.policy.rollout import Analysis, Phase, Plan, Rollback, RolloutState

PREVIEW = "preview"
STABLE = "stable"
PREVIEW_STEP, SWITCHED_STEP, PROMOTING_STEP = 0, 1, 2


@dataclass(frozen=True)
class BlueGreenSettings:
    preview_replicas: int | None
    auto_promote: bool
    scale_down_delay: float
    """Seconds."""


def decide_bluegreen(*, target: int, total: int, settings: BlueGreenSettings, state: RolloutState, now: float,
                     analysis: Analysis | None, analysis_message: str = "", interval: float = 30.0,
                     preview_ready: bool = False, stable_rolled_to: int | None = None, retry: bool = False,
                     promote: bool = False, rollback: str | None = None, track: str = PREVIEW) -> Plan:
    """The next step of a blue/green rollout of ``target`` (see the module doc; inputs as for
    herder.policy.rollout.decide; ``preview_ready``: every preview replica is ready; ``track``: the preview's track,
    ``canary`` under Gateway API routing, whose canary backend Service selects that track)."""
    s = state
    stable = s.stable_version
    preview_n = settings.preview_replicas or total

    def plan(phase: Phase, st: RolloutState, message: str, *, stable_serves: int | None = None,
             preview: bool = False, service: str = STABLE, requeue: float | None = None,
             rb: Rollback | None = None, events: tuple[tuple[str, str, str], ...] = (), paused: bool = False
             ) -> Plan:
        serves = stable if stable_serves is None else stable_serves
        assert serves is not None
        return Plan(phase, st, serves, total, target if preview else None, preview_n if preview else 0, message,
                    requeue_after=requeue, rollback=rb, events=events, canary_track=track, service_track=service,
                    paused=paused)

    if stable is None:
        return plan("Initial", RolloutState(), f"deploying version {target}", stable_serves=target)
    if target == stable:
        events: tuple[tuple[str, str, str], ...] = ()
        if s.canary_version is not None:
            events = (("Normal", "RolloutCancelled",
                       f"the spec is back at stable version {stable}: preview of version {s.canary_version} "
                       f"removed"),)
        return plan("Stable", RolloutState(stable_version=stable), f"serving version {stable}", events=events)
    if s.aborted_version == target and not retry:
        return plan("Aborted", replace(s, canary_version=None, canary_weight=None, current_step=None,
                                       step_started_at=None),
                    f"rollout of version {target} was aborted; serving version {stable} (change the spec or the "
                    f"herder.dev/retry annotation to try again)")
    in_progress = s.canary_version == target and s.current_step is not None and s.step_started_at is not None
    if not in_progress:
        st = RolloutState(stable_version=stable, canary_version=target, canary_weight=0, current_step=PREVIEW_STEP,
                          step_started_at=now)
        return plan("Progressing", st, f"blue/green: previewing version {target} at {preview_n} replica(s)",
                    preview=True, requeue=2.0,
                    events=(("Normal", "RolloutStarted",
                             f"rolling out version {target} blue/green: preview at {preview_n} replica(s), stable "
                             f"version {stable} keeps all traffic"),))
    step = s.current_step
    assert step is not None
    assert s.step_started_at is not None
    where = {PREVIEW_STEP: "in preview", SWITCHED_STEP: "after the switch"}.get(step, "while promoting")
    if rollback is not None or (analysis == "Abort" and step in (PREVIEW_STEP, SWITCHED_STEP)):
        reason = "ManualRollback" if rollback is not None else "AnalysisFailed"
        why = (f"on the herder.dev/rollback annotation ({rollback!r})" if rollback is not None else
               f"analysis failed: {analysis_message}")
        message = f"blue/green rollout of version {target} aborted {where}, {why}; serving version {stable}"
        return plan("Aborted", RolloutState(stable_version=stable, aborted_version=target), message,
                    rb=Rollback(target, stable, reason, message),
                    events=(("Warning", "RolloutAborted", message),))
    if step == PREVIEW_STEP:
        passed = analysis is None or analysis == "Pass"
        if preview_ready and ((passed and settings.auto_promote) or promote):  # promote: "switch now", as it
            # skips the remaining steps of a canary (an analysis failure still aborts, above)
            st = replace(s, canary_weight=100, current_step=SWITCHED_STEP, step_started_at=now)
            how = "on the herder.dev/promote annotation" if promote and not settings.auto_promote else \
                "automatically"
            return plan("Progressing", st, f"blue/green: traffic switched to version {target}; version {stable} "
                                           f"kept for the {settings.scale_down_delay:g}s scale-down delay",
                        preview=True, service=track, requeue=max(0.5, settings.scale_down_delay),
                        events=(("Normal", "TrafficSwitched",
                                 f"traffic switched {how} from version {stable} to the preview of version "
                                 f"{target}"),))
        waiting = [] if preview_ready else ["the preview replicas to be ready"]
        if not passed:
            waiting.append(analysis_message or "analysis has not passed yet")
        paused = not waiting and not settings.auto_promote
        if paused:
            waiting.append("the herder.dev/promote annotation (autoPromote is false)")
        return plan("Progressing", s, f"blue/green: previewing version {target}, waiting for " + "; ".join(waiting),
                    preview=True, requeue=interval if analysis is not None else 2.0, paused=paused)
    if step == SWITCHED_STEP:
        elapsed = now - s.step_started_at
        if elapsed >= settings.scale_down_delay:
            st = replace(s, current_step=PROMOTING_STEP, step_started_at=now)
            return plan("Promoting", st, f"blue/green: rolling the stable track to version {target}",
                        stable_serves=target, preview=True, service=track, requeue=2.0,
                        events=(("Normal", "RolloutPromoting",
                                 f"version {target} served for the scale-down delay: version {stable} is "
                                 f"replaced"),))
        return plan("Progressing", s, f"blue/green: traffic on version {target}; version {stable} kept for the "
                                      f"{settings.scale_down_delay:g}s scale-down delay",
                    preview=True, service=track,
                    requeue=min(interval, max(0.5, settings.scale_down_delay - elapsed)))
    if stable_rolled_to == target:
        return plan("Promoted", RolloutState(stable_version=target), f"version {target} promoted to stable",
                    stable_serves=target,
                    events=(("Normal", "RolloutPromoted",
                             f"version {target} promoted: the stable track serves it, preview removed"),))
    return plan("Promoting", s, f"blue/green: rolling the stable track to version {target}", stable_serves=target,
                preview=True, service=track, requeue=2.0)
