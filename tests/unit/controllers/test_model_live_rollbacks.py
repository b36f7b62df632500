"""The Model's reconcile with a live rollback in its ModelDeployment: production goes back, the history says why,
the rolled-back version is not promoted again by the gate loop, and the Model re-reconciles when a ModelDeployment
that follows it changes (it depends on it). The objects come from the operator's store, as the watch fills it."""

from __future__ import annotations

from typing import Any, cast

from herder.controllers.config import OperatorConfig
from herder.controllers.context import Clients, ObjKey, OperatorContext
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.model import ModelController

NS = "ns"
PASSED = {"passed": True, "message": "accuracy 0.97 >= production 0.97"}


def version(v: int) -> dict[str, Any]:
    return {"metadata": {"name": f"iris-v{v}", "namespace": NS},
            "spec": {"modelRef": {"name": "iris"}, "version": v, "metrics": {"accuracy": "0.97"}},
            "status": {"gate": PASSED}}


def deployment(status: dict[str, Any], alias: str = "production") -> dict[str, Any]:
    return {"metadata": {"name": "iris-serving", "namespace": NS},
            "spec": {"model": {"name": "iris", "alias": alias}}, "status": status}


ABORTED = {"stableVersion": 2, "abortedVersion": 3, "lastRollback": {
    "from": 3, "to": 2, "reason": "AnalysisFailed", "at": "2026-11-27T08:00:00Z",
    "message": "analysis of version 3 failed at step 1/1 (weight 50%): error-rate=1 > max 0.05 (15 samples)"}}


def context(*bodies: tuple[str, dict[str, Any]]) -> OperatorContext:
    ctx = OperatorContext(config=OperatorConfig(), clients=cast(Clients, None), metrics=cast(OperatorMetrics, None))
    for kind, b in bodies:
        ctx.store.put(ObjKey(kind, NS, b["metadata"]["name"]), b)
    return ctx


def model(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "iris", "namespace": NS, "uid": "u"},
            "spec": {"task": "Classification", "promotion": {"gate": {"metric": "accuracy", "min": "0.9"}}},
            "status": status}


def reconcile(body: dict[str, Any], ctx: OperatorContext) -> Any:
    c = ModelController()
    return c.reconcile(c.parse(body), body, ctx)


PROMOTED_3 = [{"at": "2026-11-27T07:00:00Z", "action": e, "version": v, "reason": r, "message": "m"}
              for v in (1, 2, 3) for e, r in (("Trained", "VersionCreated"), ("Promoted", "GatePassed"))]


def test_production_goes_back_and_the_rolled_back_version_is_not_promoted_again() -> None:
    ctx = context(*[("ModelVersion", version(v)) for v in (1, 2, 3)], ("ModelDeployment", deployment(ABORTED)))
    out = reconcile(model({"aliases": {"production": 3}, "history": PROMOTED_3}), ctx)
    assert out.fields["aliases"] == {"production": 2}
    new = out.fields["history"][len(PROMOTED_3):]
    assert [(e["action"], e.get("version"), e.get("fromVersion"), e["reason"]) for e in new] == [
        ("RolledBack", 2, 3, "AnalysisFailed")]
    assert "error-rate=1 > max 0.05 (15 samples)" in new[0]["message"]
    assert [(k, r) for k, r, _ in out.events] == [("Warning", "VersionRolledBack")]
    assert out.fields["versions"] == [1, 2, 3]  # kept
    assert ObjKey("ModelDeployment", NS, "iris-serving") in out.depends_on

    # the next reconcile (the deployment now serves 2 again, abortedVersion cleared): nothing new, 3 stays out
    ctx.store.put(ObjKey("ModelDeployment", NS, "iris-serving"),
                  deployment({**ABORTED, "abortedVersion": None, "resolvedVersion": 2}))
    again = reconcile(model({"aliases": out.fields["aliases"], "history": out.fields["history"]}), ctx)
    assert again.fields["aliases"] == {"production": 2}
    assert again.fields["history"] == out.fields["history"] and again.events == []


def test_a_newer_version_passing_the_gate_after_the_rollback_is_promoted() -> None:
    history = [*PROMOTED_3, {"at": "2026-11-27T08:00:00Z", "action": "RolledBack", "version": 2, "fromVersion": 3,
                             "reason": "AnalysisFailed", "message": "m"}]
    ctx = context(*[("ModelVersion", version(v)) for v in (1, 2, 3, 4)],
                  ("ModelDeployment", deployment({**ABORTED, "abortedVersion": None})))
    out = reconcile(model({"aliases": {"production": 2}, "history": history}), ctx)
    assert out.fields["aliases"] == {"production": 4}
    assert [(e["action"], e["version"], e.get("fromVersion")) for e in out.fields["history"][len(history):]] == [
        ("Trained", 4, None), ("Promoted", 4, 2)]


def test_a_deployment_that_does_not_follow_production_changes_nothing() -> None:
    ctx = context(*[("ModelVersion", version(v)) for v in (1, 2, 3)],
                  ("ModelDeployment", deployment(ABORTED, alias="candidate")))
    out = reconcile(model({"aliases": {"production": 3}, "history": PROMOTED_3}), ctx)
    assert out.fields["aliases"] == {"production": 3} and out.events == []
    assert ObjKey("ModelDeployment", NS, "iris-serving") not in out.depends_on
