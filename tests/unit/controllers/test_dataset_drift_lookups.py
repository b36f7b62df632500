"""Which Dataset revisions are still measured against, and the drift a Model's newDataMinDrift reads: from the
operator's store of ModelVersions, TrainingJobs and Datasets (no API call)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from herder.controllers import lookups
from herder.controllers.config import OperatorConfig
from herder.controllers.context import ObjKey, OperatorContext
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.retraining import data_drift
from herder.policy.retraining import DataDrift
from tests.unit.controllers.fake_cluster import FakeClients


def context() -> OperatorContext:
    return OperatorContext(config=OperatorConfig(), clients=FakeClients(),  # type: ignore[arg-type]
                           metrics=OperatorMetrics())


def version(ctx: OperatorContext, n: int, revision: int, aliases: list[str], dataset: str = "iris") -> None:
    ctx.store.put(ObjKey("ModelVersion", "ml", f"fresh-v{n}"), {
        "metadata": {"name": f"fresh-v{n}", "namespace": "ml"},
        "spec": {"modelRef": {"name": "fresh"}, "version": n,
                 "lineage": {"dataset": {"name": dataset, "digest": "sha256:" + "a" * 64, "revision": revision}}},
        "status": {"aliases": aliases}})


def training_job(ctx: OperatorContext, name: str, revision: int, done: str | None = None) -> None:
    conditions = [{"type": done, "status": "True"}] if done else []
    ctx.store.put(ObjKey("TrainingJob", "ml", name), {
        "metadata": {"name": name, "namespace": "ml"}, "spec": {"datasetRef": {"name": "iris"}},
        "status": {"datasetRevision": revision, "conditions": conditions}})


DATASET: dict[str, Any] = {"metadata": {"name": "iris", "namespace": "ml"}, "status": {
    "currentRevision": 3,
    "revisions": [{"number": 3, "result": "Passed", "drift": [{"againstRevision": 2, "value": "0.05"},
                                                               {"againstRevision": 1, "value": "0.31"}]},
                  {"number": 2, "result": "Passed"}, {"number": 1, "result": "Passed"}]}}


def test_revisions_in_use_are_those_of_aliased_versions_and_unfinished_training_jobs() -> None:
    ctx = context()
    version(ctx, 1, 1, ["production"])
    version(ctx, 2, 2, [])  # no alias: nothing measures against it
    version(ctx, 3, 2, ["candidate"], dataset="other")  # another Dataset's revision 2
    training_job(ctx, "running", 4)
    training_job(ctx, "finished", 5, done="Succeeded")
    training_job(ctx, "failed", 6, done="Failed")
    assert lookups.dataset_revisions_in_use(ctx, DATASET) == {1, 4}


def test_the_drift_a_model_reads_is_against_its_production_versions_revision() -> None:
    ctx = context()
    version(ctx, 1, 1, ["production"])
    model = {"metadata": {"name": "fresh", "namespace": "ml"}, "status": {"aliases": {"production": 1}}}
    assert data_drift(ctx, model, DATASET) == DataDrift(1, Decimal("0.31"))
    version(ctx, 2, 3, ["production"])
    on_current = {"metadata": {"name": "fresh", "namespace": "ml"}, "status": {"aliases": {"production": 2}}}
    assert data_drift(ctx, on_current, DATASET) == DataDrift(3, Decimal(0))  # trained on the current revision
    version(ctx, 4, 9, ["production"])
    unmeasured = {"metadata": {"name": "fresh", "namespace": "ml"}, "status": {"aliases": {"production": 4}}}
    assert data_drift(ctx, unmeasured, DATASET) == DataDrift(9, None)
    assert data_drift(ctx, {"metadata": {"name": "fresh", "namespace": "ml"}}, DATASET) is None  # no production
