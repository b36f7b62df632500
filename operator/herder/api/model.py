"""Model: the registry entry of one prediction task -- its versions, aliases (``candidate``, ``production``), the
promotion gate, the retraining policy and retention. The operator moves aliases and records history on status;
it never edits the spec (GitOps stays in sync)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from herder.api.common import (
    Conditions,
    CronSchedule,
    DecimalMap,
    DecimalString,
    Duration,
    EvaluationMetric,
    LocalRef,
    Message,
    MetricChecks,
    MetricValues,
    Name,
    PositiveDuration,
    Reason,
    Time,
    WireModel,
    at_most_one_of,
    cel_string,
    check_min_max,
    min_max_rule,
    one_of_message,
    rule,
    rules,
)
from herder.api.training import DEFAULT_METRICS, TrainingTemplate

Task = Literal["Classification", "Regression"]
Alias = Literal["production", "candidate"]


class PromotionGate(WireModel):
    """Offline gate a new version must pass on its holdout metrics: an absolute bound and a relative gain over the
    current production version. A failing version is marked Rejected with the numbers."""

    model_config = ConfigDict(json_schema_extra=rules(min_max_rule(hint='e.g. {metric: rmse, max: "55"}')))

    metric: EvaluationMetric
    """Holdout metric compared (must be one the training evaluates)."""
    min: DecimalString | None = None
    """Lowest acceptable value (for metrics where higher is better), e.g. "0.9" accuracy."""
    max: DecimalString | None = None
    """Highest acceptable value (for error metrics such as rmse)."""
    min_relative_gain: DecimalString | None = None
    """Smallest improvement over production as a fraction of production's value (direction-aware: a lower rmse is
    a gain), e.g. "0.01" for 1%; "0" accepts ties; negative tolerates a small regression."""

    @model_validator(mode="after")
    def _bounds(self) -> PromotionGate:
        check_min_max(self.min, self.max, hint='e.g. {metric: rmse, max: "55"}')
        return self


class Promotion(WireModel):
    """How a new version becomes candidate and then production."""

    gate: PromotionGate | None = None
    """Offline gate; without it every successful version becomes candidate."""
    auto_promote: bool = True
    """Make a version production as soon as it passes the gate (ModelDeployments following production then roll
    it out, and a live failure rolls production back); when false, a passing version becomes the candidate and
    production moves only on a new herder.dev/promote value."""


class RetrainingTriggers(WireModel):
    """What starts a retrain: live metrics that breach (drift, accuracy), a schedule, or the manual annotation."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!has(self.newDataMinDrift) || (has(self.newData) && self.newData)",
             "newDataMinDrift needs newData: true", value="self.newDataMinDrift",
             hint="set newData: true, or remove newDataMinDrift", field_path=".newDataMinDrift"),
    ))

    metrics: MetricChecks | None = None
    """Live metric checks on the production deployments (e.g. FeatureDriftPSI max 0.25, Accuracy min 0.9)."""
    schedule: CronSchedule | None = None
    """Cron schedule (UTC), e.g. "0 3 * * 0" or "@weekly"."""
    manual: bool = True
    """Whether the herder.dev/retrain annotation starts a retrain."""
    new_data: bool = False
    """Whether a new current revision of the retraining Dataset starts a retrain (with the same guardrails; a
    revision that appears while a guardrail holds waits for it). The first revision seen is the baseline."""
    new_data_min_drift: DecimalString | None = None
    """With newData: a new revision starts a retrain only when its drift (the largest column PSI, on the Dataset's
    status.revisions[].drift) against the revision the production version was trained on reaches this value, e.g.
    "0.1"; a revision whose drift is unknown (no production version, its profile no longer kept) still starts one.
    Default: any new revision does."""

    @model_validator(mode="after")
    def _min_drift_needs_new_data(self) -> RetrainingTriggers:
        if self.new_data_min_drift is not None and not self.new_data:
            raise ValueError(f"newDataMinDrift needs newData: true (got newDataMinDrift {self.new_data_min_drift!r}"
                             " with newData false); set newData: true, or remove newDataMinDrift")
        return self

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        # the schema checks each field's range; what a pattern cannot see (a range such as 30-10, February 31)
        # needs the cron parser
        if value is not None:
            from herder.policy.schedule import CronError, parse_cron

            try:
                parse_cron(value)
            except CronError as e:
                raise ValueError(f"invalid cron schedule {value!r}: {e}") from None
        return value


class PayloadLogData(WireModel):
    """Build the retraining data from the production payload log joined with feedback labels."""

    window: PositiveDuration = "168h"
    """How far back to read logged requests."""
    min_rows: Annotated[int, Field(ge=1, le=100_000_000)] = 1000
    """Fewest labelled rows needed; fewer postpones the retrain (reason NotEnoughData)."""


