"""The served model: a fitted estimator plus its signature, called with a validated feature matrix.

Kept free of HTTP and metrics so it can be tested directly and run on the batcher's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from herder.serving.fastpath import FastPredict, linear_fast_path
from herder.serving.signature import Signature
from herder.storage.metadata_reader import BaselineProfile


@dataclass(frozen=True)
class Prediction:
    """Model output for N rows: labels (classification) or values (regression), and optional probabilities."""

    labels: np.ndarray
    proba: np.ndarray | None

    def rows(self, start: int, stop: int) -> Prediction:
        """The slice belonging to one request of a micro-batch."""
        return Prediction(self.labels[start:stop], None if self.proba is None else self.proba[start:stop])


_PANDAS_DTYPES = {
    "float64": "float64",
    "float32": "float32",
    "int64": "int64",
    "int32": "int32",
    "bool": "bool",
}


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version; ``predict`` is the only thing the data plane calls on it."""

    name: str
    version: str
    sha256: str
    format: str
    estimator: Any
    signature: Signature
    baseline: BaselineProfile | None = None
    use_fast_path: bool = True
    _fast: FastPredict | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.format == "onnx":  # an OnnxPredictor: already a matrix -> (labels, proba) function
            object.__setattr__(self, "_fast", self.estimator.predict)
        elif self.use_fast_path and not self.needs_dataframe:
            object.__setattr__(self, "_fast", linear_fast_path(self.estimator))

    @property
    def has_proba(self) -> bool:
        if self.format == "onnx":
            return bool(self.estimator.has_proba)
        return self.signature.task == "classification" and hasattr(self.estimator, "predict_proba")

    @property
    def needs_dataframe(self) -> bool:
        """Estimators fitted on named columns (or taking mixed dtypes) get a DataFrame, as in training."""
        if self.format == "onnx":
            return False
        return hasattr(self.estimator, "feature_names_in_") or not self.signature.all_numeric

    def _frame(self, matrix: np.ndarray) -> Any:
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=list(self.signature.names))
        for feature in self.signature.features:
            if feature.dtype in _PANDAS_DTYPES:
                frame[feature.name] = frame[feature.name].astype(_PANDAS_DTYPES[feature.dtype])
        return frame

    def predict(self, matrix: np.ndarray, want_proba: bool) -> Prediction:
        """Predict labels/values for every row; probabilities only when asked and available."""
        if self._fast is not None:
            labels, proba = self._fast(matrix, want_proba and self.has_proba)
            return Prediction(labels=labels, proba=proba)
        features = self._frame(matrix) if self.needs_dataframe else matrix
        labels = np.asarray(self.estimator.predict(features))
        proba = None
        if want_proba and self.has_proba:
            proba = np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        return Prediction(labels=labels, proba=proba)
