"""The estimator allowlist and turning {className, params} into a configured scikit-learn estimator.

Only allowlisted classes are ever imported: the class name comes from a user's spec, and importing an
arbitrary dotted path is code execution. The allowlist is also the CRD's enum (rejected at admission) and
the set of types the skops artifacts may contain. scikit-learn is imported inside the functions, so the
operator and the CRD generator can import the constants without paying for it.

Parameters arrive as JSON strings/ints/bools (the project has no floats in specs), so decimal strings become
floats here and scikit-learn's own validation then judges every value, with its message passed on next to the
parameter's name.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from herder.training.errors import SpecError
from herder.training.requests import ParamValue

ESTIMATOR_ALLOWLIST: tuple[str, ...] = (
    "sklearn.linear_model.LogisticRegression",
    "sklearn.linear_model.LinearRegression",
    "sklearn.linear_model.Ridge",
    "sklearn.linear_model.RidgeClassifier",
    "sklearn.linear_model.Lasso",
    "sklearn.linear_model.ElasticNet",
    "sklearn.linear_model.SGDClassifier",
    "sklearn.linear_model.SGDRegressor",
    "sklearn.ensemble.RandomForestClassifier",
    "sklearn.ensemble.RandomForestRegressor",
    "sklearn.ensemble.ExtraTreesClassifier",
    "sklearn.ensemble.ExtraTreesRegressor",
    "sklearn.ensemble.GradientBoostingClassifier",
    "sklearn.ensemble.GradientBoostingRegressor",
    "sklearn.ensemble.HistGradientBoostingClassifier",
    "sklearn.ensemble.HistGradientBoostingRegressor",
    "sklearn.tree.DecisionTreeClassifier",
    "sklearn.tree.DecisionTreeRegressor",
    "sklearn.neighbors.KNeighborsClassifier",
    "sklearn.neighbors.KNeighborsRegressor",
    "sklearn.svm.SVC",
    "sklearn.svm.SVR",
    "sklearn.svm.LinearSVC",
    "sklearn.naive_bayes.GaussianNB",
)

# Types (beyond skops' defaults) that artifacts of allowlisted estimators reference. The trainer refuses to
# write an artifact that needs anything else, and records the list in metadata.json's lineage so the operator
# can pass exactly these to `herder serve --trusted-type`.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
)

_INT_RE = re.compile(r"^[+-]?\d+$")
_DECIMAL_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_PARAM_IN_MESSAGE = re.compile(r"The '([^']+)' parameter")


def parse_param(value: ParamValue) -> Any:
    """JSON value -> Python: "0.5"/"1e-3" -> float, "10" -> int, "none"/"null" -> None, other text as is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("none", "null"):
        return None
    if _INT_RE.match(text):
        return int(text)
    if _DECIMAL_RE.match(text):
        return float(text)
    return value


def estimator_class(class_name: str) -> type[Any]:
    """Import an allowlisted estimator class; anything else is refused with the list of allowed names."""
    if class_name not in ESTIMATOR_ALLOWLIST:
        raise SpecError(f"estimator {class_name!r} is not in the allowlist; allowed: {', '.join(ESTIMATOR_ALLOWLIST)}")
    module_name, _, attr = class_name.rpartition(".")
    cls: type[Any] = getattr(importlib.import_module(module_name), attr)
    return cls


def configure(estimator: Any, params: dict[str, Any], where: str = "estimator.params") -> None:
    """set_params + scikit-learn's own parameter validation; errors name the parameter."""
    valid = estimator.get_params(deep=False)
    for name in params:
        if name not in valid:
            raise SpecError(
                f"{where}.{name}: {type(estimator).__name__} has no parameter {name!r} "
                f"(valid: {', '.join(sorted(valid))})"
            )
    from sklearn.utils._param_validation import InvalidParameterError

    estimator.set_params(**params)
    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        raise param_error(exc, params, where) from exc


def param_error(exc: Exception, params: dict[str, Any], where: str = "estimator.params") -> SpecError:
    """A SpecError naming the offending parameter (taken from scikit-learn's message when it says)."""
    match = _PARAM_IN_MESSAGE.search(str(exc))
    name = match.group(1) if match else None
    if name is not None and name in params:
        return SpecError(f"{where}.{name}={params[name]!r} rejected by scikit-learn: {exc}")
    return SpecError(f"{where}: scikit-learn rejected the parameters {params}: {exc}")


def build_estimator(
    class_name: str, raw_params: dict[str, ParamValue], task: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """An unfitted estimator of an allowlisted class for *task*, and the parameters it was given (parsed).

    ``random_state`` defaults to the evaluation seed (when the class has one and the spec did not set it), so
    the same request trains the same model; ``n_jobs`` is left to the user.
    """
    from sklearn.base import is_classifier, is_regressor

    cls = estimator_class(class_name)
    estimator = cls()
    if task == "classification" and not is_classifier(estimator):
        raise SpecError(f"estimator {class_name} is not a classifier but the task is classification")
    if task == "regression" and not is_regressor(estimator):
        raise SpecError(f"estimator {class_name} is not a regressor but the task is regression")
    params = {name: parse_param(value) for name, value in raw_params.items()}
    if "random_state" in estimator.get_params(deep=False) and "random_state" not in params:
        params["random_state"] = seed
    configure(estimator, params)
    return estimator, params
