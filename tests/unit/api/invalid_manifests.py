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
    expect: tuple[str, ...] = ()
    """Substrings the rejection must also contain: the bad value and the hint of what is right (both the API
    server's message and, unless server_only, the models')."""

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
    Case("dataset-refresh-of-a-file-source", "Dataset", _set("spec.refresh", {"interval": "30s"}), "spec.refresh",
         expect=("file:///var/lib/herder/store/datasets/iris.csv", "herder.dev/refresh annotation")),
    Case("dataset-refresh-zero-interval", "Dataset", _all(_set("spec.source.uri", "s3://events/iris.csv"),
                                                          _set("spec.refresh", {"interval": "0s"})),
         "spec.refresh.interval", expect=("0s",)),
    Case("dataset-refresh-interval-and-schedule", "Dataset",
         _all(_set("spec.source.uri", "s3://events/iris.csv"),
              _set("spec.refresh", {"interval": "5m", "schedule": "0 * * * *"})),
         "spec.refresh", expect=("interval, schedule", "e.g. {interval: 5m}")),
    Case("dataset-refresh-neither", "Dataset", _all(_set("spec.source.uri", "s3://events/iris.csv"),
                                                    _set("spec.refresh", {})),
         "spec.refresh", expect=("exactly one of interval, schedule",)),
    Case("dataset-refresh-bad-cron", "Dataset", _all(_set("spec.source.uri", "s3://events/iris.csv"),
                                                     _set("spec.refresh", {"schedule": "hourly"})),
         "spec.refresh.schedule", expect=("hourly",)),
    Case("dataset-window-on-one-file", "Dataset", _set("spec.source.window", {"newest": 3}), "spec.source.window",
         expect=("file:///var/lib/herder/store/datasets/iris.csv", "e.g. uri: s3://events/clicks/dt=*/part-*.parquet")),
    Case("dataset-window-both", "Dataset", _all(_set("spec.source.uri", "s3://events/clicks/dt=*/part-*.csv"),
                                                _set("spec.source.window", {"newest": 3, "newerThan": "24h"})),
         "spec.source.window", expect=("newest, newerThan", "e.g. {newest: 7}")),
    Case("dataset-window-newest-zero", "Dataset", _all(_set("spec.source.uri", "s3://events/clicks/"),
                                                       _set("spec.source.window", {"newest": 0})),
         "spec.source.window.newest"),
    Case("dataset-uri-scheme", "Dataset", _set("spec.source.uri", "ftp://host/iris.csv"), "spec.source.uri",
         expect=("ftp://host/iris.csv", "expected a URI with scheme file, s3, http or https")),
    Case("dataset-csv-options-with-parquet", "Dataset", _set("spec.source.format", "parquet"), "spec.source.csv"),
    Case("dataset-column-min-above-max", "Dataset", _set("spec.schema.columns.0.min", "20"),
         "spec.schema.columns[0]"),
    Case("dataset-target-not-declared", "Dataset", _set("spec.schema.target", "label"), "spec.schema.target",
         expect=("label", "name the label column")),
    Case("dataset-duplicate-column", "Dataset", _dup("spec.schema.columns"), "spec.schema.columns[5]"),
    Case("dataset-null-fraction-above-one", "Dataset", _set("spec.validation.maxNullFraction", "1.5"),
         "spec.validation.maxNullFraction", expect=("1.5", "expected a fraction from 0 to 1")),
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
         "spec.search.parallelism", expect=("parallelism 20 > trials 6",)),
    Case("trainingjob-grid-with-range", "TrainingJob",
         _all(_set("spec.search.strategy", "Grid"),
              _set("spec.search.space.0", {"param": "learning_rate", "range": {"min": "0.01", "max": "0.3"}})),
         "spec.search.space"),
    Case("trainingjob-test-fraction-one", "TrainingJob", _set("spec.evaluation.testFraction", "1"),
         "spec.evaluation.testFraction"),
    Case("trainingjob-one-fold", "TrainingJob", _set("spec.evaluation.folds", 1), "spec.evaluation.folds"),
    Case("trainingjob-missing-model-ref", "TrainingJob", _del("spec.modelRef"), "spec.modelRef"),
    Case("trainingjob-bad-digest", "TrainingJob", _set("spec.datasetRef.digest", "md5:abc"),
         "spec.datasetRef.digest", expect=("md5:abc", "expected sha256: and 64 lower-case hex digits")),
    Case("trainingjob-deadline-format", "TrainingJob", _set("spec.deadline", "10 minutes"), "spec.deadline",
         expect=("10 minutes", "expected a duration such as 30s, 5m, 1h30m")),
    Case("trainingjob-float-param", "TrainingJob", _set("spec.estimator.params.learning_rate", 0.1),
         "spec.estimator.params.learning_rate"),
    Case("trainingjob-unknown-metric", "TrainingJob", _set("spec.evaluation.metrics", ["rmse", "auc"]),
         "spec.evaluation.metrics[1]"),
    Case("trainingjob-bad-quantity", "TrainingJob", _set("spec.resources.requests.cpu", "lots"),
         "spec.resources.requests", expect=("lots", "expected a quantity such as 500m, 2 or 1Gi")),
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
         "spec.retraining.triggers.schedule", expect=("weekly", "@weekly")),
    Case("model-keep-last-zero", "Model", _set("spec.retention.keepLast", 0), "spec.retention.keepLast"),
    Case("model-min-drift-without-new-data", "Model", _set("spec.retraining.triggers.newDataMinDrift", "0.2"),
         "spec.retraining.triggers.newDataMinDrift", expect=("0.2", "set newData: true")),
    Case("model-max-per-day-zero", "Model", _set("spec.retraining.maxPerDay", 0), "spec.retraining.maxPerDay"),
    Case("model-retrain-data-both", "Model", _set("spec.retraining.data.datasetRef", {"name": "iris"}),
         "spec.retraining.data"),
    Case("model-estimator-not-allowed-in-template", "Model", _set("spec.training.estimator.class", "Pipeline"),
         "spec.training.estimator.class"),
    # ModelVersion
    Case("modelversion-bad-digest", "ModelVersion", _set("spec.artifact.digest", "sha256:XYZ"),
         "spec.artifact.digest", expect=("sha256:XYZ", "64 lower-case hex digits")),
    Case("modelversion-format", "ModelVersion", _set("spec.artifact.format", "onnx"), "spec.artifact.format"),
    Case("modelversion-onnx-and-failure", "ModelVersion",
         _all(_set("spec.artifact.onnx", {"uri": "file:///var/lib/herder/store/artifacts/x/model.onnx",
                                          "digest": "sha256:" + "c" * 64}),
              _set("spec.artifact.onnxFailure", "not compiled")),
         "spec.artifact", expect=("an ONNX twin or a reason it has none, not both",)),
    Case("modelversion-onnx-traversal", "ModelVersion",
         _set("spec.artifact.onnx", {"uri": "file:///var/lib/herder/store/../etc/model.onnx",
                                     "digest": "sha256:" + "c" * 64}), "spec.artifact.onnx.uri"),
    Case("modelversion-onnx-precision", "ModelVersion",
         _set("spec.artifact.onnx", {"uri": "file:///var/lib/herder/store/artifacts/x/model.onnx",
                                     "digest": "sha256:" + "c" * 64,
                                     "check": {"rows": 3, "labelMismatches": 0, "maxAbsDiff": "0", "maxRelDiff": "0",
                                               "tolerance": "0.00001", "estimatorPrecision": "float16"}}),
         "spec.artifact.onnx.check.estimatorPrecision"),
    Case("modelversion-version-zero", "ModelVersion", _set("spec.version", 0), "spec.version"),
    Case("modelversion-float-metric", "ModelVersion", _set("spec.metrics.accuracy", 0.97), "spec.metrics.accuracy"),
    Case("modelversion-missing-artifact", "ModelVersion", _del("spec.artifact"), "spec.artifact"),
    # ModelDeployment
    Case("mdep-payload-flush-zero", "ModelDeployment", _set("spec.payloadLog.flushInterval", "0s"),
         "spec.payloadLog.flushInterval"),
    Case("mdep-runtime", "ModelDeployment", _set("spec.runtime", "onnx"), "spec.runtime",
         expect=("Auto", "Skops")),
    Case("mdep-weights-not-increasing", "ModelDeployment", _set("spec.strategy.canary.steps.1.weight", 5),
         "spec.strategy.canary.steps", expect=("weight 5 after 10 at steps[1]", "e.g. weights 10, 25, 50, 100")),
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
         "spec.autoscaling.minReplicas", expect=("minReplicas 9 > maxReplicas 6",)),
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
         "spec.analysis.metrics[0].threshold.max", expect=("5%", 'such as "0.05"')),
    Case("mdep-failure-limit-zero", "ModelDeployment", _set(f"{_METRIC}.failureLimit", 0),
         "spec.analysis.metrics[0].failureLimit"),
    Case("mdep-sample-fraction", "ModelDeployment", _set("spec.payloadLog.sampleFraction", "2"),
         "spec.payloadLog.sampleFraction", expect=("2", 'such as "0.05" for 5%')),
    Case("mdep-name-not-a-service-name", "ModelDeployment", _set("metadata.name", "1-iris"), "metadata.name",
         server_only=True),
    Case("mdep-missing-model", "ModelDeployment", _del("spec.model"), "spec.model"),
]

