"""Shared vocabulary of every Herder kind: the wire conventions, scalar types, references, resources, conditions
and the metric/threshold language used by analysis, monitoring, retraining triggers and the promotion gate.

Why the scalar types look the way they do:
- no floats anywhere: a float in YAML round-trips lossily and diffs noisily in GitOps, so thresholds, fractions and
  metric values are decimal *strings* validated by a pattern (parse them with :func:`to_decimal`);
- durations are Go-style strings ("30s", "1h30m"), the same format Kubernetes uses for ``metav1.Duration``;
- every string has a ``maxLength`` and every list a ``maxItems``, so the API server can bound the cost of the CEL
  rules that iterate them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from herder import API_GROUP, API_VERSION

API_VERSION_STRING = f"{API_GROUP}/{API_VERSION}"

CEL = "x-kubernetes-validations"
"""The OpenAPI extension that carries CEL rules; models put rules under this key in ``json_schema_extra``."""


def rule(expression: str, message: str, *, value: str | None = None, reason: str | None = None,
         field_path: str | None = None, optional_old_self: bool = False) -> dict[str, Any]:
    """One CEL validation rule in the shape ``x-kubernetes-validations`` expects. ``value`` is a CEL string
    expression for the bad value: the rejection then reads "<message> (got <value>)", like the models' errors.
    (Only string values: the API server estimates ``string(int)`` as unbounded and refuses the CRD.)"""
    out: dict[str, Any] = {"rule": expression, "message": message}
    if value:
        out["messageExpression"] = f"{message!r} + ' (got ' + {value} + ')'"
    if reason:
        out["reason"] = reason
    if field_path:
        out["fieldPath"] = field_path
    if optional_old_self:
        out["optionalOldSelf"] = True
    return out


def rules(*items: dict[str, Any]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules (for ``model_config`` or ``Field``)."""
    return {CEL: list(items)}


def exactly_one_of(*fields: str) -> dict[str, Any]:
    """A CEL rule: exactly one of ``fields`` is set (the Kubernetes "one-of" union pattern)."""
    has = ", ".join(f"has(self.{f})" for f in fields)
    names = ", ".join(fields)
    return rule(f"[{has}].filter(x, x).size() == 1", f"exactly one of {names} must be set")


def at_most_one_of(*fields: str) -> dict[str, Any]:
    """A CEL rule: at most one of ``fields`` is set."""
    has = ", ".join(f"has(self.{f})" for f in fields)
    names = ", ".join(fields)
    return rule(f"[{has}].filter(x, x).size() <= 1", f"at most one of {names} may be set")


class WireModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python, unknown fields rejected, and field
    docstrings used as descriptions (they become ``kubectl explain`` text)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ---------------------------------------------------------------------------------------------- scalar types
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,12})?$"
FRACTION_PATTERN = r"^(0(\.[0-9]{1,12})?|1(\.0{1,12})?)$"
DURATION_PATTERN = r"^([0-9]{1,6}(ms|s|m|h))+$"
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
URI_PATTERN = r"^(file|s3|https?)://[^\s]+$"
CRON_PATTERN = r"^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$"
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)"
                    r"|(\.[0-9]+))))?$")

DecimalString = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN, max_length=32)]
"""A decimal number written as a string ("0.05", "-1.5", "200"): exact, no float rounding."""
Fraction = Annotated[str, StringConstraints(pattern=FRACTION_PATTERN, max_length=16)]
"""A decimal string between 0 and 1 inclusive ("0.05" means 5%)."""
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=32)]
"""A Go-style duration: "500ms", "30s", "5m", "1h30m"."""
Digest = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN, max_length=71)]
"""A content digest, "sha256:" followed by 64 lower-case hex digits."""
Name = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]
"""The name of a Kubernetes object (DNS-1123 subdomain)."""
LabelName = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
"""A short DNS-1123 label, used for names of list entries (metrics, transforms)."""
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A dataset column / model feature name."""
ParamName = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=64)]
"""A scikit-learn parameter name, e.g. "max_depth" or "classifier__C"."""
Uri = Annotated[str, StringConstraints(pattern=URI_PATTERN, max_length=2048)]
"""A data or artifact location: file://, s3://, http:// or https:// (read through fsspec)."""
Time = Annotated[str, Field(max_length=64, json_schema_extra={"format": "date-time"})]
"""An RFC 3339 timestamp, e.g. "2026-01-02T03:04:05Z"."""
Message = Annotated[str, StringConstraints(max_length=32768)]
"""Free human-readable text."""
Reason = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)]
"""A CamelCase machine-readable reason."""
IntOrString = Annotated[int | Annotated[str, StringConstraints(max_length=1024)],
                        Field(json_schema_extra={"x-kubernetes-int-or-string": True})]
