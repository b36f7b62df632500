"""Predict with an ONNX artifact through onnxruntime: the server's compiled path, and the trainer's check of it.

Only numpy and onnxruntime are imported, so a server that serves ONNX never loads scikit-learn, scipy, skops or
pandas. The graph (built by ``herder.training.onnx_export``) takes the request matrix as one ``[N, k]`` float64 input
named ``matrix`` when every feature is numeric, else one ``[N, 1]`` input per feature, in feature order (float64
for numeric features, strings, booleans); classifiers return ``label`` and, when scikit-learn
had ``predict_proba``, ``probabilities`` ``[N, classes]``; regressors return one ``[N, 1]`` value.

The same predictor checks the conversion at training time, so what was proven on the holdout is exactly what
the server runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from herder.storage.errors import StorageError
from herder.storage.metadata_reader import NUMERIC_DTYPES, Category


class Feature(Protocol):
    """A model input column (metadata.json's FeatureSpec, as the trainer's pydantic model or the server's)."""

    @property
    def name(self) -> str: ...

    @property
    def dtype(self) -> str: ...


MATRIX_INPUT = "matrix"


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One request is microseconds of arithmetic: a thread pool costs more than it saves, and the server scales
    # by processes. No spinning, so an idle server uses no CPU.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _column_cast(dtype: str) -> Any:
    if dtype in NUMERIC_DTYPES:
        return np.float64
    return np.bool_ if dtype == "bool" else object


class OnnxPredictor:
    """A loaded ONNX model with the feature order, task and classes of its metadata."""

    def __init__(self, data: bytes, features: Sequence[Feature], task: str,
                 classes: Sequence[Category] | None, *, probabilities: bool) -> None:
        try:
            self._session = _session(data)
        except Exception as exc:
            raise StorageError(f"onnxruntime cannot load the model: {type(exc).__name__}: {exc}") from exc
        inputs = self._session.get_inputs()
        self._matrix = len(inputs) == 1 and inputs[0].name == MATRIX_INPUT
        if self._matrix:
            width = inputs[0].shape[1] if len(inputs[0].shape) == 2 else None
            if width != len(features) or any(f.dtype not in NUMERIC_DTYPES for f in features):
                raise StorageError(f"the ONNX model takes a [N, {width}] float64 matrix but metadata lists "
                                   f"{len(features)} features (numeric: all or some)")
        elif len(inputs) != len(features):
            raise StorageError(f"the ONNX model has {len(inputs)} inputs but metadata lists {len(features)} "
                               "features")
        self._inputs = [(i.name, _column_cast(f.dtype)) for i, f in zip(inputs, features, strict=False)]
        outputs = [o.name for o in self._session.get_outputs()]
        self.task = task
        self.has_proba = task == "classification" and probabilities and len(outputs) >= 2
        self._outputs = outputs[:2] if self.has_proba else outputs[:1]
        self._classes = list(classes or [])
        self._native = bool(self._classes) and (
            all(type(c) is int for c in self._classes) or all(type(c) is str for c in self._classes))
        self._by_text = {str(c): c for c in self._classes}

    def _feeds(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        if self._matrix:
            return {MATRIX_INPUT: np.ascontiguousarray(matrix, dtype=np.float64)}
        return {name: matrix[:, i:i + 1].astype(cast) for i, (name, cast) in enumerate(self._inputs)}

    def _labels(self, raw: np.ndarray) -> np.ndarray:
        flat = raw.reshape(-1)
        if self._native or not self._classes:
            return flat
        out = np.empty(flat.shape[0], dtype=object)
        out[:] = [self._by_text.get(str(v), v) for v in flat.tolist()]
        return out

    def predict(self, matrix: np.ndarray, want_proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels or values for every row of *matrix* (feature order), and probabilities when asked."""
        results = self._session.run(self._outputs, self._feeds(matrix))
        if self.task != "classification":
            return np.asarray(results[0], dtype=np.float64).reshape(-1), None
        labels = self._labels(np.asarray(results[0]))
        proba = np.asarray(results[1], dtype=np.float64) if want_proba and self.has_proba else None
        return labels, proba


def matrix_from_frame(frame: Any, features: Sequence[Feature]) -> np.ndarray:
    """A DataFrame's rows as the server builds them: float64 when every feature is numeric, else objects."""
    names = [f.name for f in features]
    if all(f.dtype in NUMERIC_DTYPES for f in features):
        return np.asarray(frame[names].to_numpy(dtype=np.float64, na_value=np.nan))
    matrix = np.empty((len(frame), len(names)), dtype=object)
    for i, feature in enumerate(features):
        column = frame[feature.name]
        if feature.dtype in NUMERIC_DTYPES:
            matrix[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            matrix[:, i] = column.astype(object).to_numpy()
    return matrix