# Issue 17: every rule that needs no lookup is in the schema, and each rejection names the field, the bad value
# and what would be right (the expect substrings: value first, then the hint).
_GW = "spec.trafficRouting"
_HEX = "4f2d6c7a1e5b9d8c3a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291"
_URI_HINT = "name the file directly, e.g. s3://bucket/data/iris.csv"
_DURATION_HINT = "expected a duration such as 30s, 5m, 1h30m"
_ZERO_HINT = "must be longer than zero"
_CRON_HINT = "expected a cron schedule of five fields"
_HOST_HINT = "expected a hostname such as models.example.com"
_RESOURCE_HINT = "use cpu, memory, ephemeral-storage"
_LIMITS_HINT = "raise the limit or lower the request"


def _gateway(*hostnames: str) -> Callable[[dict[str, Any]], None]:
    return _set(_GW, {"type": "GatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gateway"}],
                                                           "hostnames": list(hostnames)}})


CASES += [
    # '..' in data and artifact locations (plain, percent-encoded, between encoded slashes)
    Case("dataset-uri-dotdot", "Dataset", _set("spec.source.uri", "s3://bucket/data/../secrets/iris.csv"),
         "spec.source.uri", expect=("s3://bucket/data/../secrets/iris.csv", _URI_HINT)),
    Case("dataset-uri-encoded-dotdot", "Dataset", _set("spec.source.uri", "s3://bucket/data/%2e%2e/secrets.csv"),
         "spec.source.uri", expect=("%2e%2e/secrets.csv", "percent-encoded", _URI_HINT)),
    Case("dataset-uri-mixed-encoded-dotdot", "Dataset",
         _set("spec.source.uri", "file:///var/lib/herder/store/.%2E/etc/passwd"), "spec.source.uri",
         expect=(".%2E/etc/passwd", _URI_HINT)),
    Case("dataset-uri-dotdot-between-encoded-slashes", "Dataset",
         _set("spec.source.uri", "https://data.example.com/iris%2f..%2fsecret.csv"), "spec.source.uri",
         expect=("iris%2f..%2fsecret.csv", _URI_HINT)),
    Case("dataset-uri-trailing-dotdot", "Dataset", _set("spec.source.uri", "file:///var/lib/herder/store/.."),
         "spec.source.uri", expect=("file:///var/lib/herder/store/..", _URI_HINT)),
    Case("modelversion-artifact-uri-dotdot", "ModelVersion",
         _set("spec.artifact.uri", "s3://models/iris/../other/model.skops"), "spec.artifact.uri",
         expect=("s3://models/iris/../other/model.skops", _URI_HINT)),
    Case("modelversion-metadata-uri-encoded-dotdot", "ModelVersion",
         _set("spec.artifact.metadataUri", "s3://models/iris/%2E%2E/metadata.json"), "spec.artifact.metadataUri",
         expect=("%2E%2E/metadata.json", _URI_HINT)),
    # one column in two groups
    Case("featureset-column-in-two-groups", "FeatureSet", _set("spec.transforms.2.columns", ["tc", "bmi", "glu"]),
         "spec.transforms", expect=("bmi in body and serum", "at most one transform")),
    Case("featureset-columns-in-three-groups", "FeatureSet",
         _all(_set("spec.transforms.1.columns", ["sex", "age"]), _set("spec.transforms.2.columns", ["age", "tc"])),
         "spec.transforms", expect=("age in body and sex", "at most one transform")),
    # zero durations where zero cannot work
    Case("trainingjob-deadline-zero", "TrainingJob", _set("spec.deadline", "0s"), "spec.deadline",
         expect=("0s", _ZERO_HINT, "e.g. 30s, 5m or 1h")),
    Case("trainingjob-deadline-zero-compound", "TrainingJob", _set("spec.deadline", "0h0m"), "spec.deadline",
         expect=("0h0m", _ZERO_HINT)),
    Case("model-template-deadline-zero", "Model", _set("spec.training.deadline", "0m"), "spec.training.deadline",
         expect=("0m", _ZERO_HINT)),
    Case("mdep-analysis-interval-zero", "ModelDeployment", _set("spec.analysis.interval", "0s"),
         "spec.analysis.interval", expect=("0s", _ZERO_HINT)),
    Case("mdep-monitoring-interval-zero", "ModelDeployment", _set("spec.monitoring.interval", "0ms"),
         "spec.monitoring.interval", expect=("0ms", _ZERO_HINT)),
    Case("mdep-metric-window-zero", "ModelDeployment", _set(f"{_METRIC}.window", "0m"),
         "spec.analysis.metrics[0].window", expect=("0m", _ZERO_HINT)),
    Case("model-payload-log-window-zero", "Model", _set("spec.retraining.data.payloadLog.window", "0h"),
         "spec.retraining.data.payloadLog.window", expect=("0h", _ZERO_HINT)),
    Case("mdep-interval-in-words", "ModelDeployment", _set("spec.analysis.interval", "30 seconds"),
         "spec.analysis.interval", expect=("30 seconds", _DURATION_HINT)),
    # training and serving resources
    Case("trainingjob-negative-cpu", "TrainingJob", _set("spec.resources.requests.cpu", "-1"),
         "spec.resources.requests", expect=("-1", "must not be negative")),
    Case("trainingjob-negative-integer-memory", "TrainingJob", _set("spec.resources.limits", {"memory": -5}),
         "spec.resources.limits", expect=("-5", "must not be negative")),
    Case("mdep-negative-memory", "ModelDeployment", _set("spec.resources.limits", {"memory": "-1Gi"}),
         "spec.resources.limits", expect=("-1Gi", "must not be negative")),
    Case("trainingjob-request-above-limit", "TrainingJob", _set("spec.resources.limits", {"cpu": "500m"}),
         "spec.resources.requests", expect=("cpu requests 1 > limits 500m", _LIMITS_HINT)),
    Case("mdep-memory-request-above-limit", "ModelDeployment", _set("spec.resources.limits", {"memory": 128}),
         "spec.resources.requests", expect=("memory requests 256Mi > limits 128", _LIMITS_HINT)),
    Case("trainingjob-misspelt-resource", "TrainingJob", _set("spec.resources.requests.cpus", "1"),
         "spec.resources.requests", expect=("cpus", _RESOURCE_HINT)),
    Case("mdep-misspelt-limit", "ModelDeployment", _set("spec.resources.limits", {"mem": "1Gi"}),
         "spec.resources.limits", expect=("mem", _RESOURCE_HINT)),
    Case("model-template-gpu-without-domain", "Model", _set("spec.training.resources", {"limits": {"gpu": 1}}),
         "spec.training.resources.limits", expect=("gpu", "such as nvidia.com/gpu")),
    Case("trainingjob-quantity-unit", "TrainingJob", _set("spec.resources.requests.memory", "512MB"),
         "spec.resources.requests", expect=("512MB", "expected a quantity such as 500m, 2 or 1Gi")),
    # cron schedules: ranges and words
    Case("model-cron-minute-61", "Model", _set("spec.retraining.triggers.schedule", "61 * * * *"),
         "spec.retraining.triggers.schedule", expect=("61 * * * *", _CRON_HINT)),
    Case("model-cron-hour-24", "Model", _set("spec.retraining.triggers.schedule", "0 24 * * *"),
         "spec.retraining.triggers.schedule", expect=("0 24 * * *", "hour (0-23)")),
    Case("model-cron-five-words", "Model", _set("spec.retraining.triggers.schedule", "every day at 3 am"),
         "spec.retraining.triggers.schedule", expect=("every day at 3 am", _CRON_HINT, "@weekly")),
    Case("model-cron-month-13", "Model", _set("spec.retraining.triggers.schedule", "0 3 1 13 *"),
         "spec.retraining.triggers.schedule", expect=("0 3 1 13 *", "month (1-12 or JAN-DEC)")),
    Case("model-cron-weekday-word", "Model", _set("spec.retraining.triggers.schedule", "0 3 * * SUNDAY"),
         "spec.retraining.triggers.schedule", expect=("0 3 * * SUNDAY", "day of week (0-7 or SUN-SAT)")),
    Case("model-cron-step-zero", "Model", _set("spec.retraining.triggers.schedule", "*/0 * * * *"),
         "spec.retraining.triggers.schedule", expect=("*/0 * * * *", _CRON_HINT)),
    Case("model-cron-day-zero", "Model", _set("spec.retraining.triggers.schedule", "0 0 0 * *"),
         "spec.retraining.triggers.schedule", expect=("0 0 0 * *", "day of month (1-31)")),
    # a promotion gate on a metric the training does not evaluate
    Case("model-gate-metric-not-evaluated", "Model", _set("spec.promotion.gate.metric", "roc_auc"),
         "spec.promotion.gate.metric", expect=("roc_auc; the training evaluates accuracy, f1", "evaluation.metrics")),
    Case("model-gate-metric-not-in-task-defaults", "Model",
         _all(_del("spec.training.evaluation.metrics"), _set("spec.promotion.gate.metric", "rmse")),
         "spec.promotion.gate.metric", expect=("rmse; the training evaluates accuracy, f1", "evaluation.metrics")),
    # Gateway API hostnames
    Case("mdep-hostname-with-scheme", "ModelDeployment", _gateway("https://models.example.com"),
         f"{_GW}.gatewayAPI.hostnames[0]", expect=("https://models.example.com", _HOST_HINT)),
    Case("mdep-hostname-with-port", "ModelDeployment", _gateway("models.example.com", "models.example.com:8080"),
         f"{_GW}.gatewayAPI.hostnames[1]", expect=("models.example.com:8080", _HOST_HINT)),
    Case("mdep-hostname-upper-case", "ModelDeployment", _gateway("Models.Example.com"),
         f"{_GW}.gatewayAPI.hostnames[0]", expect=("Models.Example.com", _HOST_HINT)),
    Case("mdep-hostname-inner-wildcard", "ModelDeployment", _gateway("models.*.example.com"),
         f"{_GW}.gatewayAPI.hostnames[0]", expect=("models.*.example.com", "*.example.com")),
    # pattern failures say what is expected; digests say to add sha256:
    Case("modelversion-bare-hex-digest", "ModelVersion", _set("spec.artifact.digest", _HEX),
         "spec.artifact.digest", expect=(_HEX, "needs the sha256: prefix", f"sha256:{_HEX}")),
    Case("trainingjob-upper-case-digest", "TrainingJob", _set("spec.datasetRef.digest", f"sha256:{_HEX.upper()}"),
         "spec.datasetRef.digest", expect=(_HEX.upper(), "lower case", f"sha256:{_HEX}")),
    Case("dataset-null-fraction-percent", "Dataset", _set("spec.validation.maxNullFraction", "1%"),
         "spec.validation.maxNullFraction", expect=("1%", 'such as "0.05" for 5%')),
    Case("mdep-threshold-float-like", "ModelDeployment", _set(f"{_METRIC}.threshold.max", "1e-2"),
         "spec.analysis.metrics[0].threshold.max", expect=("1e-2", "expected a decimal number as a string")),
    Case("mdep-threshold-bad-bound-beside-a-good-one", "ModelDeployment",
         _set(f"{_METRIC}.threshold", {"min": "low", "max": "0.01"}), "spec.analysis.metrics[0].threshold.min",
         expect=("low", "expected a decimal number")),
    # cross-field and list rules name the values that broke them
    Case("mdep-weights-decreasing", "ModelDeployment", _set("spec.strategy.canary.steps.3.weight", 40),
         "spec.strategy.canary.steps", expect=("weight 40 after 50 at steps[3]", "e.g. weights 10, 25, 50, 100")),
    Case("mdep-min-replicas-above-max-values", "ModelDeployment",
         _set("spec.autoscaling", {"minReplicas": 12, "maxReplicas": 4}), "spec.autoscaling.minReplicas",
         expect=("minReplicas 12 > maxReplicas 4", "e.g. minReplicas 2, maxReplicas 10")),
    Case("trainingjob-parallelism-above-trials-values", "TrainingJob",
         _all(_set("spec.search.trials", 3), _set("spec.search.parallelism", 8)), "spec.search.parallelism",
         expect=("parallelism 8 > trials 3", "e.g. trials 20 with parallelism 4")),
    Case("trainingjob-dimension-values-and-range", "TrainingJob",
         _set("spec.search.space.0.range", {"min": "0.01", "max": "0.3"}), "spec.search.space[0]",
         expect=("got values, range", "e.g. {param: max_depth")),
    Case("mdep-replicas-and-autoscaling-values", "ModelDeployment", _set("spec.replicas", 3), "spec.replicas",
         expect=("replicas 3 and autoscaling", "remove replicas, or remove autoscaling")),
    Case("featureset-no-encoder-says-none", "FeatureSet", _del("spec.transforms.1.oneHot"), "spec.transforms[1]",
         expect=("got none", "e.g. scale: {} or oneHot: {}")),
    Case("featureset-two-encoders-says-which", "FeatureSet", _set("spec.transforms.1.passthrough", {}),
         "spec.transforms[1]", expect=("got oneHot, passthrough", "e.g. scale: {}")),
    Case("model-retrain-data-both-says-which", "Model", _set("spec.retraining.data.datasetRef", {"name": "iris"}),
         "spec.retraining.data", expect=("got datasetRef, payloadLog", "not both")),
    Case("dataset-target-lists-declared-columns", "Dataset", _set("spec.schema.target", "label"),
         "spec.schema.target", expect=("label; declared: sepal_length, sepal_width", "name the label column")),
    Case("trainingjob-grid-names-ranged-params", "TrainingJob",
         _all(_set("spec.search.strategy", "Grid"),
              _set("spec.search.space.1", {"param": "max_depth", "range": {"min": "2", "max": "8"}})),
         "spec.search.space", expect=("range for max_depth", "or use strategy Random")),
    Case("mdep-strategy-type-says-what-is-set", "ModelDeployment", _set("spec.strategy.type", "BlueGreen"),
         "spec.strategy", expect=("type BlueGreen with canary", "{type: BlueGreen, blueGreen: {}}")),
]
