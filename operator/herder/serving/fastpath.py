"""Direct numpy prediction for plain linear models, bypassing scikit-learn's per-call overhead.

Measured on this machine (scikit-learn 1.9): ``LogisticRegression.predict`` on one row costs ~95 us, almost
all of it input validation and array-API dispatch; the arithmetic is one small matrix product. The server has
already validated the matrix (shape, dtype, finiteness), so for the exact types below we compute the same
formulas scikit-learn uses (decision = X @ coef.T + intercept; labels = classes[decision > 0] or argmax;
probabilities = expit for binary, softmax for multinomial). Anything else -- subclasses, pipelines, sparse
coefficients -- takes the ordinary estimator path. Tests check equality with scikit-learn on random inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

FastPredict = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]


def _expit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    out: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return out


def linear_fast_path(estimator: Any) -> FastPredict | None:
    """A numpy predictor equivalent to *estimator* for LogisticRegression / LinearRegression / Ridge, else None."""
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", None)
    if type(coef) is not np.ndarray or coef.dtype.kind != "f":
        return None
    coef_t = np.ascontiguousarray(np.atleast_2d(coef).T, dtype=np.float64)
    bias = np.asarray(intercept if intercept is not None else 0.0, dtype=np.float64)

    if type(estimator) is LogisticRegression:
        classes = np.asarray(estimator.classes_)
        if getattr(estimator, "multi_class", "auto") not in ("auto", "multinomial", "deprecated"):
            return None

        def predict_logistic(x: np.ndarray, want_proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
            scores = x @ coef_t + bias
            if scores.shape[1] == 1:
                decision = scores[:, 0]
                labels = classes[(decision > 0).astype(np.intp)]
                if not want_proba:
                    return labels, None
                positive = _expit(decision)
                return labels, np.column_stack([1.0 - positive, positive])
            labels = classes[scores.argmax(axis=1)]
            return labels, (_softmax(scores) if want_proba else None)

        return predict_logistic

    if type(estimator) in (LinearRegression, Ridge) and np.ndim(coef) == 1:

        def predict_linear(x: np.ndarray, want_proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
            return (x @ coef_t)[:, 0] + bias, None

        return predict_linear
    return None
