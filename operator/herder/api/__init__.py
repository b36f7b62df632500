"""Herder's API (group herder.dev, version v1alpha1): pydantic models of the six kinds -- the single source of
truth for the CRDs (``herder crds generate``), the controllers and the examples.

Use :data:`KINDS` for names and models, :func:`parse_spec` / :func:`parse_object` to turn a body into models
(errors name the field path and value). Conditions are merged in one place (herder.policy.conditions, pure: the
controllers and the policies share its value type), and every timestamp is formatted by
herder.policy.timestamps.rfc3339.
"""

from herder.api.common import (
    API_VERSION_STRING,
    Condition,
    LocalRef,
    MetricCheck,
    Resources,
    Threshold,
    WireModel,
    digest_hex,
    duration_ms,
    duration_seconds,
    from_decimal,
    sha256_digest,
    to_decimal,
)
from herder.api.objects import (
    AnyResource,
    Dataset,
    FeatureSet,
    Model,
    ModelDeployment,
    ModelVersion,
    Resource,
    TrainingJob,
)
from herder.api.parsing import InvalidSpecError, parse_model, parse_object, parse_spec, parse_status
from herder.api.registry import BY_PLURAL, CATEGORY, KINDS, KindInfo, PrinterColumn, kind_info

__all__ = [
    "API_VERSION_STRING",
    "BY_PLURAL",
    "CATEGORY",
    "KINDS",
    "AnyResource",
    "Condition",
    "Dataset",
    "FeatureSet",
    "InvalidSpecError",
    "KindInfo",
    "LocalRef",
    "MetricCheck",
    "Model",
    "ModelDeployment",
    "ModelVersion",
    "PrinterColumn",
    "Resource",
    "Resources",
    "Threshold",
    "TrainingJob",
    "WireModel",
    "digest_hex",
    "duration_ms",
    "duration_seconds",
    "from_decimal",
    "kind_info",
    "parse_model",
    "parse_object",
    "parse_spec",
    "parse_status",
    "sha256_digest",
    "to_decimal",
]
