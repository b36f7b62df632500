"""ModelDeployment: resolve the model version (a number or an alias on the Model's status), then serve it —
a Deployment running ``herder serve`` per track (stable; canary or preview during a rollout), a Service, a
PodDisruptionBudget and, with autoscaling, an HPA; with Gateway API routing also an HTTPRoute.

The reconcile reads as named steps (cloudnative-pg's cluster controller is the model):

1. :meth:`~ModelDeploymentController.resolve` the version -- a missing Model, version or artifact store waits
   (a condition naming it, looked at again soon), a Rejected version keeps the stable one serving;
2. :meth:`~ModelDeploymentController.gather` the inputs -- the request annotations (herder.policy.deployment),
   the live stable Deployment, one monitoring interval of the stable version and one analysis interval of the
   rollout (herder.monitoring.sampling), the preview's readiness;
3. one pure decision, :func:`herder.policy.deployment.plan_rollout` -- the first deployment is the machines'
   Initial phase, not a path of its own;
4. :meth:`~ModelDeploymentController.apply` the plan -- routing, the Deployments, Service, PDB and HPA;
5. the status from the plan, :func:`herder.policy.deployment_status.deployment_status` (pure).

Status is read once, before step 1, into the typed :class:`~herder.api.deployment.ModelDeploymentStatus`
(:meth:`~ModelDeploymentController.previous_status`: a field that does not parse counts as absent and is removed,
with a Warning Event, instead of failing every reconcile), and written once, as the typed patch the steps built,
serialised with ``wire()`` here at the edge.

A version that is missing or Rejected is a clear condition; the Deployment keeps serving what it serves.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from herder.api.common import MetricCheck, MetricValue, digest_hex, duration_ms, duration_seconds
from herder.api.deployment import ModelDeploymentSpec, ModelDeploymentStatus
from herder.api.modelversion import Artifact
from herder.api.parsing import Salvaged, format_problems, salvage
from herder.controllers import children, lookups, traffic
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.modelversion import versions_of
from herder.controllers.scaffold import Outcome, missing_reference, parse_spec_as, waiting
from herder.monitoring import sampling
from herder.policy.analysis import IntervalResult, evaluate, inconclusive, unmeasurable
from herder.policy.bluegreen import PREVIEW, PREVIEW_STEP, SWITCHED_STEP, BlueGreenSettings
from herder.policy.conditions import Cond
from herder.policy.deployment import (
    Monitored,
    RolloutInputs,
    handled_requests,
    interpret,
    monitoring_verdict,
    pending_requests,
    plan_rollout,
    rolled_back,
    rollout_in_progress,
)
from herder.policy.deployment_status import (
    Context,
    Observed,
    degraded_generation,
    deployment_status,
    overlay,
    track,
)
from herder.policy.monitoring import required_passes, watch
from herder.policy.rollout import Analysis, Plan, RolloutState, Step
from herder.policy.serving_runtime import served_artifact
from herder.policy.timestamps import parse_rfc3339, rfc3339
from herder.resources.common import Owner
from herder.resources.serving import (
    ModelRef,
    PayloadLogParams,
    ServingParams,
    build_hpa,
    build_pdb,
    build_service,
    build_serving_deployment,
    deployment_name,
    selector_labels,
    service_name,
)

TRACK = "stable"
CANARY = "canary"

INJECT_ERROR_RATE = "herder.dev/inject-error-rate"
"""TESTS AND DEMOS ONLY, on a ModelVersion: pods serving this version answer this fraction of inference requests
with 500 (HERDER_INJECT_ERROR_RATE of ``herder serve``) -- a deliberately bad version for rollback tests."""
INJECT_LATENCY_MS = "herder.dev/inject-latency-ms"
"""TESTS AND DEMOS ONLY, on a ModelVersion: extra latency (HERDER_INJECT_LATENCY_MS) on every inference request."""
_INJECTIONS = ((INJECT_ERROR_RATE, "HERDER_INJECT_ERROR_RATE", 1.0), (INJECT_LATENCY_MS, "HERDER_INJECT_LATENCY_MS",
                                                                       60_000.0))

SCAFFOLD_FIELDS = frozenset({"conditions", "observedGeneration"})
"""Status fields the scaffold writes (conditions merged from the old ones): read typed here, never repaired here."""

log = logging.getLogger("herder.operator")
Event = tuple[str, str, str]


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


def model_ref(model: str, mv: dict[str, Any], runtime: str = "Auto") -> ModelRef:
    art = mv["spec"]["artifact"]
    served = served_artifact(Artifact.model_validate(art), runtime)
    return ModelRef(model=model, version=int(mv["spec"]["version"]), artifact_uri=served.uri,
                    sha256=digest_hex(served.digest), metadata_uri=art.get("metadataUri"), format=served.format)


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


def summarize(metrics: list[MetricValue]) -> str:
    """One line per analysis: name=value (verdict, samples) of each check as written on status."""
    return "; ".join(f"{m.name}={m.value if m.value is not None else 'no data'} ({m.verdict}, {m.samples or 0} "
                     f"samples)" for m in metrics) or "no measurement yet"


def scrape_key(owner: Owner, purpose: str = "analysis") -> tuple[str, str, str]:
    """Where the previous scrape of a ModelDeployment's pods is remembered: analysis (canary) or monitoring."""
    return (owner.namespace, owner.name, purpose)


