"""TrainingJob: one training run of a Model -- dataset, features, estimator, optional hyper-parameter search and
evaluation -- run by a batch/v1 Job; success produces an immutable ModelVersion.

:class:`TrainingTemplate` is the part a Model's retraining reuses; a TrainingJob adds the Model it trains.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from herder.api.common import (
    FRACTION_PATTERN,
    Conditions,
    DecimalMap,
    DecimalString,
    Digest,
    EvaluationMetric,
    Fraction,
    IntOrString,
    LocalRef,
    Message,
    Name,
    ParamName,
    PositiveDuration,
    Reason,
    Resources,
    Time,
    Uri,
    WireModel,
    cel_decimal_ok,
    cel_first_index,
    cel_int,
    cel_string,
    exactly_one_of,
    one_of_message,
    rule,
    rules,
    to_decimal,
)

ESTIMATORS: dict[str, tuple[str, Literal["Classification", "Regression"]]] = {
    "LogisticRegression": ("sklearn.linear_model", "Classification"),
    "SGDClassifier": ("sklearn.linear_model", "Classification"),
    "RidgeClassifier": ("sklearn.linear_model", "Classification"),
    "LinearRegression": ("sklearn.linear_model", "Regression"),
    "Ridge": ("sklearn.linear_model", "Regression"),
    "Lasso": ("sklearn.linear_model", "Regression"),
    "ElasticNet": ("sklearn.linear_model", "Regression"),
    "SGDRegressor": ("sklearn.linear_model", "Regression"),
    "DecisionTreeClassifier": ("sklearn.tree", "Classification"),
    "DecisionTreeRegressor": ("sklearn.tree", "Regression"),
    "RandomForestClassifier": ("sklearn.ensemble", "Classification"),
    "RandomForestRegressor": ("sklearn.ensemble", "Regression"),
    "ExtraTreesClassifier": ("sklearn.ensemble", "Classification"),
    "ExtraTreesRegressor": ("sklearn.ensemble", "Regression"),
    "GradientBoostingClassifier": ("sklearn.ensemble", "Classification"),
    "GradientBoostingRegressor": ("sklearn.ensemble", "Regression"),
    "HistGradientBoostingClassifier": ("sklearn.ensemble", "Classification"),
    "HistGradientBoostingRegressor": ("sklearn.ensemble", "Regression"),
    "KNeighborsClassifier": ("sklearn.neighbors", "Classification"),
    "KNeighborsRegressor": ("sklearn.neighbors", "Regression"),
    "SVC": ("sklearn.svm", "Classification"),
    "SVR": ("sklearn.svm", "Regression"),
    "LinearSVC": ("sklearn.svm", "Classification"),
    "GaussianNB": ("sklearn.naive_bayes", "Classification"),
}
"""The estimator allowlist: class name -> (module, task). The CRD enum is generated from it, so the API server's
rejection message lists the allowed classes."""

EstimatorClass = Literal[
    "LogisticRegression", "SGDClassifier", "RidgeClassifier", "LinearRegression", "Ridge", "Lasso", "ElasticNet",
    "SGDRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier",
    "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor", "GradientBoostingClassifier",
    "GradientBoostingRegressor", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
    "KNeighborsClassifier", "KNeighborsRegressor", "SVC", "SVR", "LinearSVC", "GaussianNB",
]
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {"Classification": ("accuracy", "f1"),
                                               "Regression": ("rmse", "mae", "r2")}
"""What the trainer evaluates when evaluation.metrics is omitted, by the Model's task (the promotion gate can only
compare a metric the training evaluates)."""
DIMENSION_HINT = 'e.g. {param: max_depth, values: [3, 5]} or {param: alpha, range: {min: "0.01", max: "1"}}'
GRID_HINT = "list values for those parameters, or use strategy Random"
PARALLELISM_HINT = "e.g. trials 20 with parallelism 4"
SearchStrategy = Literal["Grid", "Random"]
RangeScale = Literal["Linear", "Log"]

ParamMap = Annotated[dict[ParamName, IntOrString], Field(max_length=64)]


class Estimator(WireModel):
    """A scikit-learn estimator from the allowlist and its constructor parameters."""

    class_: Annotated[EstimatorClass, Field(alias="class")]
    """Estimator class (allowlist; see the enum)."""
    params: ParamMap | None = None
    """Constructor parameters. Integers as integers; everything else as strings parsed against the estimator's
    parameter types ("0.5", "true", "None", "balanced")."""


class ParamRange(WireModel):
    """A continuous or integer range for random search."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule(f"!{cel_decimal_ok('self.min')} || !{cel_decimal_ok('self.max')} || double(self.min) < double(self.max)",
             "min must be less than max", value="'min ' + self.min + ' >= max ' + self.max",
             hint='e.g. {min: "0.01", max: "0.3"}'),
        rule(f"self.scale != 'Log' || !{cel_decimal_ok('self.min')} || double(self.min) > 0.0",
             "a Log range needs min > 0", value="self.min", hint='e.g. {min: "0.0001", max: "1", scale: Log}',
             field_path=".min"),
    ))

    min: DecimalString
    """Lower bound (inclusive)."""
    max: DecimalString
    """Upper bound (inclusive)."""
    scale: RangeScale = "Linear"
    """Sample uniformly (Linear) or log-uniformly (Log)."""
    integer: bool = False
    """Sample integers."""

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        lo, hi = to_decimal(self.min), to_decimal(self.max)
        if lo >= hi:
            raise ValueError(f'min must be less than max (got min {self.min} >= max {self.max}); e.g. {{min: "0.01", '
                             'max: "0.3"}')
        if self.scale == "Log" and lo <= 0:
            raise ValueError(f'a Log range needs min > 0 (got {self.min}); e.g. {{min: "0.0001", max: "1", '
                             'scale: Log}')
        return self