"""An integer or a string (strings are parsed by the consumer, e.g. "0.5" for a float parameter)."""
Quantity = Annotated[int | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=64)],
                     Field(json_schema_extra={"x-kubernetes-int-or-string": True})]
"""A Kubernetes resource quantity such as 500m, 2, 1Gi."""



def check_min_max(low: str | None, high: str | None) -> None:
    """Raise when both decimal bounds are set and ``low > high`` (the Python twin of the CEL rule)."""
    if low is not None and high is not None and to_decimal(low) > to_decimal(high):
        raise ValueError(f"min {low} must not be greater than max {high}")


def to_decimal(value: str) -> Decimal:
    """Parse a :data:`DecimalString` / :data:`Fraction` (already pattern-checked on the wire) into a Decimal."""
    try:
        return Decimal(value)
    except InvalidOperation as e:
        raise ValueError(f"not a decimal number: {value!r}") from e


def from_decimal(value: Decimal | float | int, places: int = 6) -> str:
    """Render a number as a :data:`DecimalString` (for status values written by the operator)."""
    d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    q = d.quantize(Decimal(1).scaleb(-places)).normalize()
    text = format(q, "f")
    return "0" if text in {"-0", "0"} else text


_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def duration_ms(value: str) -> int:
    """Milliseconds in a :data:`Duration` string ("1m30s" -> 90000)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"not a duration: {value!r} (expected e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _UNIT_MS[u] for n, u in _DURATION_PART.findall(value))


def duration_seconds(value: str) -> float:
    """Seconds in a :data:`Duration` string."""
    return duration_ms(value) / 1000


def digest_hex(digest: str) -> str:
    """The bare hex of a ``sha256:`` digest (what ``herder serve --sha256`` takes)."""
    if not re.fullmatch(DIGEST_PATTERN, digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return digest.removeprefix("sha256:")


def sha256_digest(hex_value: str) -> str:
    """A ``sha256:<hex>`` digest from bare hex."""
    digest = f"sha256:{hex_value.lower()}"
    if not re.fullmatch(DIGEST_PATTERN, digest):
        raise ValueError(f"not a sha256 hex digest: {hex_value!r}")
    return digest


# ---------------------------------------------------------------------------------------------- references
class LocalRef(WireModel):
    """A reference to another Herder object in the same namespace."""

    name: Name
    """Name of the referenced object (same namespace)."""


class ObjectMeta(BaseModel):
    """The parts of Kubernetes ``metadata`` Herder reads; everything else the API server sends is kept as is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    namespace: str | None = None
    generate_name: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    deletion_timestamp: str | None = None


# ---------------------------------------------------------------------------------------------- resources
class Resources(WireModel):
    """Compute resources of the pods Herder creates (same meaning as a container's ``resources``)."""

    requests: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None
    """Minimum resources to reserve, e.g. {cpu: 500m, memory: 512Mi}."""
    limits: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None
    """Maximum resources the container may use, e.g. {memory: 1Gi}."""


# ---------------------------------------------------------------------------------------------- conditions
ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(WireModel):
    """One aspect of the object's state (Kubernetes API conventions): PascalCase type, CamelCase reason, and the
    generation it was computed from. lastTransitionTime moves only when status flips."""

    type: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=316)]
    """Condition type in PascalCase: Ready, Progressing, Degraded, Succeeded, Failed, Rejected, ..."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Reason
    """CamelCase machine-readable reason for the last change, e.g. InvalidSpec, DatasetNotFound."""
    message: Message | None = None
    """Human-readable detail: names the object, field and value involved."""
    last_transition_time: Time
    """When status last changed (not when the condition was last checked)."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """metadata.generation of the spec this condition was computed from."""


Conditions = Annotated[list[Condition], Field(max_length=32, json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})]


# ---------------------------------------------------------------------------------------------- metrics
MetricProvider = Literal["Builtin", "Prometheus"]
BuiltinMetric = Literal[
    "ErrorRate", "LatencyP50", "LatencyP90", "LatencyP95", "LatencyP99", "RequestRate",
    "Accuracy", "MeanAbsoluteError", "FeatureDriftPSI", "FeatureDriftJensenShannon", "PredictionDriftPSI",
]
BUILTIN_METRICS: tuple[str, ...] = BuiltinMetric.__args__  # type: ignore[attr-defined]
"""Metrics the builtin provider computes from the serving pods' ``/metrics`` (and the training baseline)."""

EvaluationMetric = Literal["accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc", "log_loss",
                           "rmse", "mae", "r2"]