DATA_HINT = "train on another Dataset (datasetRef) or on the logged traffic (payloadLog), not both"


class RetrainingData(WireModel):
    """The data a retrain uses (the training template's Dataset when omitted)."""

    model_config = ConfigDict(json_schema_extra=rules(at_most_one_of("datasetRef", "payloadLog", hint=DATA_HINT)))

    dataset_ref: LocalRef | None = None
    """A Dataset to train on instead of the template's (its current content is re-validated and pinned)."""
    payload_log: PayloadLogData | None = None
    """Use the logged production traffic with its feedback labels as a new Dataset."""

    @model_validator(mode="after")
    def _one(self) -> RetrainingData:
        if self.dataset_ref is not None and self.payload_log is not None:
            raise ValueError(one_of_message(("datasetRef", "payloadLog"), ["datasetRef", "payloadLog"], DATA_HINT,
                                            exactly=False))
        return self


class Retraining(WireModel):
    """Automatic retraining policy with guardrails against retrain storms."""

    triggers: RetrainingTriggers
    """What starts a retrain."""
    data: RetrainingData | None = None
    """Which data a retrain uses."""
    cooldown: Duration = "1h"
    """Least time between two retrains."""
    max_per_day: Annotated[int, Field(ge=1, le=100)] = 3
    """Most retrains started in any 24 hours."""
    require_approval: bool = False
    """Wait for the herder.dev/approve-retrain annotation before starting a triggered retrain."""


class Retention(WireModel):
    """How many versions to keep; aliased or deployed versions are never deleted."""

    keep_last: Annotated[int, Field(ge=1, le=1000)]
    """Number of most recent versions to keep."""


TEMPLATE_HINT = "add spec.training (the TrainingJob template a retrain runs), or remove spec.retraining"
GATE_HINT = "add it to spec.training.evaluation.metrics, or gate on one of those"
_DEFAULTS = {task: "[" + ", ".join(cel_string(m) for m in metrics) + "]" for task, metrics in DEFAULT_METRICS.items()}
_EVALUATED = ("(has(self.training.evaluation) && has(self.training.evaluation.metrics) ? "
              "self.training.evaluation.metrics : "
              f"(self.task == 'Classification' ? {_DEFAULTS['Classification']} : {_DEFAULTS['Regression']}))")
"""CEL: the metrics the training template evaluates (its list, or the trainer's defaults for the task)."""
_EVALUATED_TEXT = ("(has(self.training.evaluation) && has(self.training.evaluation.metrics) ? "
                   "self.training.evaluation.metrics.join(', ') : "
                   f"(self.task == 'Classification' ? {cel_string(', '.join(DEFAULT_METRICS['Classification']))} : "
                   f"{cel_string(', '.join(DEFAULT_METRICS['Regression']))}))")
"""CEL: the same as text (``join()`` only on the schema's list, whose size the cost estimator knows)."""


