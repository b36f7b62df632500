"""ModelDeployment: serve a model version (fixed, or following an alias) behind a REST endpoint, roll new versions
out progressively with live analysis, monitor after promotion, and roll back to the last good version -- all
recorded on status, never by editing the spec."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from herder.api.common import (
    PATH_PREFIX_PATTERN,
    ColumnName,
    Conditions,
    Duration,
    Fraction,
    Hostname,
    LabelName,
    Message,
    MetricChecks,
    MetricValues,
    Name,
    PositiveDuration,
    Reason,
    Resources,
    Time,
    WireModel,
    cel_first_index,
    cel_int,
    exactly_one_of,
    one_of_message,
    rule,
    rules,
)
from herder.api.model import Alias

StrategyType = Literal["Canary", "BlueGreen"]
TrafficRoutingType = Literal["Replicas", "GatewayAPI"]
BreachAction = Literal["Rollback", "Alert"]

MAX_CANARY_STEPS = 20
SELECTOR_HINT = "e.g. {name: iris, alias: production} or {name: iris, version: 3}"
AUTOSCALING_HINT = "e.g. minReplicas 2, maxReplicas 10"
CANARY_HINT = "e.g. weights 10, 25, 50, 100"
STRATEGY_HINT = "e.g. {type: Canary, canary: {steps: [{weight: 10}]}} or {type: BlueGreen, blueGreen: {}}"
ROUTING_HINT = "e.g. {type: GatewayAPI, gatewayAPI: {parentRefs: [{name: gateway}]}} or {type: Replicas}"
SCALING_HINT = "autoscaling sets the replica count: remove replicas, or remove autoscaling"


class ModelSelector(WireModel):
    """Which version to serve: a fixed version number, or whatever an alias of the Model points at."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("version", "alias", hint=SELECTOR_HINT)))

    name: Name
    """Name of the Model (same namespace)."""
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    """A fixed version number."""
    alias: Alias | None = None
    """Follow an alias: production (rolls out each promotion) or candidate."""

    @model_validator(mode="after")
    def _one(self) -> ModelSelector:
        if (self.version is None) == (self.alias is None):
            given = [n for n, v in (("version", self.version), ("alias", self.alias)) if v is not None]
            raise ValueError(one_of_message(("version", "alias"), given, SELECTOR_HINT))
        return self


