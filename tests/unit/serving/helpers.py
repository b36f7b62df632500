"""Test helpers: tiny models with metadata, and an in-process ASGI client (no sockets, no threads)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sklearn.linear_model import LinearRegression, LogisticRegression

from herder.serving.app import HerderApp
from herder.serving.dataplane import DataPlane, DataPlaneSettings
from herder.serving.metrics import ServerMetrics
from herder.serving.model import ServedModel
from herder.serving.payload_log import PayloadLog
from herder.serving.signature import signature_from_metadata
from herder.storage.metadata_reader import ArtifactMetadata, metadata_from_dict

FAKE_SHA = hashlib.sha256(b"test-artifact").hexdigest()


def numeric_metadata() -> ArtifactMetadata:
    """3 features (a, b float; n int), binary classes 0/1, with baseline bins."""
    return metadata_from_dict(
        {
            "name": "m",
            "version": "3",
            "task": "classification",
            "sha256": FAKE_SHA,
            "features": [{"name": "a"}, {"name": "b"}, {"name": "n", "dtype": "int64"}],
            "classes": [0, 1],
            "baseline": {
                "features": {
                    "a": {"kind": "numeric", "edges": [-1.0, 0.0, 1.0], "fractions": [0.25, 0.25, 0.25, 0.25]},
                    "n": {"kind": "categorical", "categories": [0, 1, 2]},
                },
                "prediction": {"kind": "categorical", "categories": [0, 1], "fractions": [0.5, 0.5, 0.0]},
            },
        }
    )


def numeric_estimator() -> LogisticRegression:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=300), rng.normal(size=300), rng.integers(0, 3, size=300)])
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression().fit(x, y)


def regression_metadata() -> ArtifactMetadata:
    return metadata_from_dict(
        {
            "name": "reg",
            "version": "1",
            "task": "regression",
            "sha256": FAKE_SHA,
            "features": [{"name": "x0"}, {"name": "x1"}],
            "baseline": {"prediction": {"kind": "numeric", "edges": [0.0, 10.0]}},
        }
    )


def regression_estimator() -> LinearRegression:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
    return LinearRegression().fit(x, 2 * x[:, 0] + x[:, 1])


def served(metadata: ArtifactMetadata, estimator: Any, **kwargs: Any) -> ServedModel:
    return ServedModel(
        name=metadata.name,
        version=metadata.version,
        sha256=FAKE_SHA,
        format="skops",
        estimator=estimator,
        signature=signature_from_metadata(metadata, estimator, FAKE_SHA),
        baseline=metadata.baseline,
        **kwargs,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def error(self) -> str:
        return str(self.json().get("error", ""))


class Client:
    """Calls the ASGI app directly on one event loop; ``start()`` runs the data plane (batcher) on it."""

    def __init__(self, app: HerderApp, dataplane: DataPlane) -> None:
        self.app = app
        self.dataplane = dataplane
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(dataplane.start())

    def close(self) -> None:
        self.loop.run_until_complete(self.dataplane.stop())
        self.loop.close()

    async def arequest(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        raw = body if isinstance(body, bytes) else (b"" if body is None else orjson.dumps(body))
        hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        if not any(k == b"content-length" for k, _ in hdrs):
            hdrs.append((b"content-length", str(len(raw)).encode()))
        scope = {"type": "http", "method": method, "path": path, "headers": hdrs}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        messages: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.app(scope, receive, send)
        start = messages[0]
        return Reply(
            status=start["status"],
            headers={k.decode(): v.decode() for k, v in start["headers"]},
            body=b"".join(m.get("body", b"") for m in messages[1:]),
        )

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        return self.loop.run_until_complete(self.arequest(method, path, body, headers))


def make_client(
    model: ServedModel,
    settings: DataPlaneSettings | None = None,
    payload_log: PayloadLog | None = None,
    **app_kwargs: Any,
) -> Client:
    metrics = ServerMetrics(model=model, enabled=app_kwargs.pop("metrics_enabled", True))
    dataplane = DataPlane(
        model=model, metrics=metrics, settings=settings or DataPlaneSettings(), payload_log=payload_log
    )
    metrics.ready = True
    app = HerderApp(model=model, dataplane=dataplane, metrics=metrics, metrics_enabled=metrics.enabled, **app_kwargs)
    return Client(app, dataplane)


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text exposition, matched by name and a subset of labels."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None
