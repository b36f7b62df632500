"""Objects as the API server returns them for one Model's loop (three versions, a rollback, drift, a deployment),
shared by the report's tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('x')</script> & \"quotes\""


def version(n: int, created: str, accuracy: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "herder.dev/v1alpha1", "kind": "ModelVersion",
        "metadata": {"name": f"churn-v{n}", "namespace": "ml", "creationTimestamp": created},
        "spec": {"modelRef": {"name": "churn"}, "version": n,
                 "artifact": {"uri": f"file:///store/{n}.skops", "digest": "sha256:" + "a" * 64},
                 "lineage": {"trainingJob": f"churn-retrain-{n}", "dataset": {"name": "churn-data",
                                                                               "digest": "sha256:" + "b" * 64},
                             "estimator": {"class": "sklearn.linear_model.LogisticRegression"}},
                 "metrics": {"accuracy": accuracy, "f1": str(float(accuracy) - 0.05)}},
        "status": status,
    }


MODEL: dict[str, Any] = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "Model",
    "metadata": {"name": "churn", "namespace": "ml"},
    "spec": {"task": "Classification",
             "retraining": {"triggers": {"metrics": [
                 {"name": "input-drift", "metric": "FeatureDriftPSI", "threshold": {"max": "0.25"}},
                 {"name": "accuracy", "metric": "Accuracy", "threshold": {"min": "0.8"}}]}}},
    "status": {
        "latestVersion": 3, "aliases": {"production": 3}, "productionMetrics": {"accuracy": "0.93"},
        "message": EVIL,
        "triggerMetrics": [
            {"name": "input-drift", "value": "0.41", "verdict": "Fail", "samples": 5000, "version": 2,
             "measuredAt": "2026-11-27T06:00:00Z", "message": "largest PSI 0.41 on feature 'tenure'",
             "features": {"tenure": "0.41", "plan": "0.03", "monthly_charges": "0.12"}},
            {"name": "accuracy", "value": "0.9", "verdict": "Pass", "samples": 200,
             "measuredAt": "2026-11-27T06:00:00Z"},
        ],
        "history": [
            {"at": "2026-11-27T05:00:00Z", "action": "Trained", "version": 1, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T05:01:00Z", "action": "Promoted", "version": 1, "reason": "GatePassed"},
            {"at": "2026-11-27T05:20:00Z", "action": "Trained", "version": 2, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T05:21:00Z", "action": "Promoted", "version": 2, "fromVersion": 1,
             "reason": "GatePassed"},
            {"at": "2026-11-27T05:30:00Z", "action": "RolledBack", "version": 1, "fromVersion": 2,
             "reason": "MonitoringBreach", "message": EVIL},
            {"at": "2026-11-27T05:59:00Z", "action": "RetrainTriggered", "reason": "DriftDetected",
             "metrics": {"input-drift": "0.41"}, "trainingJob": "churn-retrain-1"},
            {"at": "2026-11-27T06:10:00Z", "action": "Trained", "version": 3, "reason": "TrainingSucceeded"},
            {"at": "2026-11-27T06:12:00Z", "action": "Promoted", "version": 3, "fromVersion": 1,
             "reason": "GatePassed", "metrics": {"input-drift": "0.05"}},
        ],
    },
}
VERSIONS = [
    version(1, "2026-11-27T05:00:00Z", "0.91"),
    version(2, "2026-11-27T05:20:00Z", "0.94", conditions=[
        {"type": "Rejected", "status": "True", "reason": "RolledBack", "message": "error rate 0.2 > 0.05",
         "lastTransitionTime": "2026-11-27T05:30:00Z"}]),
    version(3, "2026-11-27T06:10:00Z", "0.93", aliases=["production"]),
]
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "churn-prod", "namespace": "ml"},
    "spec": {"model": {"name": "churn", "alias": "production"},
             "monitoring": {"metrics": [{"name": "errors", "metric": "ErrorRate", "threshold": {"max": "0.05"}}]}},
    "status": {"stableVersion": 3, "conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                                                  "lastTransitionTime": "2026-11-27T06:15:00Z"}],
               "lastRollback": {"from": 2, "to": 1, "reason": "MonitoringBreach", "message": "errors 0.2",
                                "at": "2026-11-27T05:30:00Z"},
               "monitoringMetrics": [{"name": "errors", "value": "0.001", "verdict": "Pass", "samples": 900}]},
}
OTHER = {"metadata": {"name": "other"}, "spec": {"model": {"name": "not-churn", "version": 1}}}
NOW = dt.datetime(2026, 11, 27, 7, 0, tzinfo=dt.UTC)
