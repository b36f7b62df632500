"""Model: the registry view of its versions — latest version, aliases (production, candidate) and a history of
promotions and rejections with their reasons and numbers — and the retraining policy (controllers/retraining.py),
which starts TrainingJobs from the Model's template. Aliases live on status: the operator never edits the user's
spec, so GitOps stays in sync."""

from __future__ import annotations

import datetime as dt
from typing import Any

from herder.api.annotations import PROMOTE
from herder.api.model import ModelSpec
from herder.controllers import children
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.modelversion import versions_of
from herder.controllers.retrain_triggers import measure_triggers
from herder.controllers.retraining import merge_patchable, reconcile_retraining
from herder.controllers.scaffold import Outcome, parse_spec_as
from herder.policy.conditions import Cond
from herder.policy.live_rollbacks import Follower, follows_production, live_rollbacks, rolled_back
from herder.policy.retraining import remembered
from herder.policy.timestamps import rfc3339

MAX_HISTORY = 200


def promote_candidate(body: dict[str, Any], aliases: dict[str, Any], history: list[dict[str, Any]],
                      never_again: set[int], now: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """The herder.dev/promote request on a Model (autoPromote false): a new value makes the candidate production
    (history Promoted, reason ManualPromotion); with no candidate it is recorded and ignored, and an Event says
    why. Returns the Events and the value to remember on status."""
    status = body.get("status") or {}
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(PROMOTE)
    if value is None or remembered(value) == status.get("promoteRequest"):
        return [], status.get("promoteRequest")
    candidate, current = aliases.get("candidate"), aliases.get("production")
    if candidate is None or candidate == current or candidate in never_again:
        why = "no candidate version awaits promotion" + (" (autoPromote is true: versions become production at "
                                                          "the gate)" if candidate is None else "")
        return [("Normal", "RequestIgnored", f"herder.dev/promote={value!r} ignored: {why}")], remembered(value)
    history.append({"at": now, "action": "Promoted", "version": candidate,
                    **({"fromVersion": current} if current else {}), "reason": "ManualPromotion",
                    "message": f"herder.dev/promote={value!r}"})
    aliases["production"] = candidate
    aliases.pop("candidate", None)
    return [], remembered(value)


def version_event(entry: dict[str, Any]) -> tuple[str, str, str]:
    """The Event of a version step on the Model's history (the history keeps them; the Event tells them as they
    happen): a rejection at the gate is a Warning, the rest Normal."""
    action, v = str(entry.get("action")), entry.get("version")
    text = {"Trained": f"version {v} registered", "Rejected": f"version {v} rejected at the gate",
            "Promoted": f"version {v} is production" + (f" (was v{entry['fromVersion']})"
                                                        if entry.get("fromVersion") else ""),
            "Candidate": f"version {v} is the candidate, awaiting herder.dev/promote"}.get(action, action)
    detail = str(entry.get("message") or "")
    message = f"{text}: {detail}" if detail and detail != text else text
    return ("Warning" if action == "Rejected" else "Normal"), f"Version{action}", message


class ModelController:
    kind = "Model"
    plural = "models"

    def parse(self, body: dict[str, Any]) -> ModelSpec:
        return parse_spec_as(self.kind, body, ModelSpec)

    def reconcile(self, spec: ModelSpec, body: dict[str, Any], ctx: OperatorContext) -> Outcome:
        meta = body["metadata"]
        ns, name = meta["namespace"], meta["name"]
        status = body.get("status") or {}
        versions = versions_of(ctx, ns, name)
        deps = {ObjKey("ModelVersion", ns, b["metadata"]["name"]) for b in versions.values()}
        aliases = dict(status.get("aliases") or {})
        history = list(status.get("history") or [])
        seen = {(h.get("action"), h.get("version")) for h in history}
        now = rfc3339()
        # the training half first: a retrain that finished is recorded before the version it produced
        triggers = None
        if spec.retraining is not None and spec.retraining.triggers.metrics:
            prod_now = aliases.get("production")
            triggers = measure_triggers(ctx, list(spec.retraining.triggers.metrics), ns=ns, model=name,
                                        production=prod_now, production_mv=versions.get(prod_now or 0),
                                        stored=list(status.get("triggerMetrics") or []))
            deps |= triggers.deployments
        retrain = reconcile_retraining(spec, body, ctx, dt.datetime.fromisoformat(now.replace("Z", "+00:00")),
                                       triggers.breaches if triggers else None)
        history += retrain.history
        deps |= retrain.depends_on
        # the serving half: a ModelDeployment following production rolled a version back -> production follows it
        followers = [b for k, b in ctx.store.items("ModelDeployment") if follows_production(b, ns, name)]
        deps |= {ObjKey("ModelDeployment", ns, b["metadata"]["name"]) for b in followers}
        live = live_rollbacks(aliases.get("production"), history, [Follower.from_body(b) for b in followers], now)
        history += live.history
        if live.production is not None:
            aliases["production"] = live.production
        never_again = rolled_back(history)
        auto = spec.promotion.auto_promote if spec.promotion else True
        judged_from = len(history)
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
            if v in never_again or ("Promoted", v) in seen:
                continue  # rolled back live, or promoted once already and since superseded or rolled back
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
        request_events, promote_request = promote_candidate(body, aliases, history, never_again, now)
        events: list[tuple[str, str, str]] = [*retrain.events, *live.events, *request_events,
                                              *(version_event(h) for h in history[judged_from:])]
        if spec.retention is not None:
            for v in retired_versions(sorted(versions), spec.retention.keep_last, aliases,
                                      in_use(ctx, ns, name) | never_again):
                mv_name = versions[v]["metadata"]["name"]
                if children.delete_custom(ctx, self.kind, "modelversions", mv_name, ns):
                    history.append({"at": now, "action": "Deleted", "version": v, "reason": "Retention",
                                    "message": f"keepLast {spec.retention.keep_last}: version {v} is not among the "
                                               "newest, not aliased and not deployed (its artifact is kept)"})
                    events.append(("Normal", "VersionRetired", f"deleted ModelVersion {mv_name} (retention)"))
                del versions[v]
        prod = aliases.get("production")
        fields: dict[str, Any] = {
            "versions": sorted(versions) or None, "latestVersion": max(versions) if versions else None,
            # a merge patch keeps keys it does not name: an alias that went away (a promoted candidate) is null
            "aliases": merge_patchable(status.get("aliases"), {k: v for k, v in aliases.items() if v is not None}
                                       or None),
            "history": history[-MAX_HISTORY:] or None,
            "productionMetrics": (versions[prod].get("spec", {}).get("metrics") or None)
            if prod in versions else None,
            "retraining": merge_patchable(status.get("retraining"), retrain.status),
            "promoteRequest": promote_request,
        }
        if triggers is None:
            fields["triggerMetrics"] = None
        elif triggers.status is not None:
            fields["triggerMetrics"] = triggers.status
        msg = f"{len(versions)} version(s)" + (f", production v{prod}" if prod else ", no production version yet")
        ready = Cond("Ready", "True", "ProductionVersion", msg) if prod else Cond("Ready", "False",
                                                                                  "NoProductionVersion", msg)
        return Outcome([ready, *retrain.conditions], fields=fields,
                       depends_on=deps, events=events, requeue_after=min(
                           (t for t in (retrain.requeue_after, triggers.requeue_after if triggers else None)
                            if t is not None), default=None))


def in_use(ctx: OperatorContext, ns: str, model: str) -> set[int]:
    """Versions some ModelDeployment of this model serves or may return to."""
    used: set[int] = set()
    for k, b in ctx.store.items("ModelDeployment"):
        if k.namespace != ns or b.get("spec", {}).get("model", {}).get("name") != model:
            continue
        st = b.get("status") or {}
        for f in ("resolvedVersion", "stableVersion", "canaryVersion", "lastKnownGoodVersion"):
            if isinstance(st.get(f), int):
                used.add(st[f])
        if isinstance(b.get("spec", {}).get("model", {}).get("version"), int):
            used.add(b["spec"]["model"]["version"])
    return used


def retired_versions(versions: list[int], keep_last: int, aliases: dict[str, int], used: set[int]) -> list[int]:
    """Pure retention rule: beyond the newest ``keep_last``, delete what no alias and no deployment needs."""
    protected = set(aliases.values()) | used
    return [v for v in sorted(versions)[:-keep_last] if v not in protected] if len(versions) > keep_last else []
