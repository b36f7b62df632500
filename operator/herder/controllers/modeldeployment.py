"""ModelDeployment: resolve the model version (a number or an alias on the Model's status), then serve it —
a Deployment running ``herder serve``, a Service, a PodDisruptionBudget and, with autoscaling, an HPA.

This is the serving half; a version change currently rolls the stable Deployment in place (Kubernetes rolling
update, maxUnavailable 0, readiness-gated), with canary steps, analysis and rollback layered on in the rollout
work. A version that is missing or Rejected is a clear condition; the Deployment keeps serving what it serves.
"""

from __future__ import annotations

from typing import Any

from herder.api.common import digest_hex, duration_ms
from herder.api.deployment import ModelDeploymentSpec
from herder.api.parsing import InvalidSpecError, parse_spec
from herder.controllers import children, lookups
from herder.controllers.conditions import Cond
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.modelversion import versions_of
from herder.controllers.scaffold import Outcome, SpecError
from herder.resources.common import Owner
from herder.resources.serving import (
    ModelRef,
    ServingParams,
    build_hpa,
    build_pdb,
    build_service,
    build_serving_deployment,
    deployment_name,
)

TRACK = "stable"


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
        try:
            spec = parse_spec(self.kind, body)
        except InvalidSpecError as e:
            raise SpecError(str(e)) from None
        assert isinstance(spec, ModelDeploymentSpec)
        return spec

    def reconcile(self, spec: ModelDeploymentSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        meta = body["metadata"]
        ns = meta["namespace"]
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
        if mv is None:
            return Outcome([ok, Cond("Ready", "False", "VersionNotFound",
                                     f"Model {spec.model.name!r} has no version {version} ({how})")],
                           depends_on=deps, fields={"resolvedVersion": version})
        if lookups.is_true(mv, "Rejected"):
            why = (lookups.condition(mv, "Rejected") or {}).get("message", "")
            return Outcome([ok, Cond("Ready", "False", "VersionRejected",
                                     f"version {version} of Model {spec.model.name!r} was rejected: {why}")],
                           depends_on=deps, fields={"resolvedVersion": version})
        if not (body.get("status") or {}).get("stable") and (problem := lookups.storage_missing(ctx, ns)) is not None:
            return Outcome([ok, problem], depends_on=deps, requeue_after=ctx.config.missing_reference_retry_seconds)
        owner = Owner.from_body(self.kind, body)
        art = mv["spec"]["artifact"]
        ref = ModelRef(model=spec.model.name, version=version, artifact_uri=art["uri"],
                       sha256=digest_hex(art["digest"]), metadata_uri=art.get("metadataUri"),
                       format=art.get("format", "skops"))
        res = spec.resources
        params = ServingParams(
            image=ctx.config.herder_image, storage=lookups.storage(ctx),
            requests={k: str(v) for k, v in ((res.requests if res else None) or {}).items()},
            limits={k: str(v) for k, v in ((res.limits if res else None) or {}).items()},
            max_batch_size=spec.batching.max_batch_size if spec.batching else 1,
            max_batch_wait_ms=max(1, duration_ms(spec.batching.max_wait)) if spec.batching else 2,
            trusted_types=trusted_types(),
        )
        replicas = spec.autoscaling.min_replicas if spec.autoscaling else (
            spec.replicas if spec.replicas is not None else 1)
        events: list[tuple[str, str, str]] = []
        desired = build_serving_deployment(owner, TRACK, ref, replicas, params)
        if spec.autoscaling:
            del desired["spec"]["replicas"]  # the HPA owns it
        dep, action = children.ensure(ctx, self.kind, desired)
        if action != "unchanged":
            events.append(("Normal", "DeploymentUpdated" if action == "updated" else "DeploymentCreated",
                           f"{action} Deployment {deployment_name(owner, TRACK)} serving version {version}"))
        children.ensure(ctx, self.kind, build_service(owner))
        if replicas > 1 or spec.autoscaling:
            children.ensure(ctx, self.kind, build_pdb(owner))
        if spec.autoscaling:
            a = spec.autoscaling
            children.ensure(ctx, self.kind, build_hpa(owner, TRACK, a.min_replicas, a.max_replicas,
                                                      a.target_cpu_utilization))
        want = int((dep.get("spec") or {}).get("replicas") or replicas)
        rolled, ready = deployment_ready(dep, want)
        url = f"http://{meta['name']}.{ns}.svc.cluster.local/v2/models/{spec.model.name}"
        status_fields: dict[str, Any] = {
            "url": url, "resolvedVersion": version,
            "stable": {"version": version, "replicas": want, "readyReplicas": ready},
        }
        if rolled:
            status_fields.update(stableVersion=version, lastKnownGoodVersion=version)
            conds = [ok, Cond("Progressing", "False", "Stable", f"serving version {version}"),
                     Cond("Ready", "True", "Serving", f"{ready}/{want} replicas serve version {version}")]
        else:
            prev = (body.get("status") or {}).get("stableVersion")
            conds = [ok, Cond("Progressing", "True", "RollingOut", f"{ready}/{want} replicas ready for version "
                                                                    f"{version}"),
                     Cond("Ready", "True" if prev and ready else "False",
                          "Serving" if prev and ready else "Progressing",
                          f"rolling out version {version}: {ready}/{want} ready")]
        return Outcome(conds, fields=status_fields, depends_on=deps, events=events,
                       requeue_after=None if rolled else 5.0)
