"""A table of invalid manifests across the six kinds, each with the field path the rejection must name.

Shared by the unit parity test (the pydantic models reject the same manifests, so the operator never trusts a body
the API server would refuse) and the integration test (the real API server rejects them with that path).
Every case starts from a valid example in examples/ and breaks exactly one thing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def example(file: str, kind: str, name: str | None = None) -> dict[str, Any]:
    for doc in yaml.safe_load_all((EXAMPLES / file).read_text()):
        if doc and doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name):
            return dict(doc)
    raise LookupError(f"no {kind} {name or ''} in {file}")


BASES: dict[str, Callable[[], dict[str, Any]]] = {
    "Dataset": lambda: example("iris.yaml", "Dataset"),
    "FeatureSet": lambda: example("diabetes-regression.yaml", "FeatureSet"),
    "TrainingJob": lambda: example("diabetes-regression.yaml", "TrainingJob"),
    "Model": lambda: example("retraining-model.yaml", "Model"),
    "ModelVersion": lambda: example("external-modelversion.yaml", "ModelVersion"),
    "ModelDeployment": lambda: example("canary-rollout.yaml", "ModelDeployment"),
}


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    mutate: Callable[[dict[str, Any]], Any]
    path: str
    """Field path the API server's message must contain."""
    server_only: bool = False
    """Only the API server checks it (object metadata rules, list-map key uniqueness); the models cannot."""

    def manifest(self) -> dict[str, Any]:
        body = copy.deepcopy(BASES[self.kind]())
        body["metadata"] = {"name": body["metadata"]["name"]}
        self.mutate(body)
        return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path (list indices as numbers) inside the body."""
    def apply(body: dict[str, Any]) -> None:
        node: Any = body
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return apply


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        node: Any = body
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for p in parts[:-1]:
            node = node[p]
        del node[parts[-1]]
    return apply


def _all(*fs: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def apply(body: dict[str, Any]) -> None:
        for f in fs:
            f(body)
    return apply


def _dup(path: str) -> Callable[[dict[str, Any]], None]:
    """Append a copy of the first element of the list at ``path``."""
    def apply(body: dict[str, Any]) -> None:
        node: Any = body
        for p in path.split("."):
            node = node[int(p) if p.isdigit() else p]
        node.append(copy.deepcopy(node[0]))
    return apply


_METRIC = "spec.analysis.metrics.0"
_TRIGGER = "spec.retraining.triggers.metrics.0"

CASES: list[Case] = [
    # Dataset
    Case("dataset-format-not-in-enum", "Dataset", _set("spec.source.format", "json"), "spec.source.format"),
    Case("dataset-uri-scheme", "Dataset", _set("spec.source.uri", "ftp://host/iris.csv"), "spec.source.uri"),
    Case("dataset-csv-options-with-parquet", "Dataset", _set("spec.source.format", "parquet"), "spec.source.csv"),
    Case("dataset-column-min-above-max", "Dataset", _set("spec.schema.columns.0.min", "20"),
         "spec.schema.columns[0]"),
    Case("dataset-target-not-declared", "Dataset", _set("spec.schema.target", "label"), "spec.schema.target"),
    Case("dataset-duplicate-column", "Dataset", _dup("spec.schema.columns"), "spec.schema.columns[5]"),
    Case("dataset-null-fraction-above-one", "Dataset", _set("spec.validation.maxNullFraction", "1.5"),
         "spec.validation.maxNullFraction"),
    Case("dataset-profile-bins", "Dataset", _set("spec.profile.bins", 1), "spec.profile.bins"),
    Case("dataset-column-type", "Dataset", _set("spec.schema.columns.0.type", "date"), "spec.schema.columns[0].type"),
    Case("dataset-categories-on-float", "Dataset", _set("spec.schema.columns.0.categories", ["a"]),
         "spec.schema.columns[0].categories"),
    Case("dataset-name-too-long-for-job", "Dataset", _set("metadata.name", "d" * 60), "metadata.name",
         server_only=True),
    # FeatureSet
    Case("featureset-two-encoders", "FeatureSet", _set("spec.transforms.0.oneHot", {}), "spec.transforms[0]"),
    Case("featureset-no-encoder", "FeatureSet", _del("spec.transforms.0.scale"), "spec.transforms[0]"),
    Case("featureset-constant-impute-without-value", "FeatureSet",
         _set("spec.transforms.2.impute", {"strategy": "Constant"}), "spec.transforms[2].impute"),
    Case("featureset-empty-columns", "FeatureSet", _set("spec.transforms.0.columns", []),
         "spec.transforms[0].columns"),
    Case("featureset-bucketize-one-bin", "FeatureSet",
         _all(_del("spec.transforms.0.scale"), _set("spec.transforms.0.bucketize", {"bins": 1})),
         "spec.transforms[0].bucketize.bins"),
    Case("featureset-remainder", "FeatureSet", _set("spec.remainder", "Keep"), "spec.remainder"),
    # TrainingJob
    Case("trainingjob-estimator-not-allowed", "TrainingJob", _set("spec.estimator.class", "XGBClassifier"),
         "spec.estimator.class"),
    Case("trainingjob-zero-trials", "TrainingJob", _set("spec.search.trials", 0), "spec.search.trials"),
    Case("trainingjob-parallelism-above-trials", "TrainingJob", _set("spec.search.parallelism", 20),
         "spec.search.parallelism"),
    Case("trainingjob-grid-with-range", "TrainingJob",
         _all(_set("spec.search.strategy", "Grid"),
              _set("spec.search.space.0", {"param": "learning_rate", "range": {"min": "0.01", "max": "0.3"}})),
         "spec.search.space"),
    Case("trainingjob-test-fraction-one", "TrainingJob", _set("spec.evaluation.testFraction", "1"),
         "spec.evaluation.testFraction"),
    Case("trainingjob-one-fold", "TrainingJob", _set("spec.evaluation.folds", 1), "spec.evaluation.folds"),
    Case("trainingjob-missing-model-ref", "TrainingJob", _del("spec.modelRef"), "spec.modelRef"),
    Case("trainingjob-bad-digest", "TrainingJob", _set("spec.datasetRef.digest", "md5:abc"),
         "spec.datasetRef.digest"),
    Case("trainingjob-deadline-format", "TrainingJob", _set("spec.deadline", "10 minutes"), "spec.deadline"),
    Case("trainingjob-float-param", "TrainingJob", _set("spec.estimator.params.learning_rate", 0.1),
         "spec.estimator.params.learning_rate"),
    Case("trainingjob-unknown-metric", "TrainingJob", _set("spec.evaluation.metrics", ["rmse", "auc"]),
         "spec.evaluation.metrics[1]"),
    Case("trainingjob-bad-quantity", "TrainingJob", _set("spec.resources.requests.cpu", "lots"),
         "spec.resources.requests.cpu"),
    Case("trainingjob-search-range-inverted", "TrainingJob",
         _set("spec.search.space.0.range", {"min": "0.3", "max": "0.01"}), "spec.search.space[0].range"),
    # Model
    Case("model-task", "Model", _set("spec.task", "Clustering"), "spec.task"),
    Case("model-retraining-without-template", "Model", _del("spec.training"), "spec.retraining"),
    Case("model-gate-min-above-max", "Model", _set("spec.promotion.gate.max", "0.5"), "spec.promotion.gate"),
    Case("model-trigger-threshold-empty", "Model", _set(f"{_TRIGGER}.threshold", {}),
         "spec.retraining.triggers.metrics[0].threshold"),
    Case("model-builtin-metric-with-query", "Model", _set(f"{_TRIGGER}.query", "up"),
         "spec.retraining.triggers.metrics[0]"),
    Case("model-bad-cron", "Model", _set("spec.retraining.triggers.schedule", "weekly"),
         "spec.retraining.triggers.schedule"),
    Case("model-keep-last-zero", "Model", _set("spec.retention.keepLast", 0), "spec.retention.keepLast"),
    Case("model-max-per-day-zero", "Model", _set("spec.retraining.maxPerDay", 0), "spec.retraining.maxPerDay"),
    Case("model-retrain-data-both", "Model", _set("spec.retraining.data.datasetRef", {"name": "iris"}),
         "spec.retraining.data"),
    Case("model-estimator-not-allowed-in-template", "Model", _set("spec.training.estimator.class", "Pipeline"),
         "spec.training.estimator.class"),
    # ModelVersion
    Case("modelversion-bad-digest", "ModelVersion", _set("spec.artifact.digest", "sha256:XYZ"),
         "spec.artifact.digest"),
    Case("modelversion-format", "ModelVersion", _set("spec.artifact.format", "onnx"), "spec.artifact.format"),
    Case("modelversion-version-zero", "ModelVersion", _set("spec.version", 0), "spec.version"),
    Case("modelversion-float-metric", "ModelVersion", _set("spec.metrics.accuracy", 0.97), "spec.metrics.accuracy"),
    Case("modelversion-missing-artifact", "ModelVersion", _del("spec.artifact"), "spec.artifact"),
    # ModelDeployment
    Case("mdep-weights-not-increasing", "ModelDeployment", _set("spec.strategy.canary.steps.1.weight", 5),
         "spec.strategy.canary.steps"),
    Case("mdep-weight-over-100", "ModelDeployment", _set("spec.strategy.canary.steps.3.weight", 150),
         "spec.strategy.canary.steps[3].weight"),
    Case("mdep-duplicate-weights", "ModelDeployment", _set("spec.strategy.canary.steps.1.weight", 10),
         "spec.strategy.canary.steps"),
    Case("mdep-too-many-steps", "ModelDeployment",
         _set("spec.strategy.canary.steps", [{"weight": w} for w in range(1, 23)]), "spec.strategy.canary.steps"),
    Case("mdep-version-and-alias", "ModelDeployment", _set("spec.model.version", 3), "spec.model"),
    Case("mdep-neither-version-nor-alias", "ModelDeployment", _del("spec.model.alias"), "spec.model"),
    Case("mdep-alias-unknown", "ModelDeployment", _set("spec.model.alias", "staging"), "spec.model.alias"),
    Case("mdep-replicas-and-autoscaling", "ModelDeployment", _set("spec.replicas", 2), "spec.replicas"),
    Case("mdep-min-above-max-replicas", "ModelDeployment", _set("spec.autoscaling.minReplicas", 9),
         "spec.autoscaling.minReplicas"),
    Case("mdep-bluegreen-with-canary-steps", "ModelDeployment", _set("spec.strategy.type", "BlueGreen"),
         "spec.strategy"),
    Case("mdep-unknown-metric", "ModelDeployment", _set(f"{_METRIC}.metric", "Throughput"),
         "spec.analysis.metrics[0].metric"),
    Case("mdep-prometheus-without-query", "ModelDeployment", _set(f"{_METRIC}.provider", "Prometheus"),
         "spec.analysis.metrics[0]"),
    Case("mdep-duplicate-metric-names", "ModelDeployment", _dup("spec.analysis.metrics"),
         "spec.analysis.metrics[2]", server_only=True),
    Case("mdep-gateway-without-settings", "ModelDeployment", _set("spec.trafficRouting.type", "GatewayAPI"),
         "spec.trafficRouting"),
    Case("mdep-threshold-percent", "ModelDeployment", _set(f"{_METRIC}.threshold.max", "5%"),
         "spec.analysis.metrics[0].threshold.max"),
    Case("mdep-failure-limit-zero", "ModelDeployment", _set(f"{_METRIC}.failureLimit", 0),
         "spec.analysis.metrics[0].failureLimit"),
    Case("mdep-sample-fraction", "ModelDeployment", _set("spec.payloadLog.sampleFraction", "2"),
         "spec.payloadLog.sampleFraction"),
    Case("mdep-name-not-a-service-name", "ModelDeployment", _set("metadata.name", "1-iris"), "metadata.name",
         server_only=True),
    Case("mdep-missing-model", "ModelDeployment", _del("spec.model"), "spec.model"),
]
