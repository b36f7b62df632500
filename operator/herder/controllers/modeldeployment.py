"""ModelDeployment: resolve the model version (a number or an alias on the Model's status), then serve it —
a Deployment running ``herder serve``, a Service, a PodDisruptionBudget and, with autoscaling, an HPA.

This is the serving half; a version change currently rolls the stable Deployment in place (Kubernetes rolling
update, maxUnavailable 0, readiness-gated), with canary steps, analysis and rollback layered on in the rollout
work. A version that is missing or Rejected is a clear condition; the Deployment keeps serving what it serves.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from herder.api.annotations import PROMOTE, RETRY, ROLLBACK
from herder.api.common import MetricCheck, digest_hex, duration_ms, duration_seconds
from herder.api.deployment import ModelDeploymentSpec
from herder.controllers import children, lookups, traffic
from herder.controllers.conditions import Cond, now_rfc3339
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.modelversion import versions_of
from herder.controllers.scaffold import Outcome, parse_spec_as
from herder.monitoring import sampling
from herder.policy.analysis import IntervalResult, evaluate, inconclusive, unmeasurable
from herder.policy.bluegreen import PREVIEW, PREVIEW_STEP, SWITCHED_STEP, BlueGreenSettings, decide_bluegreen
from herder.policy.monitoring import required_passes, watch
from herder.policy.rollout import Analysis, RolloutState, Step, decide
from herder.resources.common import Owner
from herder.resources.serving import (
    ModelRef,
    ServingParams,
    build_hpa,
    build_pdb,
    build_service,
    build_serving_deployment,
    deployment_name,
    selector_labels,
    service_name,
    split_replicas,
)
from herder.resources.traffic import gateway_replicas

TRACK = "stable"
CANARY = "canary"
HEALTHY = Cond("Degraded", "False", "Healthy", "no failed analysis")

INJECT_ERROR_RATE = "herder.dev/inject-error-rate"
"""TESTS AND DEMOS ONLY, on a ModelVersion: pods serving this version answer this fraction of inference requests
with 500 (HERDER_INJECT_ERROR_RATE of ``herder serve``) -- a deliberately bad version for rollback tests."""
INJECT_LATENCY_MS = "herder.dev/inject-latency-ms"
"""TESTS AND DEMOS ONLY, on a ModelVersion: extra latency (HERDER_INJECT_LATENCY_MS) on every inference request."""
_INJECTIONS = ((INJECT_ERROR_RATE, "HERDER_INJECT_ERROR_RATE", 1.0), (INJECT_LATENCY_MS, "HERDER_INJECT_LATENCY_MS",
                                                                       60_000.0))

log = logging.getLogger("herder.operator")


def injected_env(mv: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The fault-injection environment a ModelVersion's test-only annotations ask for (invalid values ignored)."""
    annotations = mv.get("metadata", {}).get("annotations") or {}
    out = []
    for annotation, env, high in _INJECTIONS:
        raw = annotations.get(annotation)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if 0 <= value <= high:
            out.append((env, raw))
    return tuple(out)


def model_ref(model: str, mv: dict[str, Any]) -> ModelRef:
    art = mv["spec"]["artifact"]
    return ModelRef(model=model, version=int(mv["spec"]["version"]), artifact_uri=art["uri"],
                    sha256=digest_hex(art["digest"]), metadata_uri=art.get("metadataUri"),
                    format=art.get("format", "skops"))


def bluegreen_settings(spec: ModelDeploymentSpec) -> BlueGreenSettings | None:
    st = spec.strategy
    if st is None or st.type != "BlueGreen" or st.blue_green is None:
        return None
    bg = st.blue_green
    return BlueGreenSettings(bg.preview_replicas, bg.auto_promote, duration_seconds(bg.scale_down_delay))


def canary_steps(spec: ModelDeploymentSpec) -> list[Step] | None:
    """The canary steps, or None without a Canary strategy."""
    st = spec.strategy
    if st is None or st.type != "Canary" or st.canary is None:
        return None
    # a step without a pause holds for the analysis interval times the largest failureLimit (the API's default)
    default = (duration_seconds(spec.analysis.interval) * max(m.failure_limit for m in spec.analysis.metrics)
               if spec.analysis else None)
    return [Step(s.weight, duration_seconds(s.pause) if s.pause else default) for s in st.canary.steps]


def endpoint_url(meta: dict[str, Any], spec: ModelDeploymentSpec) -> str:
    return f"http://{meta['name']}.{meta['namespace']}.svc.cluster.local/v2/models/{spec.model.name}"


def summarize(metrics: list[dict[str, Any]]) -> str:
    """One line per analysis: name=value (verdict, samples) of each check as written on status."""
    return "; ".join(f"{m['name']}={m.get('value', 'no data')} ({m.get('verdict')}, {m.get('samples', 0)} samples)"
                     for m in metrics) or "no measurement yet"


