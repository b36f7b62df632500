"""Holdout split, cross-validation and metrics, all seeded so the same request gives the same numbers.

f1 and roc_auc are macro-averaged (one-vs-rest for roc_auc) so they mean the same thing for two classes and
for ten, and need no "positive label" in the spec. rmse and mae are reported as positive errors (lower is
better); search scoring flips their sign internally, as scikit-learn's ``neg_*`` scorers do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from herder.training.errors import SpecError

SCORERS: dict[str, str] = {
    "accuracy": "accuracy",
    "f1": "f1_macro",
    "roc_auc": "roc_auc_ovr",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}
LOWER_IS_BETTER = frozenset({"rmse", "mae"})
NEEDS_PROBA = frozenset({"roc_auc"})


def can_stratify(y: pd.Series, parts: int) -> bool:
    """Stratify only when every class has enough members for each part (else scikit-learn refuses)."""
    counts = y.value_counts()
    return len(counts) > 1 and int(counts.min()) >= parts


def holdout_split(
    frame: pd.DataFrame, y: pd.Series, fraction: float, seed: int, classification: bool
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.Series, pd.Series | None]:
    """(X_train, X_test, y_train, y_test); no test part when *fraction* is 0."""
    if fraction == 0.0:
        return frame, None, y, None
    stratify = y if classification and can_stratify(y, 2) else None
    x_train, x_test, y_train, y_test = train_test_split(
        frame, y, test_size=fraction, random_state=seed, shuffle=True, stratify=stratify
    )
    return x_train, x_test, y_train, y_test


def cv_splitter(y: pd.Series, folds: int, seed: int, classification: bool) -> KFold | StratifiedKFold:
    """Shuffled, seeded folds; stratified for classification when the classes allow it."""
    if classification and can_stratify(y, folds):
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def check_metrics(metrics: list[str], estimator: Any) -> None:
    """roc_auc needs class probabilities; say so before training rather than after."""
    if NEEDS_PROBA.intersection(metrics) and not hasattr(estimator, "predict_proba"):
        raise SpecError(
            f"metric roc_auc needs predict_proba, which {type(estimator).__name__} does not provide with these "
            "parameters (for SVC set probability: true)"
        )


def compute_metrics(model: Any, x: pd.DataFrame, y: pd.Series, metrics: list[str]) -> dict[str, float]:
    """The requested metrics of a fitted *model* on (x, y)."""
    return score_predictions(model, x, y, model.predict(x), metrics)


def score_predictions(
    model: Any, x: pd.DataFrame, y: pd.Series, predicted: Any, metrics: list[str]
) -> dict[str, float]:
    """The requested metrics given the model's *predicted* values for x (predict_proba only for roc_auc)."""
    out: dict[str, float] = {}
    for name in metrics:
        if name == "accuracy":
            out[name] = float(accuracy_score(y, predicted))
        elif name == "f1":
            out[name] = float(f1_score(y, predicted, average="macro"))
        elif name == "roc_auc":
            proba = model.predict_proba(x)
            classes = list(model.classes_)
            if len(classes) == 2:
                out[name] = float(roc_auc_score(y, proba[:, 1]))
            else:
                out[name] = float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))
        elif name == "rmse":
            out[name] = float(root_mean_squared_error(y, predicted))
        elif name == "mae":
            out[name] = float(mean_absolute_error(y, predicted))
        elif name == "r2":
            out[name] = float(r2_score(y, predicted))
    return out


def cross_validate(
    pipeline: Any,
    x: pd.DataFrame,
    y: pd.Series,
    *,
    metrics: list[str],
    splitter: KFold | StratifiedKFold,
    log: Callable[[str], None],
) -> dict[str, float]:
    """Mean and standard deviation of each metric over the folds: keys cv_<metric>, cv_<metric>_std."""
    per_fold: dict[str, list[float]] = {m: [] for m in metrics}
    folds = splitter.get_n_splits()
    for i, (train_idx, test_idx) in enumerate(splitter.split(x, y), start=1):
        model = clone(pipeline).fit(x.iloc[train_idx], y.iloc[train_idx])
        scores = compute_metrics(model, x.iloc[test_idx], y.iloc[test_idx], metrics)
        for name, value in scores.items():
            per_fold[name].append(value)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in scores.items())
        log(f"[train] cv {i}/{folds}: {shown}")
    out: dict[str, float] = {}
    for name, values in per_fold.items():
        out[f"cv_{name}"] = float(np.mean(values))
        out[f"cv_{name}_std"] = float(np.std(values))
    return out