class SearchDimension(WireModel):
    """The values one parameter may take during a search."""

    model_config = ConfigDict(json_schema_extra=rules(exactly_one_of("values", "range", hint=DIMENSION_HINT)))

    param: ParamName
    """Estimator parameter name."""
    values: Annotated[list[IntOrString], Field(min_length=1, max_length=100)] | None = None
    """Explicit candidate values (grid or random)."""
    range: ParamRange | None = None
    """A range to sample from (random search only)."""

    @model_validator(mode="after")
    def _one(self) -> SearchDimension:
        if (self.values is None) == (self.range is None):
            given = [n for n, v in (("values", self.values), ("range", self.range)) if v is not None]
            raise ValueError(one_of_message(("values", "range"), given, DIMENSION_HINT))
        return self


class Search(WireModel):
    """Hyper-parameter search: each trial is one index of an Indexed Job; the best trial by ``metric`` wins."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.strategy != 'Grid' || self.space.all(d, has(d.values))",
             "Grid search needs explicit values for every parameter",
             value=f"'range for ' + self.space[{cel_first_index('self.space', 'd', '!has(d.values)')}].param",
             hint=GRID_HINT, field_path=".space"),
        rule("!has(self.parallelism) || self.parallelism <= self.trials",
             "parallelism must not exceed trials",
             value=f"'parallelism ' + {cel_int('self.parallelism', 2)} + ' > trials ' + {cel_int('self.trials', 4)}",
             hint=PARALLELISM_HINT, field_path=".parallelism"),
    ))

    strategy: SearchStrategy
    """Grid (every combination, up to trials) or Random (trials samples)."""
    trials: Annotated[int, Field(ge=1, le=1000)]
    """Number of trials (for Grid, the cap on combinations tried)."""
    parallelism: Annotated[int, Field(ge=1, le=64)] | None = None
    """Trials run at the same time (the Job's parallelism); 1 when omitted."""
    metric: EvaluationMetric | None = None
    """Metric that ranks trials (cross-validated); the first evaluation metric when omitted."""
    space: Annotated[list[SearchDimension], Field(min_length=1, max_length=32, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["param"]})]
    """Parameters to search and their candidate values or ranges."""

    @model_validator(mode="after")
    def _consistent(self) -> Search:
        ranged = [d.param for d in self.space if d.values is None]
        if self.strategy == "Grid" and ranged:
            raise ValueError(f"Grid search needs explicit values for every parameter (got range for "
                             f"{ranged[0]}); {GRID_HINT}")
        if self.parallelism is not None and self.parallelism > self.trials:
            raise ValueError(f"parallelism must not exceed trials (got parallelism {self.parallelism} > trials "
                             f"{self.trials}); {PARALLELISM_HINT}")
        return self