EVALUATION_METRICS: tuple[str, ...] = EvaluationMetric.__args__  # type: ignore[attr-defined]
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae"})
"""Offline evaluation metrics where a smaller value is better (the gate's relative gain flips sign for them)."""
CLASSIFICATION_METRICS: frozenset[str] = frozenset(
    {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"})
REGRESSION_METRICS: frozenset[str] = frozenset({"rmse", "mae", "r2"})


class Threshold(WireModel):
    """Bounds a measured value must stay within to pass; decimal strings, at least one bound."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("has(self.min) || has(self.max)", "at least one of min or max must be set"),
        rule("!has(self.min) || !has(self.max) || double(self.min) <= double(self.max)",
             "min must not be greater than max", value="self.min + ' > ' + self.max"),
    ))

    min: DecimalString | None = None
    """Lowest passing value (inclusive), e.g. "0.9" for accuracy."""
    max: DecimalString | None = None
    """Highest passing value (inclusive), e.g. "0.05" for an error rate or "0.25" for PSI."""

    @model_validator(mode="after")
    def _bounds(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("at least one of min or max must be set")
        check_min_max(self.min, self.max)
        return self

    def passes(self, value: Decimal) -> bool:
        """Whether ``value`` is within the bounds."""
        if self.min is not None and value < to_decimal(self.min):
            return False
        return not (self.max is not None and value > to_decimal(self.max))


NoDataPolicy = Literal["Inconclusive", "Fail"]


class MetricCheck(WireModel):
    """One live metric measured every interval and compared with a threshold. The same vocabulary is used by
    rollout analysis, post-promotion monitoring and retraining triggers."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.provider == 'Builtin' ? (has(self.metric) && !has(self.query)) : (has(self.query) && "
             "!has(self.metric))", "Builtin metrics need metric (and no query); Prometheus metrics need query "
             "(and no metric)", value="'provider ' + self.provider"),
    ))

    name: LabelName
    """Unique name of this check; used on status, in Events and in the Model history."""
    provider: MetricProvider = "Builtin"
    """Where the value comes from: Builtin (the serving pods' /metrics) or Prometheus (a PromQL query)."""
    metric: BuiltinMetric | None = None
    """Builtin metric to measure (provider Builtin)."""
    query: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    """PromQL query returning one scalar (provider Prometheus). {{namespace}}, {{deployment}}, {{version}} and
    {{window}} are substituted."""
    threshold: Threshold
    """Passing range of the measured value."""
    window: Duration | None = None
    """Span of data each measurement covers; defaults to the analysis interval."""
    min_samples: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    """Fewest requests (or labelled predictions for quality metrics) in the window for a conclusive measurement;
    below it the measurement is inconclusive, never a pass."""
    failure_limit: Annotated[int, Field(ge=1, le=100)] = 1
    """Consecutive failed measurements that count as a breach."""
    no_data: NoDataPolicy = "Inconclusive"
    """What a measurement without enough data means: Inconclusive (wait) or Fail (count as a failure)."""

    @model_validator(mode="after")
    def _provider_fields(self) -> MetricCheck:
        builtin = self.provider == "Builtin"
        if builtin != (self.metric is not None) or builtin == (self.query is not None):
            raise ValueError("Builtin metrics need metric (and no query); "
                             "Prometheus metrics need query (and no metric)")
        return self


MetricChecks = Annotated[list[MetricCheck], Field(min_length=1, max_length=16, json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]

Verdict = Literal["Pass", "Fail", "Inconclusive"]
DecimalMap = Annotated[dict[str, DecimalString], Field(max_length=256)]
"""Name -> value as a decimal string (metrics, per-feature drift)."""


class MetricValue(WireModel):
    """The latest measurement of one metric check, as written on status."""

    name: LabelName
    """Name of the metric check."""
    value: DecimalString | None = None
    """Measured value (absent when there was no data)."""
    verdict: Verdict
    """Pass, Fail or Inconclusive."""
    samples: Annotated[int, Field(ge=0)] | None = None
    """Requests or labelled predictions the measurement was based on."""
    consecutive_failures: Annotated[int, Field(ge=0)] | None = None
    """Failed measurements in a row so far."""
    measured_at: Time | None = None
    """When the measurement was taken."""
    version: Annotated[int, Field(ge=1)] | None = None
    """Model version measured."""
    features: DecimalMap | None = None
    """Per-feature values of drift metrics (the metric's value is the largest)."""
    message: Message | None = None
    """Explanation, e.g. which feature drifted most or why the measurement was inconclusive."""


MetricValues = Annotated[list[MetricValue], Field(max_length=64, json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]