class ModelSpec(WireModel):
    """A prediction task, how it is trained, promoted, retrained and how many versions are kept."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("!has(self.retraining) || has(self.training)", "retraining needs a training template",
             value="'retraining without training'", hint=TEMPLATE_HINT, field_path=".retraining"),
        rule(f"!has(self.promotion) || !has(self.promotion.gate) || !has(self.training) || "
             f"self.promotion.gate.metric in {_EVALUATED}", "the promotion gate's metric must be one the training "
             "evaluates (otherwise every version is rejected)",
             value=f"self.promotion.gate.metric + '; the training evaluates ' + {_EVALUATED_TEXT}",
             hint=GATE_HINT, field_path=".promotion.gate.metric"),
    ))

    task: Task
    """Classification or Regression."""
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """What the model predicts, for humans."""
    training: TrainingTemplate | None = None
    """Template of the TrainingJobs the operator creates for retraining."""
    promotion: Promotion | None = None
    """Promotion gate and policy."""
    retraining: Retraining | None = None
    """Automatic retraining policy."""
    retention: Retention | None = None
    """Version retention; all versions are kept when omitted."""

    @model_validator(mode="after")
    def _retraining_needs_template(self) -> ModelSpec:
        if self.retraining is not None and self.training is None:
            raise ValueError(f"retraining needs a training template (got retraining without training); {TEMPLATE_HINT}")
        gate = self.promotion.gate if self.promotion is not None else None
        if gate is not None and self.training is not None:
            evaluation = self.training.evaluation
            evaluated = (evaluation.metrics if evaluation is not None and evaluation.metrics
                         else DEFAULT_METRICS[self.task])
            if gate.metric not in evaluated:
                raise ValueError(f"the promotion gate's metric must be one the training evaluates (otherwise every "
                                 f"version is rejected) (got {gate.metric}; the training evaluates "
                                 f"{', '.join(evaluated)}); {GATE_HINT}")
        return self


# ---------------------------------------------------------------------------------------------- status
HistoryAction = Literal["Trained", "Rejected", "Candidate", "Promoted", "RolledBack", "RetrainTriggered",
                        "RetrainPending", "RetrainSkipped", "RetrainFailed", "Deleted"]


class ModelAliases(WireModel):
    """Version numbers the aliases point at."""

    production: Annotated[int, Field(ge=1)] | None = None
    """Version serving ModelDeployments that follow production."""
    candidate: Annotated[int, Field(ge=1)] | None = None
    """Version that passed the gate and is being rolled out."""


class HistoryEntry(WireModel):
    """One step of the lifecycle loop, with the reason and numbers that justified it."""

    at: Time
    """When it happened."""
    action: HistoryAction
    """Trained, Rejected, Candidate, Promoted, RolledBack, RetrainTriggered, RetrainPending (awaiting approval),
    RetrainSkipped, RetrainFailed or Deleted."""
    version: Annotated[int, Field(ge=1)] | None = None
    """Version concerned."""
    from_version: Annotated[int, Field(ge=1)] | None = None
    """Previous version (promotions and rollbacks)."""
    reason: Reason
    """CamelCase reason, e.g. GatePassed, DriftDetected, AnalysisFailed."""
    message: Message | None = None
    """Human-readable detail with the numbers."""
    metrics: DecimalMap | None = None
    """Metric values behind the decision."""
    training_job: Name | None = None
    """TrainingJob involved (retrains)."""


AnnotationValue = Annotated[str, StringConstraints(max_length=256)]
"""An annotation value as remembered on status (longer values are kept as "sha256:" and their digest)."""


class RetrainingStatus(WireModel):
    """Guardrail bookkeeping of the retraining policy."""

    last_triggered_at: Time | None = None
    """When the last retrain started."""
    in_flight: Name | None = None
    """TrainingJob of the retrain in progress (at most one)."""
    recent: Annotated[list[Time], Field(max_length=100)] | None = None
    """Start times of retrains in the last 24 hours (maxPerDay)."""
    pending_approval: Reason | None = None
    """Trigger reason waiting for the approval annotation."""
    pending_since: Time | None = None
    """When the retrain waiting for approval was requested."""
    pending_message: Message | None = None
    """What triggered the retrain waiting for approval, with the numbers."""
    started: Annotated[int, Field(ge=0)] | None = None
    """Retrains started so far; the next one's TrainingJob is <model>-retrain-<started + 1> (a restarted operator
    finds the same name and never creates a second one)."""
    last_request: AnnotationValue | None = None
    """Value of the herder.dev/retrain annotation last acted on; a different value is a new request."""
    last_approval: AnnotationValue | None = None
    """Value of the herder.dev/approve-retrain annotation last acted on (or present when the retrain began to
    wait); a different value approves the pending retrain."""
    last_scheduled: Time | None = None
    """The schedule's latest occurrence already handled (a missed occurrence is caught up once, not many times)."""
    last_data_revision: Annotated[int, Field(ge=1)] | None = None
    """The Dataset revision the last retrain took (or the first one seen): a newer current revision is new data."""


class ModelStatus(WireModel):
    """The registry view: versions, aliases and the history of the loop."""

    observed_generation: int | None = None
    """metadata.generation the status was computed from."""
    conditions: Conditions | None = None
    """Ready (has a production version) and Retraining, with reasons."""
    latest_version: Annotated[int, Field(ge=1)] | None = None
    """Highest version number."""
    aliases: ModelAliases | None = None
    """Where production and candidate point."""
    versions: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=1000)] | None = None
    """Version numbers that exist (not deleted by retention)."""
    production_metrics: DecimalMap | None = None
    """Holdout metrics of the production version (the gate's baseline)."""
    retraining: RetrainingStatus | None = None
    """Retraining guardrail state."""
    trigger_metrics: MetricValues | None = None
    """Latest measurements of the retraining trigger metrics (across the deployments following production)."""
    promote_request: AnnotationValue | None = None
    """The herder.dev/promote value last acted on (a new value is a new request)."""
    history: Annotated[list[HistoryEntry], Field(max_length=200)] | None = None
    """Most recent steps of the loop, oldest first (trimmed to the last 200)."""

    message: Message | None = None
    """Summary of the current state for humans."""
