"""TrainingJob version numbers belong to versions that exist (or may still): a run that fails gives its number
back, so a typo in a parameter burns none -- in memory and after an operator restart alike."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from herder.controllers.config import OperatorConfig
from herder.controllers.context import Clients, ObjKey, OperatorContext
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.trainingjob import VERSION_ANNOTATION, TrainingJobController
from tests.unit.controllers.fake_cluster import Raw


def job(name: str, version: int, *, failed: bool = False) -> dict[str, Any]:
    conditions = [{"type": "Failed", "status": "True"}] if failed else []
    return {"metadata": {"name": name, "annotations": {VERSION_ANNOTATION: str(version)}},
            "status": {"conditions": conditions}}


def context(jobs: list[dict[str, Any]]) -> OperatorContext:
    batch = SimpleNamespace(list_namespaced_job=lambda *_, **__: Raw({"items": jobs}))
    return OperatorContext(config=OperatorConfig(), clients=cast(Clients, SimpleNamespace(batch=batch)),
                           metrics=OperatorMetrics())


def version(ctx: OperatorContext, n: int) -> None:
    ctx.store.put(ObjKey("ModelVersion", "ml", f"iris-v{n}"),
                  {"metadata": {"name": f"iris-v{n}", "namespace": "ml"},
                   "spec": {"modelRef": {"name": "iris"}, "version": n}})


def test_a_failed_run_gives_its_number_back() -> None:
    ctx, tj = context([]), TrainingJobController()
    assert tj._next_version(ctx, "ml", "iris", "good") == 1
    version(ctx, 1)
    assert tj._next_version(ctx, "ml", "iris", "typo") == 2
    tj._release("ml", "iris", "typo")  # it failed: no version 2
    assert tj._next_version(ctx, "ml", "iris", "fixed") == 2


def test_concurrent_runs_hold_distinct_numbers_and_a_retry_holds_one() -> None:
    ctx, tj = context([]), TrainingJobController()
    a, b = tj._next_version(ctx, "ml", "iris", "a"), tj._next_version(ctx, "ml", "iris", "b")
    assert (a, b) == (1, 2)
    assert tj._next_version(ctx, "ml", "iris", "b") == 2  # asking again (no Job made yet) holds one number
    tj._release("ml", "iris", "b")
    assert tj._next_version(ctx, "ml", "iris", "c") == 2
    tj._release("ml", "iris", "a")  # a failed below a running one: a gap only while c runs with 2
    assert tj._next_version(ctx, "ml", "iris", "d") == 3


def test_after_a_restart_failed_jobs_hold_no_number() -> None:
    ctx = context([job("iris-v1-train", 1), job("typo-train", 2, failed=True), job("running-train", 3),
                   job("another-typo-train", 4, failed=True)])
    version(ctx, 1)
    assert TrainingJobController()._next_version(ctx, "ml", "iris", "new") == 4
