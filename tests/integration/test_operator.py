"""The operator against the real local cluster: conditions and Events for missing references, repaired when the
object appears, and a resync with nothing changed makes zero writes (counted in the API server's audit log)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from localcluster.cluster import LocalCluster

from tests.integration.conftest import RunningOperator
from tests.integration.k8s import get_json, wait_until

pytestmark = pytest.mark.integration

MODEL = {"apiVersion": "herder.dev/v1alpha1", "kind": "Model", "metadata": {"name": "m"},
         "spec": {"task": "Classification"}}
DATASET = {"apiVersion": "herder.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "d"},
           "spec": {"source": {"uri": "file:///var/lib/herder/store/datasets/d.csv", "format": "csv"},
                    "schema": {"target": "label", "columns": [{"name": "x", "type": "float"},
                                                          {"name": "label", "type": "categorical",
                                                           "categories": ["a", "b"]}]}}}
TRAINING = {"apiVersion": "herder.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "t"},
            "spec": {"modelRef": {"name": "m"}, "datasetRef": {"name": "d"},
                     "estimator": {"class": "LogisticRegression"}}}


def apply(cluster: LocalCluster, namespace: str, *docs: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))


def conditions(cluster: LocalCluster, kind: str, name: str, namespace: str) -> dict[str, dict[str, Any]]:
    body = get_json(cluster, kind, name, "-n", namespace)
    return {c["type"]: c for c in body.get("status", {}).get("conditions") or []}


def events_for(cluster: LocalCluster, name: str, namespace: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "events", "-n", namespace, f"--field-selector=involvedObject.name={name}")["items"]
    return [e for e in items if e.get("source", {}).get("component") == "herder-operator"]


def test_missing_reference_is_a_condition_and_an_event_then_repaired(
        operator: RunningOperator, op_namespace: str) -> None:
    namespace = op_namespace
    cluster = operator.cluster
    apply(cluster, namespace, MODEL, TRAINING)
    cond = wait_until(lambda: conditions(cluster, "trainingjob", "t", namespace).get("ReferencesResolved"), 30,
                      what="the ReferencesResolved condition")
    assert cond["status"] == "False"
    assert cond["reason"] == "DatasetNotFound"
    assert cond["message"] == f"spec.datasetRef refers to Dataset 'd', which does not exist in namespace '{namespace}'"
    assert cond["observedGeneration"] == 1
    ready = conditions(cluster, "trainingjob", "t", namespace)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "DatasetNotFound")
    event = wait_until(lambda: [e for e in events_for(cluster, "t", namespace) if e["reason"] == "DatasetNotFound"],
                       15, what="a DatasetNotFound Event")[0]
    assert event["type"] == "Warning"
    assert "Dataset 'd'" in event["message"]
    assert event["involvedObject"]["kind"] == "TrainingJob"

    apply(cluster, namespace, DATASET)  # the missing object appears: repaired without touching the TrainingJob
    fixed = wait_until(lambda: (c := conditions(cluster, "trainingjob", "t", namespace).get("ReferencesResolved"))
                       and c["status"] == "True" and c, 15, what="the reference to resolve")
    assert fixed["reason"] == "Resolved"
    # now it waits on the Dataset (no store claim in this namespace, so it cannot validate): a clear reason
    ready = wait_until(lambda: (r := conditions(cluster, "trainingjob", "t", namespace)["Ready"])
                       and r["reason"] == "DatasetNotReady" and r, 15, what="Ready=False DatasetNotReady")
    assert "PersistentVolumeClaim 'herder-store' does not exist" in ready["message"]
    ds_ready = conditions(cluster, "dataset", "d", namespace)["Ready"]
    assert (ds_ready["status"], ds_ready["reason"]) == ("False", "StorageNotFound")


def test_resync_with_nothing_changed_makes_zero_writes(operator: RunningOperator, op_namespace: str) -> None:
    namespace = op_namespace
    cluster = operator.cluster
    apply(cluster, namespace, MODEL, DATASET, TRAINING,
          {**MODEL, "metadata": {"name": "m2"}},
          {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "dep"},
           "spec": {"model": {"name": "m", "alias": "production"}}})
    wait_until(lambda: conditions(cluster, "modeldeployment", "dep", namespace).get("Ready"), 30,
               what="the ModelDeployment to get a status")
    time.sleep(3 * operator.resync_seconds)  # let everything settle
    before_reconciles = _reconciles(operator)
    mark = cluster.audit_lines()
    time.sleep(4 * operator.resync_seconds + 1)  # at least 4 full resyncs of every object
    # this test's objects only: the shared operator may still be reacting to other tests' namespaces being deleted
    writes = [w for w in cluster.writes_by(operator.user, mark) if w["namespace"] == namespace]
    after_reconciles = _reconciles(operator)
    assert after_reconciles - before_reconciles >= 3 * 5, "resyncs did run"
    assert writes == [], f"writes during a no-op resync: {writes}"


def _reconciles(operator: RunningOperator) -> float:
    total = 0.0
    for line in operator.metrics().splitlines():
        if line.startswith("herder_operator_reconciles_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_operator_metrics_are_exposed(operator: RunningOperator) -> None:
    text = operator.metrics()
    for name in ("herder_operator_reconciles_total", "herder_operator_reconcile_duration_seconds_bucket",
                 "herder_operator_reconcile_errors_total", "herder_operator_api_writes_total",
                 "herder_operator_objects"):
        assert name in text
