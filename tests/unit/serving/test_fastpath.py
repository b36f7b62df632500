"""The numpy fast path must give exactly scikit-learn's answers, and only for the types it knows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from herder.serving.fastpath import linear_fast_path

RNG = np.random.default_rng(7)
X = RNG.normal(size=(400, 6))


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_logistic_matches_sklearn(n_classes: int) -> None:
    y = np.digitize(X[:, 0] + 0.3 * X[:, 1], np.linspace(-1, 1, n_classes - 1))
    labels = np.array([f"c{i}" for i in range(n_classes)])[y]
    model = LogisticRegression(max_iter=500).fit(X, labels)
    fast = linear_fast_path(model)
    assert fast is not None
    probe = RNG.normal(size=(200, 6)) * 3
    got_labels, got_proba = fast(probe, True)
    assert got_labels.tolist() == model.predict(probe).tolist()
    assert got_proba is not None
    assert np.allclose(got_proba, model.predict_proba(probe), atol=1e-12)
    assert fast(probe, False)[1] is None


@pytest.mark.parametrize("cls", [LinearRegression, Ridge])
def test_linear_regression_matches_sklearn(cls: type) -> None:
    model = cls().fit(X, X @ np.arange(6) + 2.0)
    fast = linear_fast_path(model)
    assert fast is not None
    probe = RNG.normal(size=(50, 6))
    assert np.allclose(fast(probe, False)[0], model.predict(probe))


def test_other_estimators_take_the_sklearn_path() -> None:
    y = (X[:, 0] > 0).astype(int)
    assert linear_fast_path(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)) is None
    assert linear_fast_path(LinearRegression().fit(X, np.column_stack([y, y]))) is None  # 2-D coef

    class Custom(LogisticRegression):
        pass

    assert linear_fast_path(Custom().fit(X, y)) is None