def without_time(metric: MetricValue) -> dict[str, Any]:
    """A status metric as written, without measuredAt: an identical later measurement is not worth a status
    write."""
    return {k: v for k, v in metric.wire().items() if k != "measuredAt"}


def check_problems(checks: list[MetricCheck], field: str, prometheus_url: str | None) -> list[str]:
    """Checks that can never be measured here, each naming its field: a builtin metric rollouts cannot measure
    yet, or a Prometheus check while the operator has no Prometheus URL."""
    out = unmeasurable(checks, field)
    if not prometheus_url:
        out += [f"{field}[{i}] (check {c.name!r}): provider Prometheus, but the operator has no Prometheus URL "
                f"(operator flag --prometheus-url, chart value prometheus.url)"
                for i, c in enumerate(checks) if c.provider == "Prometheus"]
    return out


def parse_time(text: str | None) -> float | None:
    t = parse_rfc3339(text)
    return None if t is None else t.timestamp()


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


def rollout_state(status: ModelDeploymentStatus) -> RolloutState:
    """The rollout part of status (herder.policy.rollout keeps everything it needs there)."""
    return RolloutState(
        stable_version=status.stable_version, canary_version=status.canary_version,
        canary_weight=status.canary_weight, current_step=status.current_step,
        step_started_at=parse_time(status.step_started_at), aborted_version=status.aborted_version)


def rolled_version(live: dict[str, Any] | None) -> int | None:
    """The version a live Deployment has completely rolled out (None while rolling, or without one)."""
    if live is None:
        return None
    want = int((live.get("spec") or {}).get("replicas") or 0)
    if not deployment_ready(live, want)[0]:
        return None
    return int(live["metadata"].get("labels", {}).get("herder.dev/model-version", 0))


def ready_replicas(dep: dict[str, Any]) -> int:
    return int((dep.get("status") or {}).get("readyReplicas") or 0)


@dataclass(frozen=True)
class Resolved:
    """Step 1: the version to serve, and what was read to find it."""

    target: int
    versions: dict[int, dict[str, Any]]
    deps: set[ObjKey]
    ok: Cond
    """ReferencesResolved."""


@dataclass(frozen=True)
class Gathered:
    """Step 2: the decision's inputs and the status builder's context."""

    rollout: RolloutInputs
    context: Context
    events: list[Event]
    track: str
    """The second Deployment's track (canary; preview for blue/green without Gateway API)."""