class Evaluation(WireModel):
    """How the trained model is evaluated: a holdout split and optional cross-validation."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule(f"!self.testFraction.matches({cel_string(FRACTION_PATTERN)}) || "
             "(double(self.testFraction) > 0.0 && double(self.testFraction) < 1.0)",
             "testFraction must be between 0 and 1 (exclusive)", value="self.testFraction",
             hint='e.g. "0.2" holds out 20% of the rows', field_path=".testFraction"),
        rule("self.folds != 1", "folds must be 0 (off) or at least 2", value="'1'",
             hint="e.g. 5 for five-fold cross-validation", field_path=".folds"),
    ))

    test_fraction: Fraction = "0.2"
    """Share of rows held out for the final evaluation (exclusive of 0 and 1)."""
    folds: Annotated[int, Field(ge=0, le=20)] = 0
    """Cross-validation folds on the training part (0 turns cross-validation off; otherwise at least 2)."""
    metrics: Annotated[list[EvaluationMetric], Field(min_length=1, max_length=10, json_schema_extra={
        "x-kubernetes-list-type": "set"})] | None = None
    """Metrics to compute; by task when omitted (accuracy and f1 for Classification, rmse, mae and r2 for
    Regression)."""
    seed: Annotated[int, Field(ge=0, le=2_147_483_647)] = 0
    """Random seed of the split, the search and the estimator (same spec, same data -> same metrics)."""
    stratify: bool = True
    """Stratify the split by the target (classification)."""

    @model_validator(mode="after")
    def _valid(self) -> Evaluation:
        if not 0 < to_decimal(self.test_fraction) < 1:
            raise ValueError(f'testFraction must be between 0 and 1 (exclusive) (got {self.test_fraction}); e.g. "0.2" '
                             "holds out 20% of the rows")
        if self.folds == 1:
            raise ValueError("folds must be 0 (off) or at least 2 (got 1); e.g. 5 for five-fold cross-validation")
        return self


class DatasetRef(WireModel):
    """A Dataset, optionally pinned to the content digest it must have."""

    name: Name
    """Name of the Dataset (same namespace)."""
    digest: Digest | None = None
    """Required content digest; training fails with DigestMismatch when the Dataset's data changed."""


class TrainingTemplate(WireModel):
    """Everything a training run needs except which Model it trains (shared by TrainingJob and Model.spec.training)."""

    dataset_ref: DatasetRef
    """Dataset to train on."""
    feature_set_ref: LocalRef | None = None
    """FeatureSet to transform the columns; all feature columns pass through unchanged when omitted."""
    estimator: Estimator
    """Estimator class and parameters."""
    search: Search | None = None
    """Optional hyper-parameter search."""
    evaluation: Evaluation | None = None
    """Holdout and cross-validation settings."""
    resources: Resources | None = None
    """Resources of each training pod."""
    deadline: PositiveDuration | None = None
    """Time limit for the whole run (the Job's activeDeadlineSeconds), e.g. 30m."""
    backoff_limit: Annotated[int, Field(ge=0, le=10)] | None = None
    """Retries of a crashed training pod (bad data or spec fails at once, without retries)."""


class TrainingJobSpec(TrainingTemplate):
    """One training run of a Model. Immutable once created, like a batch/v1 Job: a run and the version it produces
    must describe the same inputs, so a changed recipe is a new TrainingJob."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self == oldSelf", "spec is immutable: create a new TrainingJob to train again",
             reason="FieldValueForbidden"),
    ))

    model_ref: LocalRef
    """Model this run produces a version of."""


# ---------------------------------------------------------------------------------------------- status
class TrainingProgress(WireModel):
    """Progress of a running search or fit."""

    completed_trials: Annotated[int, Field(ge=0)] | None = None
    """Trials finished."""
    total_trials: Annotated[int, Field(ge=0)] | None = None
    """Trials planned."""
    best_score: DecimalString | None = None
    """Best score of the search metric so far."""
    message: Message | None = None
    """Latest progress line from the trainer."""


class TrainingFailure(WireModel):
    """Why the run failed, in the trainer's own words."""

    reason: Reason
    """CamelCase reason: DatasetNotFound, DigestMismatch, SchemaMismatch, InvalidParameter, DeadlineExceeded,
    TrainerCrashed, ..."""
    message: Message | None = None
    """The trainer's message (from the container's termination message)."""
    exit_code: int | None = None
    """Exit code of the trainer container."""


class TrainingJobStatus(WireModel):
    """State of the run and what it produced."""

    observed_generation: int | None = None
    """metadata.generation the status was computed from."""
    conditions: Conditions | None = None
    """Ready, Succeeded and Failed, with reasons such as Training, DatasetNotFound, DeadlineExceeded."""
    job_name: Name | None = None
    """Name of the batch/v1 Job running the trainer."""
    dataset_digest: Digest | None = None
    """Digest of the data actually trained on."""
    dataset_revision: Annotated[int, Field(ge=1)] | None = None
    """The Dataset revision pinned when the first Job was made."""
    dataset_snapshot: Uri | None = None
    """That revision's copy in the store, which the trainer reads."""
    started_at: Time | None = None
    """When the trainer started."""
    completed_at: Time | None = None
    """When the run succeeded or failed."""
    progress: TrainingProgress | None = None
    """Progress while running."""
    metrics: DecimalMap | None = None
    """Holdout metrics of the final model."""
    cv_metrics: DecimalMap | None = None
    """Mean cross-validation metrics."""
    best_params: ParamMap | None = None
    """Parameters chosen by the search."""
    produced_version: Annotated[int, Field(ge=1)] | None = None
    """Version number of the ModelVersion created from this run."""
    model_version_name: Name | None = None
    """Name of that ModelVersion."""
    failure: TrainingFailure | None = None
    """Why the run failed."""