class Autoscaling(WireModel):
    """A HorizontalPodAutoscaler for the stable track."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.minReplicas <= self.maxReplicas", "minReplicas must not exceed maxReplicas",
             value=f"'minReplicas ' + {cel_int('self.minReplicas', 4)} + ' > maxReplicas ' + "
                   f"{cel_int('self.maxReplicas', 4)}", hint=AUTOSCALING_HINT, field_path=".minReplicas"),
    ))

    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    """Fewest replicas."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)]
    """Most replicas."""
    target_cpu_utilization: Annotated[int, Field(ge=1, le=100)] = 80
    """Average CPU utilization (percent of requests) to keep."""

    @model_validator(mode="after")
    def _range(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas must not exceed maxReplicas (got minReplicas {self.min_replicas} > "
                             f"maxReplicas {self.max_replicas}); {AUTOSCALING_HINT}")
        return self


class CanaryStep(WireModel):
    """One step of a canary rollout: shift traffic, then hold while analysis runs."""

    weight: Annotated[int, Field(ge=1, le=100)]
    """Percent of traffic sent to the new version during this step."""
    pause: Duration | None = None
    """How long to hold this step (with analysis running) before the next; the analysis interval times failureLimit of
    the slowest metric when omitted."""


_DROP = cel_first_index("self", "s", "i > 0 && s.weight <= self[i - 1].weight")
"""CEL: the index of the first canary step whose weight is not above the one before."""


class Canary(WireModel):
    """Progressive rollout in weighted steps; after the last step the new version becomes stable."""

    steps: Annotated[list[CanaryStep], Field(min_length=1, max_length=MAX_CANARY_STEPS, json_schema_extra=rules(
        rule("self.map(s, s.weight).isSorted() && self.all(s, self.exists_one(t, t.weight == s.weight))",
             "canary step weights must be strictly increasing",
             value=f"'weight ' + {cel_int(f'self[{_DROP}].weight', 3)} + ' after ' + "
                   f"{cel_int(f'self[{_DROP} - 1].weight', 3)} + ' at steps[' + {cel_int(_DROP, 2)} + ']'",
             hint=CANARY_HINT),
    ))]
    """Steps with strictly increasing weights (each at most 100)."""

    @model_validator(mode="after")
    def _increasing(self) -> Canary:
        weights = [s.weight for s in self.steps]
        drops = [i for i, (a, b) in enumerate(itertools.pairwise(weights), start=1) if b <= a]
        if drops:  # the first, like the CEL message
            i = drops[0]
            raise ValueError(f"canary step weights must be strictly increasing (got weight {weights[i]} after "
                             f"{weights[i - 1]} at steps[{i}]); {CANARY_HINT}")
        return self


class BlueGreen(WireModel):
    """Bring the new version up at full size beside the old one, analyse it on preview traffic, then switch."""

    preview_replicas: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Replicas of the new version before the switch; the stable count when omitted."""
    auto_promote: bool = True
    """Switch automatically when analysis passes (otherwise wait for the herder.dev/promote annotation)."""
    scale_down_delay: Duration = "30s"
    """How long the old version keeps running after the switch (for a quick rollback and draining)."""


class Strategy(WireModel):
    """How a change of the served version is rolled out."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.type == 'Canary' ? (has(self.canary) && !has(self.blueGreen)) : "
             "(has(self.blueGreen) && !has(self.canary))",
             "type Canary needs canary (and no blueGreen); type BlueGreen needs blueGreen (and no canary)",
             value="'type ' + self.type + (has(self.canary) ? ' with canary' : '') + "
                   "(has(self.blueGreen) ? ' with blueGreen' : '') + "
                   "(!has(self.canary) && !has(self.blueGreen) ? ' with neither' : '')",
             hint=STRATEGY_HINT),
    ))

    type: StrategyType = "Canary"
    """Canary or BlueGreen."""
    canary: Canary | None = None
    """Canary steps (type Canary)."""
    blue_green: BlueGreen | None = None
    """Blue/green settings (type BlueGreen)."""

    @model_validator(mode="after")
    def _matches_type(self) -> Strategy:
        want_canary = self.type == "Canary"
        if want_canary != (self.canary is not None) or want_canary == (self.blue_green is not None):
            given = [n for n, v in (("canary", self.canary), ("blueGreen", self.blue_green)) if v is not None]
            raise ValueError("type Canary needs canary (and no blueGreen); type BlueGreen needs blueGreen "
                             f"(and no canary) (got type {self.type} with {' and '.join(given) or 'neither'}); "
                             f"{STRATEGY_HINT}")
        return self


class ParentRef(WireModel):
    """A Gateway the HTTPRoute attaches to."""

    name: Name
    """Gateway name."""
    namespace: Name | None = None
    """Gateway namespace (the ModelDeployment's when omitted)."""
    section_name: LabelName | None = None
    """Listener name on the Gateway."""


class GatewayAPI(WireModel):
    """Split traffic with a Gateway API HTTPRoute (stable and canary each get a Service and a weighted backend)."""

    parent_refs: Annotated[list[ParentRef], Field(min_length=1, max_length=16)]
    """Gateways to attach the HTTPRoute to."""
    hostnames: Annotated[list[Hostname], Field(max_length=16)] | None = None
    """Hostnames the route matches, e.g. models.example.com or *.example.com."""
    path_prefix: Annotated[str, StringConstraints(pattern=PATH_PREFIX_PATTERN, max_length=1024)] | None = None
    """Path prefix the route matches; / when omitted."""