class ModelDeploymentController:
    kind = "ModelDeployment"
    plural = "modeldeployments"

    def parse(self, body: dict[str, Any]) -> ModelDeploymentSpec:
        return parse_spec_as(self.kind, body, ModelDeploymentSpec)

    def reconcile(self, spec: ModelDeploymentSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        spec = self.latest(spec, body, ctx)
        before = self.previous_status(body)
        outcome = self.steps(spec, body, before.value, ctx)
        # what could not be read goes (a list keeps its readable entries), unless this reconcile wrote it anew
        repairs = {k: v for k, v in before.repairs.items() if k not in SCAFFOLD_FIELDS}
        if repairs:
            outcome.fields = {**repairs, **outcome.fields}
            outcome.events.append(("Warning", "StatusUnreadable",
                                   f"status.{', status.'.join(repairs)} could not be read: treated as absent and "
                                   f"removed (of a list, the entries that could not be read): "
                                   f"{format_problems(before.problems)}"))
        return outcome

    def steps(self, spec: ModelDeploymentSpec, body: dict[str, Any], status: ModelDeploymentStatus,
              ctx: OperatorContext) -> Outcome:
        """Steps 1 to 5 (the module doc), from the status before this reconcile."""
        resolved = self.resolve(spec, body, status, ctx)
        if isinstance(resolved, Outcome):
            return resolved
        owner = Owner.from_body(self.kind, body)
        gathered = self.gather(spec, body, status, ctx, owner=owner, r=resolved)
        if isinstance(gathered, Outcome):
            return gathered
        plan = plan_rollout(gathered.rollout)
        applied = self.apply(spec, body, status, ctx, owner=owner, r=resolved, g=gathered, plan=plan)
        if isinstance(applied, Outcome):
            return applied
        seen, events = applied
        update = deployment_status(gathered.context, plan, seen)
        return Outcome(update.conditions, fields=update.status.wire(), depends_on=resolved.deps,
                       events=[*gathered.events, *events], requeue_after=update.requeue_after)

    def previous_status(self, body: dict[str, Any]) -> Salvaged[ModelDeploymentStatus]:
        """The status before this reconcile, typed. It is the operator's own memory (an older operator's, or edited
        by hand): a field that does not parse costs that field -- treated as absent, then removed, with a Warning
        Event and log line naming it -- not every reconcile of the object (herder.api.parsing.salvage)."""
        read = salvage(ModelDeploymentStatus, body.get("status"))
        if read.problems:
            meta = body["metadata"]
            log.warning("%s/%s: unreadable status, treated as absent: %s", meta.get("namespace"), meta.get("name"),
                        format_problems(read.problems))
        return read

    # ---------------------------------------------------------------------------------------- 0. the latest body
    def latest(self, spec: ModelDeploymentSpec, body: dict[str, Any], ctx: OperatorContext) -> ModelDeploymentSpec:
        """The spec of the latest body of this object, which ``body`` becomes (see below)."""
        meta = body["metadata"]
        latest = ctx.store.get(ObjKey(self.kind, meta["namespace"], meta["name"]))
        if latest is None or latest is body:
            return spec
        # This reconcile read its body before queueing on the object's lock behind another one, which has since
        # written status (or the watch delivered a newer body). Acting on -- or writing status against -- the older
        # status would repeat a rollout transition (start a step again, re-create an aborted canary) or put old
        # conditions back. So continue with the latest body, updated in place because the scaffold compares and
        # patches against the dict it handed us (no one else holds it: the store has moved on).
        body.clear()
        body.update(copy.deepcopy(latest))
        return self.parse(body)

    # ---------------------------------------------------------------------------------------- 1. resolve
    def resolve(self, spec: ModelDeploymentSpec, body: dict[str, Any], status: ModelDeploymentStatus,
                ctx: OperatorContext) -> Resolved | Outcome:
        """The version to serve: spec.model.version, or the alias on the Model's status. Waits (an Outcome) while
        the Model, the version or the artifact store is missing; a Rejected version is refused."""
        ns = body["metadata"]["namespace"]
        model_key = ObjKey("Model", ns, spec.model.name)
        model_body = ctx.store.get(model_key)
        versions = versions_of(ctx, ns, spec.model.name)
        deps = {model_key} | {ObjKey("ModelVersion", ns, b["metadata"]["name"]) for b in versions.values()}
        if model_body is None:
            return missing_reference(ctx, "Model", spec.model.name, namespace=ns, field_path="spec.model.name",
                                     depends_on=deps)
        ok = lookups.resolved()
        alias = spec.model.alias or "production"
        version = spec.model.version if spec.model.version is not None else (
            (model_body.get("status") or {}).get("aliases") or {}).get(alias)
        if version is None:
            return Outcome([ok, Cond("Ready", "False", "AliasNotSet",
                                     f"Model {spec.model.name!r} has no {alias} version yet")], depends_on=deps)
        how = f"version {version}" if spec.model.version is not None else f"alias {alias!r}"
        problem = self.version_problem(spec, versions.get(version), version, how)
        if problem is not None:
            serving = status.stable_version
            resolved = ModelDeploymentStatus(resolved_version=version)
            if serving is not None and serving in versions and serving != version:
                # the version already serving keeps serving: Ready follows it, Progressing says why nothing rolls
                owner = Owner.from_body(self.kind, body)
                live = children.read(ctx, "Deployment", deployment_name(owner, TRACK), ns)
                return self.hold(status, owner=owner, live_stable=live, ok=ok, deps=deps, fields=resolved,
                                 events=[], reason=problem.reason,
                                 message=f"{problem.message}; version {serving} keeps serving")
            return Outcome([ok, problem], depends_on=deps, fields=resolved.wire())
        if status.stable is None and (problem := lookups.storage_missing(ctx, ns)) is not None:
            return waiting(ctx, [ok, problem], deps)
        return Resolved(version, versions, deps, ok)

    @staticmethod
    def version_problem(spec: ModelDeploymentSpec, mv: dict[str, Any] | None, version: int, how: str
                        ) -> Cond | None:
        """Ready=False when the version does not exist or was rejected by the promotion gate."""
        if mv is None:
            return Cond("Ready", "False", "VersionNotFound",
                        f"Model {spec.model.name!r} has no version {version} ({how})")
        if lookups.is_true(mv, "Rejected"):
            why = (lookups.condition(mv, "Rejected") or {}).get("message", "")
            return Cond("Ready", "False", "VersionRejected",
                        f"version {version} of Model {spec.model.name!r} was rejected: {why}")
        return None

    # ---------------------------------------------------------------------------------------- 2. gather inputs
    def gather(self, spec: ModelDeploymentSpec, body: dict[str, Any], status: ModelDeploymentStatus,
               ctx: OperatorContext, *, owner: Owner, r: Resolved) -> Gathered | Outcome:
        """The inputs of the rollout decision. Without a stable version (the first deployment, or one whose stable
        version no longer exists) there is nothing to measure or request yet: the machines' Initial phase."""
        meta = body["metadata"]
        state = rollout_state(status)
        steps, bluegreen = canary_steps(spec), bluegreen_settings(spec)
        gateway = spec.traffic_routing is not None and spec.traffic_routing.type == "GatewayAPI"
        # under Gateway API the blue/green preview is the canary track: the HTTPRoute's canary backend selects it
        track = PREVIEW if bluegreen and not gateway else CANARY
        inputs = RolloutInputs(
            target=r.target, total=spec.autoscaling.min_replicas if spec.autoscaling else (
                spec.replicas if spec.replicas is not None else 1),
            state=state, now=time.time(), steps=steps or [], bluegreen=bluegreen,
            interval=duration_seconds(spec.analysis.interval) if spec.analysis else 30.0, gateway=gateway,
            track=track)
        context = Context(spec=spec, status=status, generation=meta.get("generation"),
                          url=endpoint_url(meta, spec), target=r.target, ok=r.ok, state=state,
                          stable_before=state.stable_version, steps=steps, bluegreen=bluegreen is not None)
        if state.stable_version is None or state.stable_version not in r.versions:
            return Gathered(replace(inputs, state=replace(state, stable_version=None)), context, [], track)
        return self.gather_rollout(spec, body, status, ctx, owner=owner, r=r, g=Gathered(inputs, context, [], track))

    def gather_rollout(self, spec: ModelDeploymentSpec, body: dict[str, Any], status: ModelDeploymentStatus,
                       ctx: OperatorContext, *, owner: Owner, r: Resolved, g: Gathered) -> Gathered | Outcome:
        """Requests, the live stable track, monitoring (no rollout in progress) and analysis (a rollout)."""
        state, target = g.rollout.state, r.target
        stable = state.stable_version
        assert stable is not None
        lkg = status.last_known_good_version
        degraded = next((c for c in status.conditions or [] if c.type == "Degraded"), None)
        asked = interpret(pending_requests(body["metadata"], status.handled_requests), target=target, state=state,
                          handled=status.handled_requests,
                          aborted_generation=status.aborted_generation if status.aborted_generation is not None
                          else degraded_generation(status),
                          generation=g.context.generation, last_known_good=lkg, versions=r.versions,
                          last_rolled_back=status.last_rollback.from_ if status.last_rollback else None)
        live_stable = children.read(ctx, "Deployment", deployment_name(owner, TRACK), owner.namespace)
        stable_rolled_to = rolled_version(live_stable)
        # a check nobody can measure would hold a rollout forever: refuse to start one (the stable version serves)
        problems = check_problems(spec.analysis.metrics, "spec.analysis.metrics",
                                  ctx.config.prometheus_url) if spec.analysis else []
        if problems and not rollout_in_progress(state, target) and target not in (stable, state.aborted_version):
            return self.hold(status, owner=owner, live_stable=live_stable, ok=r.ok, deps=r.deps,
                             fields=ModelDeploymentStatus(handled_requests=handled_requests(asked, None, None, state)),
                             events=list(asked.events), reason="AnalysisNotPossible",
                             message=f"version {target} is not rolled out: " + "; ".join(problems))
        quiet = state.canary_version is None and stable_rolled_to == stable and asked.rollback is None and (
            target == stable or (state.aborted_version == target and not asked.retry))
        monitored = self.watch_stable(ctx, spec, owner=owner, status=status, stable=stable, target=target, lkg=lkg,
                                      degraded_reason=degraded.reason if degraded else None, versions=r.versions) \
            if spec.monitoring is not None and quiet else None
        events = list(asked.events)
        if monitored is not None and monitored.watch is not None and monitored.watch.proven:
            events.append(("Normal", "VersionProven", monitored.watch.message))
        rollback = asked.rollback or (monitored.rollback if monitored is not None else None)
        retry = asked.retry
        if rollback is not None:
            state, retry = rolled_back(state, rollback), False
            ctx.scrapes.forget(scrape_key(owner, "monitoring"))
            log.warning("%s/%s: %s", owner.namespace, owner.name, rollback.message)
        analysis, message, metrics = self.analysis(ctx, spec, owner=owner, status=status, g=g, state=state,
                                                   retry=retry)
        inputs = replace(g.rollout, state=state, analysis=analysis, analysis_message=message,
                         stable_rolled_to=stable_rolled_to, retry=retry, promote=asked.promote, abort=asked.abort,
                         preview_ready=self.preview_ready(ctx, owner, g, state))
        context = replace(g.context, state=state, interpreted=asked, monitored=monitored,
                          stable_rollback=rollback, analysis_metrics=metrics)
        return Gathered(inputs, context, events, g.track)

    def watch_stable(self, ctx: OperatorContext, spec: ModelDeploymentSpec, *, owner: Owner,
                     status: ModelDeploymentStatus,
                     stable: int, target: int, lkg: int | None, degraded_reason: str | None,
                     versions: dict[int, dict[str, Any]]) -> Monitored:
        """One monitoring interval of the stable version, and what it means (herder.policy.monitoring)."""
        mon = spec.monitoring
        assert mon is not None
        problems = check_problems(mon.metrics, "spec.monitoring.metrics", ctx.config.prometheus_url)
        if problems:
            return Monitored(condition=Cond("Degraded", "True", "MonitoringNotPossible",
                                            "monitoring cannot run: " + "; ".join(problems)))
        measured = self.monitor(ctx, spec, owner=owner, status=status, stable=stable)
        if isinstance(measured, float):
            return Monitored(requeue=measured)
        result, values = measured
        stored = status.monitoring_metrics or []
        changed = [without_time(m) for m in values] != [without_time(m) for m in stored]
        w = watch(result, stable=stable, last_known_good=lkg,
                  passed_intervals=status.monitoring_passed_intervals or 0,
                  required=required_passes([c.failure_limit for c in mon.metrics]),
                  on_breach=mon.on_breach if target == stable else "Alert")
        log.info("%s/%s: monitoring of version %s: %s (%s)", owner.namespace, owner.name, stable, result.message,
                 w.action)
        verdict = monitoring_verdict(result, w, stable=stable, versions=versions, degraded_reason=degraded_reason)
        return Monitored(requeue=duration_seconds(mon.interval), condition=verdict.condition,
                         metrics=values if changed else None, watch=w, rollback=verdict.rollback)

    def analysis(self, ctx: OperatorContext, spec: ModelDeploymentSpec, *, owner: Owner,
                 status: ModelDeploymentStatus, g: Gathered, state: RolloutState, retry: bool
                 ) -> tuple[Analysis | None, str, list[MetricValue] | None]:
        """The rollout's analysis in the current step (None without analysis or a strategy to analyse)."""
        target, bluegreen, steps = g.rollout.target, g.rollout.bluegreen, g.rollout.steps
        if spec.analysis is None or not (steps or bluegreen):
            return None, "", None
        measured_steps = (PREVIEW_STEP, SWITCHED_STEP) if bluegreen else range(len(steps))
        in_step = (state.canary_version == target and state.current_step in measured_steps
                   and not (state.aborted_version == target and not retry))
        return self.analyse(ctx, spec, owner=owner, status=status, target=target, state=state, now=g.rollout.now,
                            in_step=in_step, track=g.track)

    def preview_ready(self, ctx: OperatorContext, owner: Owner, g: Gathered, state: RolloutState) -> bool:
        """Every replica of the blue/green preview is ready (read only while previewing the target)."""
        bg = g.rollout.bluegreen
        if bg is None or state.canary_version != g.rollout.target:
            return False
        live = children.read(ctx, "Deployment", deployment_name(owner, g.track), owner.namespace)
        return live is not None and deployment_ready(live, bg.preview_replicas or g.rollout.total)[0]

    # ---------------------------------------------------------------------------------------- 4. apply the plan
    def apply(self, spec: ModelDeploymentSpec, body: dict[str, Any], status: ModelDeploymentStatus,
              ctx: OperatorContext, *, owner: Owner, r: Resolved, g: Gathered, plan: Plan
              ) -> tuple[Observed, list[Event]] | Outcome:
        """Routing first (nothing advances when it fails), then the stable Deployment, the shared children and the
        second track; what they look like afterwards."""
        try:  # Gateway API weights (a no-op without trafficRouting GatewayAPI)
            routed = traffic.route(ctx, owner, spec, stable_version=plan.stable_serves,
                                   canary_version=plan.canary_serves, canary_weight=plan.state.canary_weight or 0)
        except traffic.TrafficRoutingError as e:
            return waiting(ctx, [r.ok, e.condition("Ready")], r.deps)
        events = [*plan.events, *routed, *self.unroute_if_changed(spec, owner, body, status, ctx)]
        params = self.serving_params(spec, ctx)

        def deployment(track: str, version: int, replicas: int) -> dict[str, Any]:
            ref = model_ref(spec.model.name, r.versions[version], spec.runtime)
            return build_serving_deployment(owner, track, ref, replicas,
                                            replace(params, env=injected_env(r.versions[version])))

        desired = deployment(TRACK, plan.stable_serves, plan.stable_replicas)
        if spec.autoscaling:
            del desired["spec"]["replicas"]  # the HPA owns it
        dep, action = children.ensure(ctx, self.kind, desired)
        name = deployment_name(owner, TRACK)
        if action != "unchanged":
            events.append(("Normal", "DeploymentUpdated" if action == "updated" else "DeploymentCreated",
                           f"{action} Deployment {name} serving version {plan.stable_serves}"
                           if plan.phase == "Initial" else
                           f"{action} Deployment {name}: version {plan.stable_serves}, {plan.stable_replicas} "
                           f"replica(s)"))
        self.ensure_shared(ctx, spec, owner, g.rollout.total, service_track=plan.service_track)
        want = int((dep.get("spec") or {}).get("replicas") or plan.stable_replicas)
        stable = ModelDeploymentStatus(stable=track(plan.stable_serves, want, ready_replicas(dep)))
        if plan.phase == "Initial":
            rolled = deployment_ready(dep, want)[0]
            return Observed(want, ready_replicas(dep), plan.stable_serves if rolled else None,
                            children=overlay(stable, self.remove_canary(ctx, owner, status))), events
        if plan.phase == "Promoted" and spec.monitoring is not None:
            ctx.scrapes.forget(scrape_key(owner, "monitoring"))  # a new probation starts from a fresh scrape
        canary_ready, canary = self.apply_second_track(ctx, owner, plan, status, events,
                                                       deployment=deployment, bluegreen=g.rollout.bluegreen)
        return Observed(want, ready_replicas(dep), g.rollout.stable_rolled_to, action == "unchanged", canary_ready,
                        overlay(stable, canary)), events

    def apply_second_track(self, ctx: OperatorContext, owner: Owner, plan: Plan, status: ModelDeploymentStatus,
                           events: list[Event], *, deployment: Any, bluegreen: BlueGreenSettings | None
                           ) -> tuple[int, ModelDeploymentStatus]:
        """The canary (or preview) Deployment the plan wants, or its removal: (ready replicas, status fields)."""
        if plan.canary_serves is not None:
            second = plan.canary_track
            cdep, caction = children.ensure(ctx, self.kind, deployment(second, plan.canary_serves,
                                                                       plan.canary_replicas))
            if caction != "unchanged":
                events.append(("Normal", f"{second.capitalize()}{caction.capitalize()}",
                               f"{caction} Deployment {deployment_name(owner, second)}: version "
                               f"{plan.canary_serves}, {plan.canary_replicas} replica(s)"))
            if second == PREVIEW:  # the preview's own Service, for test traffic before the switch
                children.ensure(ctx, self.kind, build_service(owner, PREVIEW))
            ready = ready_replicas(cdep)
            return ready, ModelDeploymentStatus(canary=track(plan.canary_serves, plan.canary_replicas, ready))
        if status.canary is None:
            return 0, ModelDeploymentStatus()
        for gone in (CANARY, PREVIEW):  # whichever the strategy used (it may have changed meanwhile)
            if children.delete(ctx, self.kind, "Deployment", deployment_name(owner, gone), owner.namespace):
                events.append(("Normal", f"{gone.capitalize()}Deleted",
                               f"deleted Deployment {deployment_name(owner, gone)}"))
        if bluegreen is not None:
            children.delete(ctx, self.kind, "Service", service_name(owner, PREVIEW), owner.namespace)
        ctx.scrapes.forget(scrape_key(owner))
        return 0, ModelDeploymentStatus(canary=None)

    def serving_params(self, spec: ModelDeploymentSpec, ctx: OperatorContext) -> ServingParams:
        res = spec.resources
        return ServingParams(
            image=ctx.config.herder_image, storage=lookups.storage(ctx),
            requests={k: str(v) for k, v in ((res.requests if res else None) or {}).items()},
            limits={k: str(v) for k, v in ((res.limits if res else None) or {}).items()},
            max_batch_size=spec.batching.max_batch_size if spec.batching else 1,
            max_batch_wait_ms=max(1, duration_ms(spec.batching.max_wait)) if spec.batching else 2,
            trusted_types=trusted_types(),
            payload_log=None if spec.payload_log is None else PayloadLogParams(
                sample_fraction=spec.payload_log.sample_fraction,
                flush_seconds=duration_seconds(spec.payload_log.flush_interval),
                exclude=tuple(spec.payload_log.exclude or ())),
        )

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

    def remove_canary(self, ctx: OperatorContext, owner: Owner, status: ModelDeploymentStatus
                      ) -> ModelDeploymentStatus:
        """Delete the canary Deployment if status says one runs (so a quiet object makes no API call for it);
        returns the status fields that clear the canary."""
        if status.canary is None and status.canary_version is None:
            return ModelDeploymentStatus()
        children.delete(ctx, self.kind, "Deployment", deployment_name(owner, CANARY), owner.namespace)
        ctx.scrapes.forget(scrape_key(owner))
        return ModelDeploymentStatus(canary=None, canary_version=None, canary_weight=None, current_step=None,
                                     step_started_at=None)

    def unroute_if_changed(self, spec: ModelDeploymentSpec, owner: Owner, body: dict[str, Any],
                           status: ModelDeploymentStatus, ctx: OperatorContext) -> list[Event]:
        """After a spec change away from Gateway API routing, remove the HTTPRoute and track Services an earlier
        spec had (route() makes no API call for Replicas routing, so it cannot notice them). Only on a spec change
        of an object reconciled before: a brand-new one never had a route, and a quiet one costs nothing."""
        if spec.traffic_routing is not None and spec.traffic_routing.type == "GatewayAPI":
            return []
        observed = status.observed_generation
        if observed is None or observed == body["metadata"].get("generation"):
            return []
        return traffic.unroute(ctx, owner)

    def hold(self, status: ModelDeploymentStatus, *, owner: Owner, live_stable: dict[str, Any] | None, ok: Cond,
             deps: set[ObjKey], fields: ModelDeploymentStatus, events: list[Event], reason: str, message: str
             ) -> Outcome:
        """Keep serving the stable version as it is and say why the target is not rolled out."""
        st = (live_stable or {}).get("status") or {}
        want = int(((live_stable or {}).get("spec") or {}).get("replicas") or 0)
        ready_n = int(st.get("readyReplicas") or 0)
        stable = status.stable_version
        conds = [ok, Cond("Ready", "True" if ready_n else "False", "Serving" if ready_n else "Progressing",
                          f"{ready_n}/{want} replicas serve version {stable}"),
                 Cond("Progressing", "False", reason, message)]
        log.warning("%s/%s: %s", owner.namespace, owner.name, message)
        return Outcome(conds, fields=fields.wire(), depends_on=deps, events=events)

    def monitor(self, ctx: OperatorContext, spec: ModelDeploymentSpec, *, owner: Owner,
                status: ModelDeploymentStatus, stable: int) -> tuple[IntervalResult, list[MetricValue]] | float:
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
        failures = sampling.failures_of(status.monitoring_metrics, stable)
        result = evaluate(checks, sampling.measure_checks(
            checks, previous, current, prometheus_url=ctx.config.prometheus_url, namespace=owner.namespace,
            deployment=owner.name, version=stable), failures)
        if current.unreachable:
            result = replace(result, message=result.message + sampling.unreachable_note(current))
        return result, sampling.metric_values(result.checks, rfc3339(), stable)

    def analyse(self, ctx: OperatorContext, spec: ModelDeploymentSpec, *, owner: Owner,
                status: ModelDeploymentStatus, target: int, state: RolloutState, now: float, in_step: bool,
                track: str = CANARY) -> tuple[Analysis | None, str, list[MetricValue] | None]:
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
        stored = sampling.of_version(status.analysis_metrics, target)
        if not sampling.is_due(previous, mono, interval):
            started = state.step_started_at or now
            fresh = [m for m in stored if (parse_time(m.measured_at) or 0) > started]
            names = {c.name for c in checks}
            if {m.name for m in fresh} >= names and all(m.verdict == "Pass" for m in fresh if m.name in names):
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
        values = sampling.metric_values(result.checks, rfc3339(), target)
        message = result.message + sampling.unreachable_note(current)
        log.info("%s/%s: analysis of version %s: %s", owner.namespace, owner.name, target, message)
        # the same summary whether or not this reconcile measured: a condition message that alternated between
        # two texts would be a status write on every reconcile
        return result.decision, message if result.decision == "Abort" else summarize(values), values
