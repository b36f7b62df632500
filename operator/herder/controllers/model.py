"""Model: the registry view of its versions — latest version, aliases (production, candidate) and a history of
promotions and rejections with their reasons and numbers. Aliases live on status: the operator never edits the
user's spec, so GitOps stays in sync."""

from __future__ import annotations

from typing import Any

from herder.api.model import ModelSpec
from herder.api.parsing import InvalidSpecError, parse_spec
from herder.controllers.conditions import Cond, now_rfc3339
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.modelversion import versions_of
from herder.controllers.scaffold import Outcome, SpecError

MAX_HISTORY = 200


class ModelController:
    kind = "Model"
    plural = "models"

    def parse(self, body: dict[str, Any]) -> ModelSpec:
        try:
            spec = parse_spec(self.kind, body)
        except InvalidSpecError as e:
            raise SpecError(str(e)) from None
        assert isinstance(spec, ModelSpec)
        return spec

    def reconcile(self, spec: ModelSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        meta = body["metadata"]
        ns, name = meta["namespace"], meta["name"]
        status = body.get("status") or {}
        versions = versions_of(ctx, ns, name)
        deps = {ObjKey("ModelVersion", ns, b["metadata"]["name"]) for b in versions.values()}
        aliases = dict(status.get("aliases") or {})
        history = list(status.get("history") or [])
        seen = {(h.get("action"), h.get("version")) for h in history}
        now = now_rfc3339()
        auto = spec.promotion.auto_promote if spec.promotion else True
        for v in sorted(versions):
            b = versions[v]
            gate = (b.get("status") or {}).get("gate")
            metrics = b.get("spec", {}).get("metrics") or None
            judged = gate is not None or ((spec.promotion is None or spec.promotion.gate is None) and bool(
                b.get("status", {}).get("conditions")))
            if not judged:
                continue
            tj = (b.get("spec", {}).get("lineage") or {}).get("trainingJob")
            if ("Trained", v) not in seen and ("Registered", v) not in seen:
                history.append({"at": now, "action": "Trained", "version": v, "reason": "VersionCreated",
                                "message": f"version {v} registered", **({"metrics": metrics} if metrics else {}),
                                **({"trainingJob": tj} if tj else {})})
                seen.add(("Trained", v))
            if gate is not None and not gate.get("passed"):
                if ("Rejected", v) not in seen:
                    history.append({"at": now, "action": "Rejected", "version": v, "reason": "GateFailed",
                                    "message": str(gate.get("message", ""))[:1000]})
                    seen.add(("Rejected", v))
                continue
            current = aliases.get("production")
            if auto and (current is None or v > current):
                history.append({"at": now, "action": "Promoted", "version": v,
                                **({"fromVersion": current} if current else {}), "reason": "GatePassed",
                                "message": str((gate or {}).get("message") or "no gate configured")[:1000]})
                aliases["production"] = v
                seen.add(("Promoted", v))
            elif not auto and (aliases.get("candidate") or 0) < v and (current is None or v > current):
                history.append({"at": now, "action": "Candidate", "version": v, "reason": "GatePassed",
                                "message": "awaiting promotion (autoPromote is false)"})
                aliases["candidate"] = v
        prod = aliases.get("production")
        fields: dict[str, Any] = {
            "versions": sorted(versions) or None, "latestVersion": max(versions) if versions else None,
            "aliases": aliases or None, "history": history[-MAX_HISTORY:] or None,
            "productionMetrics": (versions[prod].get("spec", {}).get("metrics") or None)
            if prod in versions else None,
        }
        msg = f"{len(versions)} version(s)" + (f", production v{prod}" if prod else ", no production version yet")
        return Outcome([Cond("Ready", "True", "Registered", msg)], fields=fields, depends_on=deps)