def scrape_key(owner: Owner, purpose: str = "analysis") -> tuple[str, str, str]:
    """Where the previous scrape of a ModelDeployment's pods is remembered: analysis (canary) or monitoring."""
    return (owner.namespace, owner.name, purpose)


def without_time(metric: dict[str, Any]) -> dict[str, Any]:
    """A status metric without measuredAt: an identical later measurement is not worth a status write."""
    return {k: v for k, v in metric.items() if k != "measuredAt"}


def check_problems(checks: list[MetricCheck], field: str, prometheus_url: str | None) -> list[str]:
    """Checks that can never be measured here, each naming its field: a builtin metric rollouts cannot measure
    yet, or a Prometheus check while the operator has no Prometheus URL."""
    out = unmeasurable(checks, field)
    if not prometheus_url:
        out += [f"{field}[{i}] (check {c.name!r}): provider Prometheus, but the operator has no Prometheus URL "
                f"(operator flag --prometheus-url, chart value prometheus.url)"
                for i, c in enumerate(checks) if c.provider == "Prometheus"]
    return out


@dataclass(frozen=True)
class Requests:
    """Request annotations with a value not handled yet (None: no new request)."""

    promote: str | None = None
    retry: str | None = None
    rollback: str | None = None


def pending_requests(meta: dict[str, Any], status: dict[str, Any]) -> Requests:
    """The request annotations whose value differs from the one recorded in status.handledRequests: a new value is
    a new request (herder.api.annotations), so each acts once, also across operator restarts."""
    annotations = meta.get("annotations") or {}
    handled = status.get("handledRequests") or {}

    def new(name: str, key: str) -> str | None:
        value = annotations.get(key)
        return value if value and value != handled.get(name) else None

    return Requests(new("promote", PROMOTE), new("retry", RETRY), new("rollback", ROLLBACK))


def format_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def trusted_types() -> tuple[str, ...]:
    """The vetted skops types of the allowlisted estimators (imported lazily: it pulls in scikit-learn)."""
    from herder.training.estimators import TRUSTED_TYPES

    return TRUSTED_TYPES


def deployment_ready(dep: dict[str, Any], replicas: int) -> tuple[bool, int]:
    st = dep.get("status") or {}
    ready = int(st.get("readyReplicas") or 0)
    rolled = (st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0)
              and int(st.get("updatedReplicas") or 0) >= replicas and ready >= replicas
              and int(st.get("replicas") or 0) == replicas)
    return rolled, ready


