"""ModelVersion: an immutable record (the API server enforces immutability with CEL). The operator only
judges it: the promotion gate (once, recorded on status) and which aliases point at it."""

from __future__ import annotations

from typing import Any

from herder.api.model import ModelSpec
from herder.api.modelversion import ModelVersionSpec
from herder.api.parsing import InvalidSpecError, parse_spec
from herder.controllers import lookups
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.scaffold import Outcome, missing_reference, parse_spec_as
from herder.policy.conditions import Cond
from herder.policy.gate import evaluate_gate
from herder.policy.serving_runtime import compiled_condition
from herder.policy.timestamps import rfc3339


def versions_of(ctx: OperatorContext, ns: str, model: str) -> dict[int, dict[str, Any]]:
    return {int(b["spec"]["version"]): b for k, b in ctx.store.items("ModelVersion")
            if k.namespace == ns and b.get("spec", {}).get("modelRef", {}).get("name") == model}


class ModelVersionController:
    kind = "ModelVersion"
    plural = "modelversions"

    def parse(self, body: dict[str, Any]) -> ModelVersionSpec:
        return parse_spec_as(self.kind, body, ModelVersionSpec)

    def reconcile(self, spec: ModelVersionSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        ns = body["metadata"]["namespace"]
        ref = ObjKey("Model", ns, spec.model_ref.name)
        model_body = ctx.store.get(ref)
        if model_body is None:
            return missing_reference(ctx, "Model", ref.name, namespace=ns, field_path="spec.modelRef",
                                     depends_on={ref})
        status = body.get("status") or {}
        fields: dict[str, Any] = {}
        aliases = (model_body.get("status") or {}).get("aliases") or {}
        mine = sorted(a for a, v in aliases.items() if v == spec.version)
        fields["aliases"] = mine or None
        gate_result = status.get("gate")
        if gate_result is None:
            try:
                model = parse_spec("Model", model_body)
            except InvalidSpecError:
                model = None
            gate = model.promotion.gate if isinstance(model, ModelSpec) and model.promotion else None
            if gate is not None:
                prod = aliases.get("production")
                prod_body = versions_of(ctx, ns, ref.name).get(prod) if prod and prod != spec.version else None
                verdict = evaluate_gate(gate, dict(spec.metrics or {}),
                                        (prod_body or {}).get("spec", {}).get("metrics"), prod)
                gate_result = verdict.wire(rfc3339())
                fields["gate"] = gate_result
        conds = [lookups.resolved(), compiled_condition(spec.artifact)]
        if gate_result is not None and not gate_result.get("passed"):
            conds += [Cond("Rejected", "True", "GateFailed", str(gate_result.get("message", ""))),
                      Cond("Ready", "False", "Rejected", str(gate_result.get("message", "")))]
        else:
            msg = str(gate_result.get("message")) if gate_result else "no promotion gate configured"
            conds += [Cond("Rejected", "False", "GatePassed" if gate_result else "NoGate", msg),
                      Cond("Ready", "True", "Registered", f"version {spec.version} of Model {ref.name!r}")]
        return Outcome(conds, fields=fields, depends_on={ref})