class TrafficRouting(WireModel):
    """How traffic is split between stable and canary."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.type == 'GatewayAPI' ? has(self.gatewayAPI) : !has(self.gatewayAPI)",
             "gatewayAPI is required with type GatewayAPI and not allowed otherwise",
             value="'type ' + self.type + (has(self.gatewayAPI) ? ' with gatewayAPI' : ' without gatewayAPI')",
             hint=ROUTING_HINT),
    ))

    type: TrafficRoutingType = "Replicas"
    """Replicas (by ready-replica ratio behind one Service; no mesh needed) or GatewayAPI (HTTPRoute weights)."""
    gateway_api: Annotated[GatewayAPI | None, Field(alias="gatewayAPI")] = None
    """HTTPRoute settings (type GatewayAPI)."""

    @model_validator(mode="after")
    def _matches_type(self) -> TrafficRouting:
        if (self.type == "GatewayAPI") != (self.gateway_api is not None):
            given = "with" if self.gateway_api is not None else "without"
            raise ValueError(f"gatewayAPI is required with type GatewayAPI and not allowed otherwise (got type "
                             f"{self.type} {given} gatewayAPI); {ROUTING_HINT}")
        return self


class Analysis(WireModel):
    """Live analysis during a rollout: every interval each metric is measured for the new version; failureLimit
    consecutive failures of one metric abort the rollout."""

    interval: PositiveDuration = "30s"
    """Time between measurements."""
    metrics: MetricChecks
    """Metric checks (unique names)."""


class Monitoring(WireModel):
    """Watch the stable version after promotion with the same metric vocabulary."""

    interval: PositiveDuration = "1m"
    """Time between measurements."""
    metrics: MetricChecks
    """Metric checks (unique names)."""
    on_breach: BreachAction = "Rollback"
    """Rollback (to the last known-good version) or Alert (condition and Event only)."""


class Batching(WireModel):
    """Adaptive micro-batching in the model server."""

    max_batch_size: Annotated[int, Field(ge=1, le=4096)] = 32
    """Most rows per model call."""
    max_wait: Duration = "2ms"
    """Longest a request waits for others to fill a batch."""


class PayloadLog(WireModel):
    """Sample requests and predictions, and every feedback label, to the store: rotated parquet parts under
    payloads/<namespace>/<model>/v<version>/dt=<day>/hour=<hour>/ (joined by request id for retraining)."""

    sample_fraction: Fraction
    """Share of requests logged, e.g. "0.1"."""
    flush_interval: PositiveDuration = "5s"
    """Longest a record waits in the server's memory: what a crashed (SIGKILLed) pod can lose at most. A graceful
    shutdown loses nothing."""
    exclude: Annotated[list[ColumnName], Field(max_length=256)] | None = None
    """Features never written (their values are logged as null), e.g. personal data."""


class ModelDeploymentSpec(WireModel):
    """Serve a Model version behind a REST endpoint and roll changes out safely."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!(has(self.replicas) && has(self.autoscaling))", "set replicas or autoscaling, not both",
             value=f"'replicas ' + {cel_int('self.replicas', 4)} + ' and autoscaling'", hint=SCALING_HINT,
             field_path=".replicas"),
    ))

    model: ModelSelector
    """Model and version (or alias) to serve."""
    replicas: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Replicas of the stable track when not autoscaled (1 when omitted)."""
    autoscaling: Autoscaling | None = None
    """Autoscale the stable track instead of a fixed replica count."""
    resources: Resources | None = None
    """Resources of each serving pod."""
    strategy: Strategy | None = None
    """How version changes roll out; without it a change replaces the version at once."""
    traffic_routing: TrafficRouting | None = None
    """How traffic is split during a rollout; Replicas when omitted."""
    analysis: Analysis | None = None
    """Live analysis during rollouts."""
    monitoring: Monitoring | None = None
    """Monitoring after promotion."""
    batching: Batching | None = None
    """Server micro-batching."""
    payload_log: PayloadLog | None = None
    """Request/prediction logging for retraining."""
    runtime: Literal["Auto", "Skops"] = "Auto"
    """Auto serves a version's ONNX twin with onnxruntime when it has one (see the ModelVersion's Compiled
    condition), else its skops artifact; Skops always serves the skops artifact."""

    @model_validator(mode="after")
    def _scaling(self) -> ModelDeploymentSpec:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError(f"set replicas or autoscaling, not both (got replicas {self.replicas} and autoscaling); "
                             f"{SCALING_HINT}")
        return self


# ---------------------------------------------------------------------------------------------- status
class Rollback(WireModel):
    """The last automated rollback."""

    from_: Annotated[int, Field(alias="from", ge=1)]
    """Version rolled back from."""
    to: Annotated[int, Field(ge=1)] | None = None
    """Version rolled back to (absent when a rollout was aborted before any version was stable)."""
    reason: Reason
    """CamelCase reason, e.g. AnalysisFailed, MonitoringBreach."""
    message: Message | None = None
    """Which metric breached, with its values."""
    at: Time
    """When it happened."""


HANDLED_VALUE_MAX = 256
HandledValue = Annotated[str, StringConstraints(max_length=HANDLED_VALUE_MAX)]


class HandledRequests(WireModel):
    """The value of each request annotation (herder.dev/promote, retry, rollback) the operator last handled. The
    annotations stay on the object (the operator never removes them); a value different from the one recorded here
    is a new request, so each request acts exactly once, also across operator restarts."""

    promote: HandledValue | None = None
    """Last herder.dev/promote value handled (a value longer than 256 characters as "sha256:" and its digest)."""
    retry: HandledValue | None = None
    """Last herder.dev/retry value handled (a value longer than 256 characters as "sha256:" and its digest)."""
    rollback: HandledValue | None = None
    """Last herder.dev/rollback value handled (a value longer than 256 characters as "sha256:" and its digest)."""


class TrackStatus(WireModel):
    """Replica counts of one serving track."""

    version: Annotated[int, Field(ge=1)] | None = None
    """Version served by the track."""
    replicas: Annotated[int, Field(ge=0)] | None = None
    """Desired replicas."""
    ready_replicas: Annotated[int, Field(ge=0)] | None = None
    """Ready replicas."""


class ModelDeploymentStatus(WireModel):
    """Serving and rollout state."""

    observed_generation: int | None = None
    """metadata.generation the status was computed from."""
    conditions: Conditions | None = None
    """Ready, Progressing and Degraded, with reasons such as ModelNotFound, VersionRejected, AnalysisFailed."""
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    """Base URL of the endpoint inside the cluster."""
    resolved_version: Annotated[int, Field(ge=1)] | None = None
    """Version the spec resolves to now (through the alias)."""
    stable_version: Annotated[int, Field(ge=1)] | None = None
    """Version serving most traffic."""
    canary_version: Annotated[int, Field(ge=1)] | None = None
    """Version being rolled out."""
    canary_weight: Annotated[int, Field(ge=0, le=100)] | None = None
    """Percent of traffic on the canary."""
    current_step: Annotated[int, Field(ge=0, le=MAX_CANARY_STEPS)] | None = None
    """Index of the current canary step (0-based)."""
    step_started_at: Time | None = None
    """When the current step started."""
    aborted_version: Annotated[int, Field(ge=1)] | None = None
    """Version whose rollout was aborted, or which was rolled back after promotion (monitoring breach or the
    herder.dev/rollback annotation); it is not rolled out again until the spec changes (a new generation) or a new
    herder.dev/retry value."""
    aborted_generation: Annotated[int, Field(ge=0)] | None = None
    """metadata.generation when abortedVersion was recorded: a later generation retries the version."""
    last_known_good_version: Annotated[int, Field(ge=1)] | None = None
    """Last version that completed a rollout and passed monitoring: the rollback target. With spec.monitoring, a
    promoted version becomes last known-good after as many consecutive passing monitoring intervals as the largest
    failureLimit of spec.monitoring.metrics (until then the previous good version stays here); without monitoring,
    at promotion."""
    monitoring_passed_intervals: Annotated[int, Field(ge=0)] | None = None
    """Consecutive monitoring intervals in which every check of the stable version passed (a failed check resets it,
    an inconclusive one keeps it); counts towards lastKnownGoodVersion."""
    handled_requests: HandledRequests | None = None
    """Request annotations already acted on."""
    last_rollback: Rollback | None = None
    """The last automated rollback."""
    analysis_metrics: MetricValues | None = None
    """Latest analysis measurements of the rollout in progress (or of the last one)."""
    monitoring_metrics: MetricValues | None = None
    """Latest monitoring measurements of the stable version."""
    stable: TrackStatus | None = None
    """Stable track replicas."""
    canary: TrackStatus | None = None
    """Canary track replicas."""
    message: Message | None = None
    """Summary of the current state for humans."""