class ModelDeploymentController:
    kind = "ModelDeployment"
    plural = "modeldeployments"

    def parse(self, body: dict[str, Any]) -> ModelDeploymentSpec:
        return parse_spec_as(self.kind, body, ModelDeploymentSpec)

    def reconcile(self, spec: ModelDeploymentSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        meta = body["metadata"]
        ns = meta["namespace"]
        latest = ctx.store.get(ObjKey(self.kind, ns, meta["name"]))
        if latest is not None and latest is not body:
            # This reconcile read its body before queueing on the object's lock behind another one, which has
            # since written status (or the watch delivered a newer body). Acting on -- or writing status against --
            # the older status would repeat a rollout transition (start a step again, re-create an aborted canary)
            # or put old conditions back. So continue with the latest body, updated in place because the scaffold
            # compares and patches against the dict it handed us (no one else holds it: the store has moved on).
            body.clear()
            body.update(copy.deepcopy(latest))
            meta = body["metadata"]
            spec = self.parse(body)
        model_key = ObjKey("Model", ns, spec.model.name)
        model_body = ctx.store.get(model_key)
        versions = versions_of(ctx, ns, spec.model.name)
        deps = {model_key} | {ObjKey("ModelVersion", ns, b["metadata"]["name"]) for b in versions.values()}
        if model_body is None:
            c = lookups.missing("Model", spec.model.name, ns, "spec.model.name")
            return Outcome([c, Cond("Ready", "False", c.reason, c.message)], depends_on=deps,
                           requeue_after=ctx.config.missing_reference_retry_seconds)
        ok = lookups.resolved()
        if spec.model.version is not None:
            version: int | None = spec.model.version
            how = f"version {version}"
        else:
            alias = spec.model.alias or "production"
            version = ((model_body.get("status") or {}).get("aliases") or {}).get(alias)
            how = f"alias {alias!r}"
            if version is None:
                return Outcome([ok, Cond("Ready", "False", "AliasNotSet",
                                         f"Model {spec.model.name!r} has no {alias} version yet")], depends_on=deps)
        assert version is not None
        mv = versions.get(version)
        problem: Cond | None = None
        if mv is None:
            problem = Cond("Ready", "False", "VersionNotFound",
                           f"Model {spec.model.name!r} has no version {version} ({how})")
        elif lookups.is_true(mv, "Rejected"):
            why = (lookups.condition(mv, "Rejected") or {}).get("message", "")
            problem = Cond("Ready", "False", "VersionRejected",
                           f"version {version} of Model {spec.model.name!r} was rejected: {why}")
        if problem is not None:
            serving = (body.get("status") or {}).get("stableVersion")
            if serving is not None and serving in versions and serving != version:
                # the version already serving keeps serving: Ready follows it, Progressing says why nothing rolls
                owner = Owner.from_body(self.kind, body)
                live = children.read(ctx, "Deployment", deployment_name(owner, TRACK), ns)
                return self.hold(spec, body, ctx, owner=owner, live_stable=live, ok=ok, deps=deps,
                                 fields={"resolvedVersion": version}, events=[], reason=problem.reason,
                                 message=f"{problem.message}; version {serving} keeps serving")
            return Outcome([ok, problem], depends_on=deps, fields={"resolvedVersion": version})
        assert mv is not None
        if not (body.get("status") or {}).get("stable") and (problem := lookups.storage_missing(ctx, ns)) is not None:
            return Outcome([ok, problem], depends_on=deps, requeue_after=ctx.config.missing_reference_retry_seconds)
        owner = Owner.from_body(self.kind, body)
        res = spec.resources
        base_params = ServingParams(
            image=ctx.config.herder_image, storage=lookups.storage(ctx),
            requests={k: str(v) for k, v in ((res.requests if res else None) or {}).items()},
            limits={k: str(v) for k, v in ((res.limits if res else None) or {}).items()},
            max_batch_size=spec.batching.max_batch_size if spec.batching else 1,
            max_batch_wait_ms=max(1, duration_ms(spec.batching.max_wait)) if spec.batching else 2,
            trusted_types=trusted_types(),
        )
        replicas = spec.autoscaling.min_replicas if spec.autoscaling else (
            spec.replicas if spec.replicas is not None else 1)
        status = body.get("status") or {}
        stable_version = status.get("stableVersion")
        steps = canary_steps(spec)
        if stable_version is not None and stable_version in versions:
            return self.rollout(spec, body, ctx, owner=owner, versions=versions, target=version, steps=steps or [],
                                bluegreen=bluegreen_settings(spec), total=replicas, base_params=base_params, ok=ok,
                                deps=deps)
        ref = model_ref(spec.model.name, mv)
        params = replace(base_params, env=injected_env(mv))
        try:
            events: list[tuple[str, str, str]] = traffic.route(ctx, owner, spec, stable_version=version,
                                                               canary_version=None, canary_weight=0)
        except traffic.TrafficRoutingError as e:
            return Outcome([ok, e.condition("Ready")], depends_on=deps,
                           requeue_after=ctx.config.missing_reference_retry_seconds)
        events += self.unroute_if_changed(ctx, spec, owner, body)
        desired = build_serving_deployment(owner, TRACK, ref, replicas, params)
        if spec.autoscaling:
            del desired["spec"]["replicas"]  # the HPA owns it
        dep, action = children.ensure(ctx, self.kind, desired)
        if action != "unchanged":
            events.append(("Normal", "DeploymentUpdated" if action == "updated" else "DeploymentCreated",
                           f"{action} Deployment {deployment_name(owner, TRACK)} serving version {version}"))
        self.ensure_shared(ctx, spec, owner, replicas, service_track=TRACK if bluegreen_settings(spec) else None)
        leftovers = self.remove_canary(ctx, owner, status)
        want = int((dep.get("spec") or {}).get("replicas") or replicas)
        rolled, ready = deployment_ready(dep, want)
        status_fields: dict[str, Any] = {
            "url": endpoint_url(meta, spec), "resolvedVersion": version,
            "stable": {"version": version, "replicas": want, "readyReplicas": ready}, **leftovers,
        }
        if rolled:
            status_fields.update(stableVersion=version, lastKnownGoodVersion=version)
            conds = [ok, Cond("Progressing", "False", "Stable", f"serving version {version}"),
                     Cond("Ready", "True", "Serving", f"{ready}/{want} replicas serve version {version}")]
        else:
            prev = status.get("stableVersion")
            conds = [ok, Cond("Progressing", "True", "RollingOut", f"{ready}/{want} replicas ready for version "
                                                                    f"{version}"),
                     Cond("Ready", "True" if prev and ready else "False",
                          "Serving" if prev and ready else "Progressing",
                          f"rolling out version {version}: {ready}/{want} ready")]
        if steps is not None:
            conds.append(HEALTHY)
        return Outcome(conds, fields=status_fields, depends_on=deps, events=events,
                       requeue_after=None if rolled else 5.0)

    def ensure_shared(self, ctx: OperatorContext, spec: ModelDeploymentSpec, owner: Owner, replicas: int, *,
                      service_track: str | None = None) -> None:
        """The Service (selecting every track, or only ``service_track``: blue/green), the PodDisruptionBudget and
        the HPA."""
        service = build_service(owner)
        if service_track is not None:
            service["spec"]["selector"] = selector_labels(owner, service_track)
        children.ensure(ctx, self.kind, service)
        if replicas > 1 or spec.autoscaling:
            children.ensure(ctx, self.kind, build_pdb(owner))
        if spec.autoscaling:
            a = spec.autoscaling
            children.ensure(ctx, self.kind, build_hpa(owner, TRACK, a.min_replicas, a.max_replicas,
                                                      a.target_cpu_utilization))

    def remove_canary(self, ctx: OperatorContext, owner: Owner, status: dict[str, Any]) -> dict[str, Any]:
        """Delete the canary Deployment if status says one runs (so a quiet object makes no API call for it);
        returns the status fields that clear the canary."""
        if status.get("canary") is None and status.get("canaryVersion") is None:
            return {}
        children.delete(ctx, self.kind, "Deployment", deployment_name(owner, CANARY), owner.namespace)
        ctx.scrapes.forget(scrape_key(owner))
        return {"canary": None, "canaryVersion": None, "canaryWeight": None, "currentStep": None,
                "stepStartedAt": None}

    def rollout(self, spec: ModelDeploymentSpec, body: dict[str, Any], ctx: OperatorContext, *, owner: Owner,
                versions: dict[int, dict[str, Any]], target: int, steps: list[Step],
                bluegreen: BlueGreenSettings | None, total: int, base_params: ServingParams, ok: Cond,
                deps: set[ObjKey]) -> Outcome:
        """A rollout of ``target`` beside the stable version (see herder.policy.rollout; no steps: in place;
        herder.policy.bluegreen), the request annotations, and monitoring of the stable version once no rollout is
        in progress."""
        meta = body["metadata"]
        status = body.get("status") or {}
        generation = meta.get("generation")
        state = RolloutState(
            stable_version=status.get("stableVersion"), canary_version=status.get("canaryVersion"),
            canary_weight=status.get("canaryWeight"), current_step=status.get("currentStep"),
            step_started_at=parse_time(status.get("stepStartedAt")), aborted_version=status.get("abortedVersion"))
        stable_before = state.stable_version
        assert stable_before is not None
        lkg: int | None = status.get("lastKnownGoodVersion")
        degraded = lookups.condition(body, "Degraded") or {}
        events: list[tuple[str, str, str]] = []
        fields: dict[str, Any] = {}
        now = time.time()
        req = pending_requests(meta, status)
        handled = dict(status.get("handledRequests") or {})
        in_progress = (state.canary_version == target and state.current_step is not None
                       and state.aborted_version != target)
        # Aborted stays aborted until the spec changes (a generation after the abort) or a new herder.dev/retry.
        aborted_generation = status.get("abortedGeneration", degraded.get("observedGeneration"))
        retry = state.aborted_version == target and (req.retry is not None or aborted_generation != generation)
        if req.retry is not None:
            handled["retry"] = req.retry
            events.append(("Normal", "RetryRequested", f"herder.dev/retry={req.retry!r}: rolling out version "
                                                       f"{target} again") if state.aborted_version == target else
                          ("Normal", "RequestIgnored", f"herder.dev/retry={req.retry!r}: version {target} was not "
                                                       f"aborted, nothing to retry"))
        promote = False
        if req.promote is not None and (not req.promote.isdigit() or (int(req.promote) == target and in_progress)):
            # a version number waits for that version's rollout; any other value is a request now or never
            promote = in_progress
            handled["promote"] = req.promote
            if not in_progress:
                events.append(("Normal", "RequestIgnored", f"herder.dev/promote={req.promote!r}: no rollout in "
                                                           f"progress"))
        manual_abort: str | None = None
        stable_rollback: tuple[int, str, str] | None = None
        if req.rollback is not None:
            handled["rollback"] = req.rollback
            if in_progress:
                manual_abort = req.rollback
            elif target == stable_before and lkg is not None and lkg != stable_before and lkg in versions:
                stable_rollback = (lkg, "ManualRollback",
                                   f"rolled back from version {stable_before} to the last known-good version {lkg} "
                                   f"on the herder.dev/rollback annotation ({req.rollback!r})")
            else:
                events.append(("Warning", "RequestIgnored",
                               f"herder.dev/rollback={req.rollback!r}: nothing to roll back to (stable version "
                               f"{stable_before}, last known-good version {lkg})"))
        fields["handledRequests"] = handled or None

        stable_name = deployment_name(owner, TRACK)
        live_stable = children.read(ctx, "Deployment", stable_name, owner.namespace)
        stable_rolled_to = None
        if live_stable is not None:
            want = int((live_stable.get("spec") or {}).get("replicas") or 0)
            if deployment_ready(live_stable, want)[0]:
                stable_rolled_to = int(live_stable["metadata"].get("labels", {}).get("herder.dev/model-version", 0))

        # a check nobody can measure would hold a rollout forever: refuse to start one (the stable version serves)
        problems = check_problems(spec.analysis.metrics, "spec.analysis.metrics",
                                  ctx.config.prometheus_url) if spec.analysis else []
        reason = "AnalysisNotPossible"
        if problems and not in_progress and target not in (stable_before, state.aborted_version):
            return self.hold(spec, body, ctx, owner=owner, live_stable=live_stable, ok=ok, deps=deps,
                             fields=fields, events=events, reason=reason,
                             message=f"version {target} is not rolled out: " + "; ".join(problems))

        # monitoring of the stable version, when no rollout is in progress
        monitor_cond: Cond | None = None
        requeue_monitor: float | None = None
        quiet = state.canary_version is None and stable_rolled_to == stable_before and stable_rollback is None and (
            target == stable_before or (state.aborted_version == target and not retry))
        if spec.monitoring is not None and quiet:
            mon = spec.monitoring
            mproblems = check_problems(mon.metrics, "spec.monitoring.metrics", ctx.config.prometheus_url)
            if mproblems:
                monitor_cond = Cond("Degraded", "True", "MonitoringNotPossible",
                                    "monitoring cannot run: " + "; ".join(mproblems))
            else:
                measured = self.monitor(ctx, spec, owner=owner, status=status, stable=stable_before)
                if isinstance(measured, float):
                    requeue_monitor = measured
                else:
                    requeue_monitor = duration_seconds(mon.interval)
                    result, wire = measured
                    stored = status.get("monitoringMetrics") or []
                    if [without_time(m) for m in wire] != [without_time(m) for m in stored]:
                        fields["monitoringMetrics"] = wire
                    w = watch(result, stable=stable_before, last_known_good=lkg,
                              passed_intervals=int(status.get("monitoringPassedIntervals") or 0),
                              required=required_passes([c.failure_limit for c in mon.metrics]),
                              on_breach=mon.on_breach if target == stable_before else "Alert")
                    fields["monitoringPassedIntervals"] = w.passed_intervals
                    fields["lastKnownGoodVersion"] = w.last_known_good
                    log.info("%s/%s: monitoring of version %s: %s (%s)", owner.namespace, owner.name,
                             stable_before, result.message, w.action)
                    if w.proven:
                        events.append(("Normal", "VersionProven", w.message))
                    if w.action == "Rollback" and w.rollback_to is not None and w.rollback_to in versions:
                        stable_rollback = (w.rollback_to, "MonitoringBreach", w.message)
                    elif w.action in ("Alert", "Rollback"):
                        monitor_cond = Cond("Degraded", "True", "MonitoringBreach", w.message)
                    elif result.decision == "Pass" and degraded.get("reason") == "MonitoringBreach":
                        monitor_cond = Cond("Degraded", "False", "Healthy",
                                            f"monitoring of version {stable_before} passed again: {result.message}")
        rollback_cond: Cond | None = None
        if stable_rollback is not None:
            to, reason, message = stable_rollback
            state = RolloutState(stable_version=to, aborted_version=stable_before)
            retry = False
            fields["lastRollback"] = {"from": stable_before, "to": to, "reason": reason, "message": message[:4000],
                                      "at": now_rfc3339()}
            fields["monitoringPassedIntervals"] = None
            fields["lastKnownGoodVersion"] = to
            rollback_cond = Cond("Degraded", "True", reason, message)  # with Progressing=False/RolledBack: two
            # Warning Events by the condition transitions (a promotion always precedes, so they are transitions)
            ctx.scrapes.forget(scrape_key(owner, "monitoring"))
            log.warning("%s/%s: %s", owner.namespace, owner.name, message)

        analysis: Analysis | None = None
        analysis_message = ""
        measured_steps = (PREVIEW_STEP, SWITCHED_STEP) if bluegreen else range(len(steps))
        in_step = (state.canary_version == target and state.current_step in measured_steps
                   and not (state.aborted_version == target and not retry))
        gateway = spec.traffic_routing is not None and spec.traffic_routing.type == "GatewayAPI"
        # under Gateway API the blue/green preview is the canary track: the HTTPRoute's canary backend selects it
        second_track = PREVIEW if bluegreen and not gateway else CANARY
        if spec.analysis is not None and (steps or bluegreen):
            analysis, analysis_message, metrics = self.analyse(ctx, spec, owner=owner, status=status, target=target,
                                                               state=state, now=now, in_step=in_step,
                                                               track=second_track)
            if metrics is not None:
                fields["analysisMetrics"] = metrics
        interval = duration_seconds(spec.analysis.interval) if spec.analysis else 30.0
        if bluegreen is not None:
            preview_ready = False
            if state.canary_version == target:
                live_preview = children.read(ctx, "Deployment", deployment_name(owner, second_track),
                                             owner.namespace)
                preview_ready = live_preview is not None and deployment_ready(
                    live_preview, bluegreen.preview_replicas or total)[0]
            plan = decide_bluegreen(target=target, total=total, settings=bluegreen, state=state, now=now,
                                    analysis=analysis, analysis_message=analysis_message, interval=interval,
                                    preview_ready=preview_ready, stable_rolled_to=stable_rolled_to, retry=retry,
                                    promote=promote, rollback=manual_abort, track=second_track)
        else:
            plan = decide(target=target, steps=steps, total=total, state=state, now=now, analysis=analysis,
                          analysis_message=analysis_message, interval=interval, stable_rolled_to=stable_rolled_to,
                          retry=retry, promote=promote, rollback=manual_abort,
                          split=gateway_replicas if gateway else split_replicas)

        def params_for(v: int) -> ServingParams:
            return replace(base_params, env=injected_env(versions[v]))

        try:  # Gateway API weights (a no-op without trafficRouting GatewayAPI); nothing advances when it fails
            routed = traffic.route(ctx, owner, spec, stable_version=plan.stable_serves,
                                   canary_version=plan.canary_serves, canary_weight=plan.state.canary_weight or 0)
        except traffic.TrafficRoutingError as e:
            return Outcome([ok, e.condition("Ready")], depends_on=deps,
                           requeue_after=ctx.config.missing_reference_retry_seconds)
        if promote and plan.state.current_step == state.current_step and plan.phase != "Aborted":
            handled = dict(status.get("handledRequests") or {}) | {k: v for k, v in handled.items() if k != "promote"}
            fields["handledRequests"] = handled or None  # not acted on yet (e.g. preview pods not ready): keep it
        events += plan.events
        events += routed
        events += self.unroute_if_changed(ctx, spec, owner, body)
        desired = build_serving_deployment(owner, TRACK, model_ref(spec.model.name, versions[plan.stable_serves]),
                                           plan.stable_replicas, params_for(plan.stable_serves))
        if spec.autoscaling:
            del desired["spec"]["replicas"]
        dep, action = children.ensure(ctx, self.kind, desired)
        if action != "unchanged":
            events.append(("Normal", "DeploymentUpdated" if action == "updated" else "DeploymentCreated",
                           f"{action} Deployment {stable_name}: version {plan.stable_serves}, "
                           f"{plan.stable_replicas} replica(s)"))
        self.ensure_shared(ctx, spec, owner, total, service_track=plan.service_track)
        s_want = int((dep.get("spec") or {}).get("replicas") or plan.stable_replicas)
        s_ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
        newly_aborted = plan.rollback is not None or stable_rollback is not None
        fields.update({
            "url": endpoint_url(meta, spec), "resolvedVersion": target,
            "stableVersion": plan.state.stable_version, "canaryVersion": plan.state.canary_version,
            "canaryWeight": plan.state.canary_weight, "currentStep": plan.state.current_step,
            "stepStartedAt": format_time(plan.state.step_started_at),
            "abortedVersion": plan.state.aborted_version,
            "abortedGeneration": None if plan.state.aborted_version is None else
            generation if newly_aborted else status.get("abortedGeneration", aborted_generation),
            "stable": {"version": plan.stable_serves, "replicas": s_want, "readyReplicas": s_ready},
        })
        c_ready = 0
        if plan.canary_serves is not None:
            track = plan.canary_track
            cdesired = build_serving_deployment(owner, track, model_ref(spec.model.name, versions[plan.canary_serves]),
                                                plan.canary_replicas, params_for(plan.canary_serves))
            cdep, caction = children.ensure(ctx, self.kind, cdesired)
            if caction != "unchanged":
                events.append(("Normal", f"{track.capitalize()}{caction.capitalize()}",
                               f"{caction} Deployment {deployment_name(owner, track)}: version "
                               f"{plan.canary_serves}, {plan.canary_replicas} replica(s)"))
            if track == PREVIEW:  # the preview's own Service, for test traffic before the switch
                children.ensure(ctx, self.kind, build_service(owner, PREVIEW))
            c_ready = int((cdep.get("status") or {}).get("readyReplicas") or 0)
            fields["canary"] = {"version": plan.canary_serves, "replicas": plan.canary_replicas,
                                "readyReplicas": c_ready}
        elif status.get("canary") is not None:
            for track in (CANARY, PREVIEW):  # whichever the strategy used (it may have changed meanwhile)
                if children.delete(ctx, self.kind, "Deployment", deployment_name(owner, track), owner.namespace):
                    events.append(("Normal", f"{track.capitalize()}Deleted",
                                   f"deleted Deployment {deployment_name(owner, track)}"))
            if bluegreen is not None:
                children.delete(ctx, self.kind, "Service", service_name(owner, PREVIEW), owner.namespace)
            ctx.scrapes.forget(scrape_key(owner))
            fields["canary"] = None
        if plan.phase == "Promoted":
            # without monitoring, completing the rollout is all a version can prove; with monitoring the previous
            # good version stays the rollback target until this one passed its probation (policy/monitoring.py)
            if spec.monitoring is None:
                fields["lastKnownGoodVersion"] = target
            else:
                fields["monitoringPassedIntervals"] = None
                ctx.scrapes.forget(scrape_key(owner, "monitoring"))
        if plan.rollback is not None:
            rb = plan.rollback
            fields["lastRollback"] = {"from": rb.from_version, "to": rb.to_version, "reason": rb.reason,
                                      "message": rb.message[:4000], "at": now_rfc3339()}
        ready_n = s_ready + c_ready
        ready = Cond("Ready", "True" if ready_n else "False", "Serving" if ready_n else "Progressing",
                     f"{s_ready} stable (version {plan.stable_serves}) + {c_ready} {plan.canary_track} replica(s) ready"
                     if plan.canary_serves is not None else
                     f"{s_ready}/{s_want} replicas serve version {plan.stable_serves}")
        conds = [ok, ready]
        if plan.phase in ("Progressing", "Promoting"):
            kind = "Paused" if plan.paused else "BlueGreenRollout" if bluegreen else "CanaryRollout" if steps else \
                "RollingOut"  # Paused: Argo CD shows the ModelDeployment as Suspended (waiting for a person)
            conds += [Cond("Progressing", "True", kind, plan.message), HEALTHY]
        elif plan.phase == "Aborted":
            if rollback_cond is not None:
                conds += [Cond("Progressing", "False", "RolledBack", rollback_cond.message), rollback_cond]
            else:
                conds.append(Cond("Progressing", "False", "Aborted", plan.message))
                if plan.rollback is not None:  # written once, at the abort
                    conds.append(Cond("Degraded", "True", plan.rollback.reason, plan.message))
                elif monitor_cond is not None and monitor_cond.status == "True":
                    conds.append(monitor_cond)
        else:
            rolled = stable_rolled_to == plan.stable_serves and action == "unchanged"
            conds.append(Cond("Progressing", "False" if rolled else "True", "Stable" if rolled else "RollingOut",
                              plan.message))
            if monitor_cond is not None:
                conds.append(monitor_cond)
            elif not (plan.phase == "Stable" and degraded.get("status") == "True"
                      and degraded.get("reason") == "MonitoringBreach"
                      and spec.monitoring is not None):
                conds.append(HEALTHY)  # an alert stays until monitoring passes again
        requeue = plan.requeue_after
        if requeue is None and stable_rolled_to != plan.stable_serves:
            requeue = 5.0
        if spec.monitoring is not None and plan.phase in ("Stable", "Aborted", "Promoted"):
            nxt = requeue_monitor if requeue_monitor is not None else duration_seconds(spec.monitoring.interval)
            requeue = nxt if requeue is None else min(requeue, nxt)
        return Outcome(conds, fields=fields, depends_on=deps, events=events, requeue_after=requeue)

    def unroute_if_changed(self, ctx: OperatorContext, spec: ModelDeploymentSpec, owner: Owner,
                           body: dict[str, Any]) -> list[tuple[str, str, str]]:
        """After a spec change away from Gateway API routing, remove the HTTPRoute and track Services an earlier
        spec had (route() makes no API call for Replicas routing, so it cannot notice them). Only on a spec change
        of an object reconciled before: a brand-new one never had a route, and a quiet one costs nothing."""
        if spec.traffic_routing is not None and spec.traffic_routing.type == "GatewayAPI":
            return []
        observed = (body.get("status") or {}).get("observedGeneration")
        if observed is None or observed == body["metadata"].get("generation"):
            return []
        return traffic.unroute(ctx, owner)

    def hold(self, spec: ModelDeploymentSpec, body: dict[str, Any], ctx: OperatorContext, *, owner: Owner,
             live_stable: dict[str, Any] | None, ok: Cond, deps: set[ObjKey], fields: dict[str, Any],
             events: list[tuple[str, str, str]], reason: str, message: str) -> Outcome:
        """Keep serving the stable version as it is and say why the target is not rolled out."""
        st = (live_stable or {}).get("status") or {}
        want = int(((live_stable or {}).get("spec") or {}).get("replicas") or 0)
        ready_n = int(st.get("readyReplicas") or 0)
        stable = (body.get("status") or {}).get("stableVersion")
        conds = [ok, Cond("Ready", "True" if ready_n else "False", "Serving" if ready_n else "Progressing",
                          f"{ready_n}/{want} replicas serve version {stable}"),
                 Cond("Progressing", "False", reason, message)]
        log.warning("%s/%s: %s", owner.namespace, owner.name, message)
        return Outcome(conds, fields=fields, depends_on=deps, events=events)

    def monitor(self, ctx: OperatorContext, spec: ModelDeploymentSpec, *, owner: Owner, status: dict[str, Any],
                stable: int) -> tuple[IntervalResult, list[dict[str, Any]]] | float:
        """One monitoring interval of the stable version's pods: (result, metrics for status), or the seconds until
        the next measurement is due (no measurement: the interval has not elapsed, or this was the baseline scrape
        after a promotion or an operator restart -- not a measurement, so nothing is written)."""
        assert spec.monitoring is not None
        checks = spec.monitoring.metrics
        interval = duration_seconds(spec.monitoring.interval)
        key = scrape_key(owner, "monitoring")
        previous = ctx.scrapes.get(key, stable)
        mono = time.monotonic()
        if not sampling.is_due(previous, mono, interval):
            assert previous is not None
            return float(max(0.5, sampling.wait(previous, mono, interval)))
        previous, current = sampling.take(ctx.scrapes, key, stable, sampling.pod_targets(
            ctx.clients.core, owner.namespace, owner.name, TRACK, stable))
        if previous is None:
            return float(interval)
        failures = sampling.failures_of(status.get("monitoringMetrics"), stable)
        result = evaluate(checks, sampling.measure_checks(
            checks, previous, current, prometheus_url=ctx.config.prometheus_url, namespace=owner.namespace,
            deployment=owner.name, version=stable), failures)
        if current.unreachable:
            result = replace(result, message=result.message + sampling.unreachable_note(current))
        return result, sampling.wire(result.checks, now_rfc3339(), stable)

    def analyse(self, ctx: OperatorContext, spec: ModelDeploymentSpec, *, owner: Owner, status: dict[str, Any],
                target: int, state: RolloutState, now: float, in_step: bool, track: str = CANARY
                ) -> tuple[Analysis | None, str, list[dict[str, Any]] | None]:
        """(verdict for the current step, message, new analysisMetrics for status or None when not measured).

        A measurement is taken at most once per interval (two scrapes of the canary pods); between measurements
        the latest one on status speaks for the step — it counts only if taken after the step started."""
        assert spec.analysis is not None
        checks = spec.analysis.metrics
        interval = duration_seconds(spec.analysis.interval)
        if not in_step:
            return "Wait", "", None
        key = scrape_key(owner)
        previous = ctx.scrapes.get(key, target)
        mono = time.monotonic()
        stored = sampling.of_version(status.get("analysisMetrics"), target)
        if not sampling.is_due(previous, mono, interval):
            started = state.step_started_at or now
            fresh = [m for m in stored if (parse_time(m.get("measuredAt")) or 0) > started]
            names = {c.name for c in checks}
            if {m["name"] for m in fresh} >= names and all(m.get("verdict") == "Pass" for m in fresh
                                                          if m["name"] in names):
                return "Pass", "", None
            return "Wait", summarize(stored), None
        previous, current = sampling.take(ctx.scrapes, key, target, sampling.pod_targets(
            ctx.clients.core, owner.namespace, owner.name, track, target))
        failures = sampling.failures_of(stored, target)
        if previous is None:
            result = inconclusive(checks, failures, "first measurement of this rollout in this operator process: "
                                                    "baseline scrape taken")
        else:
            result = evaluate(checks, sampling.measure_checks(
                checks, previous, current, prometheus_url=ctx.config.prometheus_url, namespace=owner.namespace,
                deployment=owner.name, version=target), failures)
        wire = sampling.wire(result.checks, now_rfc3339(), target)
        message = result.message + sampling.unreachable_note(current)
        log.info("%s/%s: analysis of version %s: %s", owner.namespace, owner.name, target, message)
        # the same summary whether or not this reconcile measured: a condition message that alternated between
        # two texts would be a status write on every reconcile
        return result.decision, message if result.decision == "Abort" else summarize(wire), wire
