"""Ground-truth feedback: remember recent predictions by request id, score labels against them.

The store is bounded (oldest ids are forgotten first) so memory stays flat; an id is scored at most once, so a
client retrying a feedback call cannot inflate accuracy.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from herder.serving.errors import BadRequestError, NotFoundError
from herder.serving.inputs import json_type


@dataclass
class RecentPredictions:
    """request id -> predicted labels/values, at most ``capacity`` entries."""

    capacity: int
    _items: OrderedDict[str, list[Any]] = field(default_factory=OrderedDict)

    def remember(self, request_id: str, predictions: list[Any]) -> None:
        if self.capacity <= 0:
            return
        self._items[request_id] = predictions
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def take(self, request_id: str) -> list[Any]:
        try:
            return self._items.pop(request_id)
        except KeyError:
            raise NotFoundError(
                f"no recent prediction with request id {request_id!r} (unknown, expired, or already scored)"
            ) from None

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class FeedbackRequest:
    request_id: str
    labels: list[Any]


def parse_feedback(body: Any) -> FeedbackRequest:
    """``{"id": "<request id>", "labels": [...]}`` (or ``"label": x`` for a one-row request)."""
    if not isinstance(body, dict):
        raise BadRequestError(f"feedback body: expected a JSON object, got {json_type(body)}")
    request_id = body.get("id", body.get("request_id"))
    if not isinstance(request_id, str) or not request_id:
        raise BadRequestError("feedback body: 'id' must be the request id of a prediction (a non-empty string)")
    if "labels" in body:
        labels = body["labels"]
        if not isinstance(labels, list) or not labels:
            raise BadRequestError("feedback body: 'labels' must be a non-empty array, one per predicted row")
    elif "label" in body:
        labels = [body["label"]]
    else:
        raise BadRequestError("feedback body: missing 'labels' (or 'label')")
    for i, label in enumerate(labels):
        if label is None or isinstance(label, list | dict):
            raise BadRequestError(f"feedback labels[{i}]: expected a scalar label, got {json_type(label)}")
    return FeedbackRequest(request_id=request_id, labels=labels)


def score_classification(predicted: list[Any], labels: list[Any], classes: tuple[Any, ...]) -> tuple[int, int]:
    """(correct, incorrect) for one request's rows; labels must be known classes."""
    if len(labels) != len(predicted):
        raise BadRequestError(f"feedback: {len(labels)} labels for a request that predicted {len(predicted)} rows")
    known = {str(c) for c in classes}
    for i, label in enumerate(labels):
        if str(label) not in known:
            raise BadRequestError(f"feedback labels[{i}]: {label!r} is not one of the classes {list(classes)}")
    correct = sum(1 for p, y in zip(predicted, labels, strict=True) if str(p) == str(y))
    return correct, len(labels) - correct


def score_regression(predicted: list[Any], labels: list[Any]) -> float:
    """Sum of absolute errors for one request's rows."""
    if len(labels) != len(predicted):
        raise BadRequestError(f"feedback: {len(labels)} labels for a request that predicted {len(predicted)} rows")
    total = 0.0
    for i, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label):
            raise BadRequestError(f"feedback labels[{i}]: expected a finite number, got {json_type(label)}")
        total += abs(float(label) - float(predicted[i]))
    return total
