"""Status written by the operator must fit the status schemas: the API server silently prunes unknown status
fields, so a field missing from the models would be re-written on every resync (never "unchanged")."""

from __future__ import annotations

from herder.api import KINDS, parse_model
from herder.api.common import Condition
from herder.policy.conditions import Cond, merge_conditions


def test_scaffold_conditions_fit_the_condition_model() -> None:
    conds = merge_conditions(None, [Cond("Ready", "False", "DatasetNotFound", "Dataset 'x' not found"),
                                    Cond("ReferencesResolved", "False", "DatasetNotFound", "")], 3,
                             "2026-01-01T00:00:00Z")
    for c in conds:
        assert Condition.model_validate(c).wire() == c


def test_every_status_has_conditions_and_observed_generation() -> None:
    for info in KINDS.values():
        fields = {f.alias or name for name, f in info.status_model.model_fields.items()}
        assert {"conditions", "observedGeneration"} <= fields, info.kind


def test_a_full_modeldeployment_status_parses() -> None:
    status = {
        "observedGeneration": 2, "url": "http://iris.ns.svc:8080", "resolvedVersion": 4, "stableVersion": 3,
        "canaryVersion": 4, "canaryWeight": 25, "currentStep": 1, "stepStartedAt": "2026-01-01T00:00:00Z",
        "lastKnownGoodVersion": 3,
        "lastRollback": {"from": 5, "to": 3, "reason": "AnalysisFailed", "message": "error-rate 0.2 > 0.01",
                         "at": "2026-01-01T00:00:00Z"},
        "analysisMetrics": [{"name": "error-rate", "value": "0.002", "verdict": "Pass", "samples": 512,
                             "consecutiveFailures": 0, "measuredAt": "2026-01-01T00:00:00Z", "version": 4}],
        "monitoringMetrics": [{"name": "drift", "value": "0.31", "verdict": "Fail", "features": {"petal_width": "0.31"},
                               "message": "petal_width drifted most"}],
        "stable": {"version": 3, "replicas": 2, "readyReplicas": 2}, "canary": {"version": 4, "replicas": 1},
    }
    assert parse_model(KINDS["ModelDeployment"].status_model, status).wire() == status


def test_a_dataset_profile_parses() -> None:
    status = {"digest": "sha256:" + "a" * 64, "rows": 150, "profile": [
        {"name": "sepal_length", "type": "float", "count": 150, "nulls": 0, "distinct": 35, "min": "4.3",
         "max": "7.9", "mean": "5.843333", "std": "0.828066", "quantiles": {"p50": "5.8"},
         "bins": {"strategy": "quantile", "edges": ["5", "6"], "counts": [32, 57, 61],
                  "fractions": ["0.213333", "0.38", "0.406667"]}},
        {"name": "species", "type": "categorical", "count": 150, "nulls": 0,
         "bins": {"strategy": "categories", "categories": ["setosa", "versicolor", "virginica"],
                  "counts": [50, 50, 50, 0]}}]}
    assert parse_model(KINDS["Dataset"].status_model, status).wire() == status
