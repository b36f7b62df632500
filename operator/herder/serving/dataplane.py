"""The data plane: everything between a validated request and the model, independent of HTTP.

It owns the model call (inline, or through the micro-batcher on a single model thread), fault injection for
tests, the metrics updates that describe inputs and outputs, the recent-prediction store for feedback, and the
sampled payload log. The HTTP layer only decodes, routes and encodes.
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from herder.serving.batching import MicroBatcher
from herder.serving.errors import BadRequestError, InjectedFaultError
from herder.serving.feedback import (
    RecentPredictions,
    parse_feedback,
    score_classification,
    score_regression,
)
from herder.serving.metrics import ServerMetrics
from herder.serving.model import Prediction, ServedModel
from herder.serving.payload_log import PayloadLog


@dataclass(frozen=True)
class DataPlaneSettings:
    """The subset of ServeConfig the data plane needs (kept separate so tests build it directly)."""

    max_batch_size: int = 1
    max_batch_wait_ms: float = 2.0
    feedback_window: int = 10_000
    inject_error_rate: float = 0.0
    inject_latency_ms: float = 0.0


@dataclass
class DataPlane:
    model: ServedModel
    metrics: ServerMetrics
    settings: DataPlaneSettings = field(default_factory=DataPlaneSettings)
    payload_log: PayloadLog | None = None
    payload_exclude: tuple[str, ...] = ()
    """Features whose values are never written to the payload log (written as null)."""
    rng: random.Random = field(default_factory=random.Random)
    recent: RecentPredictions = field(init=False)
    _batcher: MicroBatcher | None = None
    _executor: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        self.recent = RecentPredictions(self.settings.feedback_window)
        index = self.model.signature.index
        self._excluded = sorted(index[name] for name in self.payload_exclude)
        if self.payload_log is not None:
            self.metrics.payload_dropped = self.payload_log.dropped

    def _logged_inputs(self, matrix: np.ndarray) -> list[list[Any]]:
        rows: list[list[Any]] = matrix.tolist()
        for row in rows:
            for i in self._excluded:
                row[i] = None
        return rows

    async def start(self) -> None:
        """Start the batcher (if batching) on the running loop."""
        if self.settings.max_batch_size > 1:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="herder-model")
            self._batcher = MicroBatcher(
                predict=self._predict_checked,
                executor=self._executor,
                max_rows=self.settings.max_batch_size,
                max_wait_s=self.settings.max_batch_wait_ms / 1000.0,
            )
            self._batcher.start()
        if self.payload_log is not None:
            self.payload_log.open()

    async def stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self.payload_log is not None:
            self.payload_log.close()

    def _predict_checked(self, matrix: np.ndarray, want_proba: bool) -> Prediction:
        """Call the model; a ValueError from it means the values were unacceptable to the model (a 400)."""
        try:
            return self.model.predict(matrix, want_proba)
        except ValueError as exc:
            raise BadRequestError(f"the model rejected the input: {exc}") from exc

    async def infer(
        self, matrix: np.ndarray, want_proba: bool, request_id: str, protocol: str
    ) -> tuple[Prediction, list[Any]]:
        """Predict for one request's rows, recording metrics, feedback state and the payload sample.

        Returns the prediction and its labels as a Python list (computed once, reused by the encoder).
        """
        settings = self.settings
        if settings.inject_latency_ms > 0:
            await asyncio.sleep(settings.inject_latency_ms / 1000.0)
        if settings.inject_error_rate > 0 and self.rng.random() < settings.inject_error_rate:
            raise InjectedFaultError("injected fault (--inject-error-rate; tests and demos only)")
        if self._batcher is not None:
            prediction, batch_rows = await self._batcher.submit(matrix, want_proba)
            if prediction.labels.shape[0] and batch_rows:
                self._observe_batch_share(batch_rows, matrix.shape[0])
        else:
            prediction = self._predict_checked(matrix, want_proba)
            self.metrics.observe_batch(matrix.shape[0])
        labels = prediction.labels.tolist()
        self.metrics.observe_inference(matrix, labels)
        self.recent.remember(request_id, labels)
        log = self.payload_log
        if log is not None and log.sampled():
            record: dict[str, Any] = {
                "kind": "prediction",
                "id": request_id,
                "model": self.model.name,
                "version": self.model.version,
                "protocol": protocol,
                "inputs": self._logged_inputs(matrix),
                "outputs": labels,
            }
            if prediction.proba is not None:
                record["probabilities"] = prediction.proba
            log.write(record)
            self.metrics.payload_records += 1
        return prediction, labels

    def _observe_batch_share(self, batch_rows: int, rows: int) -> None:
        """Count each model call once: the request holding the batch's first rows records it.

        The batcher hands every request the batch size; we attribute the observation fractionally so the
        histogram counts model calls, not requests (rows / batch_rows sums to 1 over the batch).
        """
        if rows == batch_rows or self.rng.random() < rows / batch_rows:
            self.metrics.observe_batch(batch_rows)

    def feedback(self, body: Any) -> dict[str, Any]:
        """Score ground-truth labels for an earlier request; returns a small summary for the response."""
        request = parse_feedback(body)
        try:
            predicted = self.recent.take(request.request_id)
        except Exception:
            self.metrics.observe_feedback("unmatched", 1)
            raise
        sig = self.model.signature
        try:
            if sig.task == "classification":
                correct, incorrect = score_classification(predicted, request.labels, sig.classes or ())
                self.metrics.observe_feedback("correct", correct)
                self.metrics.observe_feedback("incorrect", incorrect)
                summary: dict[str, Any] = {
                    "id": request.request_id,
                    "rows": len(predicted),
                    "correct": correct,
                }
            else:
                total = score_regression(predicted, request.labels)
                self.metrics.observe_feedback("received", len(predicted))
                self.metrics.observe_abs_error(total, len(predicted))
                summary = {"id": request.request_id, "rows": len(predicted), "absolute_error": total}
        except BadRequestError:
            self.recent.remember(request.request_id, predicted)  # a malformed attempt does not consume the id
            raise
        if self.payload_log is not None:
            self.payload_log.write({"kind": "feedback", "id": request.request_id, "labels": request.labels})
        return summary
