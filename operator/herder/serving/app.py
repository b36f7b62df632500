"""The HTTP layer: a bare ASGI application (no framework) that routes, reads bodies under a cap, decodes JSON,
and maps the error hierarchy to status codes.

Why no framework: for a one-row model the per-request work of a router, middleware stack and request objects
costs more than the prediction; measured here, this layer keeps the server several times faster than MLServer
and KServe on the same core (docs/serving.md). Every route is a small method; the hot paths (V1 predict, V2
infer) are looked up in a dict before any regex.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from herder.serving.dataplane import DataPlane
from herder.serving.errors import (
    BadRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServingError,
    UnavailableError,
)
from herder.serving.inputs import (
    Tensor,
    json_type,
    parse_v2_input,
    tensors_to_matrix,
    v1_instances_to_matrix,
)
from herder.serving.metrics import ServerMetrics
from herder.serving.model import Prediction, ServedModel
from herder.serving.openapi import build_openapi

log = logging.getLogger("herder.serving")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_V2_MODEL_RE = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer|feedback))?$")
_V1_MODEL_RE = re.compile(r"^/v1/models/([^/:]+)(?::(predict|feedback))?$")
PROTOCOL_V1 = "v1"
PROTOCOL_V2 = "v2"
PROTOCOL_FEEDBACK = "feedback"


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or [(b"content-type", JSON)]


def _json(status: int, payload: Any) -> _Response:
    return _Response(status, orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))


def _v2_label_datatype(classes: tuple[Any, ...] | None, task: str) -> str:
    if task != "classification":
        return "FP64"
    values = classes or ()
    if values and all(isinstance(c, bool) for c in values):
        return "BOOL"
    if values and all(isinstance(c, int) and not isinstance(c, bool) for c in values):
        return "INT64"
    return "BYTES"


_V2_FEATURE_DATATYPE = {
    "float64": "FP64",
    "float32": "FP32",
    "int64": "INT64",
    "int32": "INT32",
    "bool": "BOOL",
    "string": "BYTES",
}


@dataclass
class HerderApp:
    """ASGI callable serving one model. ``draining`` flips readiness off and closes connections after replies."""

    model: ServedModel
    dataplane: DataPlane
    metrics: ServerMetrics
    max_body_bytes: int = 8 * 1024 * 1024
    max_concurrency: int = 256
    metrics_enabled: bool = True
    draining: bool = False
    loaded: bool = True
    _ids: Any = field(default_factory=itertools.count)
    _id_prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _exact: dict[tuple[str, str], Callable[[Scope, Receive], Awaitable[_Response]]] = field(init=False)
    _openapi: bytes = field(init=False)
    _metadata_v2: bytes = field(init=False)
    _label_datatype: str = field(init=False)

    def __post_init__(self) -> None:
        name = self.model.name
        self._exact = {
            ("POST", f"/v2/models/{name}/infer"): self._v2_infer,
            ("POST", f"/v1/models/{name}:predict"): self._v1_predict,
            ("GET", "/v2/health/live"): self._live,
            ("GET", "/v2/health/ready"): self._ready,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/openapi.json"): self._openapi_doc,
            ("GET", "/v2"): self._server_metadata,
            ("GET", "/v1/models"): self._v1_list,
        }
        sig = self.model.signature
        self._openapi = orjson.dumps(build_openapi(name, self.model.version, sig))
        self._label_datatype = _v2_label_datatype(sig.classes, sig.task)
        outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": self._label_datatype, "shape": [-1]}]
        if self.model.has_proba:
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(sig.classes or ())]})
        self._metadata_v2 = orjson.dumps(
            {
                "name": name,
                "versions": [self.model.version],
                "platform": "herder-sklearn",
                "inputs": [
                    {"name": f.name, "datatype": _V2_FEATURE_DATATYPE[f.dtype], "shape": [-1]} for f in sig.features
                ],
                "outputs": outputs,
                "parameters": {
                    "task": sig.task,
                    "classes": list(sig.classes) if sig.classes else None,
                    "sha256": self.model.sha256,
                    "positional_input": {"shape": [-1, len(sig.features)]},
                },
            }
        )

    @property
    def ready(self) -> bool:
        return self.loaded and not self.draining

    # --- ASGI entry -----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        handler = self._exact.get((method, path))
        started = time.perf_counter()
        protocol = None
        request_id = ""
        try:
            if handler is None:
                handler, protocol = self._route(method, path)
            else:
                protocol = _protocol_of(path)
            if protocol is not None:
                request_id = self._request_id(scope)
                if self.metrics.inflight >= self.max_concurrency:
                    raise UnavailableError(f"too many concurrent requests (limit {self.max_concurrency}); retry later")
                self.metrics.inflight += 1
                try:
                    scope["herder.request_id"] = request_id
                    response = await handler(scope, receive)
                finally:
                    self.metrics.inflight -= 1
            else:
                response = await handler(scope, receive)
        except ServingError as exc:
            response = _json(exc.status, {"error": exc.message})
            if exc.status == 503:
                response.headers.append((b"retry-after", b"1"))
        except Exception:
            log.exception("unexpected error serving %s %s", method, path)
            response = _json(500, {"error": "internal server error"})
        if request_id:
            response.headers.append((b"x-request-id", request_id.encode()))
        if self.draining:
            response.headers.append((b"connection", b"close"))
        response.headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})
        if protocol is not None:
            self.metrics.observe_request(protocol, response.status, time.perf_counter() - started)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _route(self, method: str, path: str) -> tuple[Callable[[Scope, Receive], Awaitable[_Response]], str | None]:
        name = self.model.name
        if match := _V2_MODEL_RE.match(path):
            model, version, action = match.groups()
            self._check_model(model, version)
            if action is None:
                return self._only("GET", method, self._model_metadata), None
            if action == "ready":
                return self._only("GET", method, self._model_ready), None
            if action == "infer":
                return self._only("POST", method, self._v2_infer), PROTOCOL_V2
            return self._only("POST", method, self._feedback), PROTOCOL_FEEDBACK
        if match := _V1_MODEL_RE.match(path):
            model, action = match.groups()
            self._check_model(model, None)
            if action is None:
                return self._only("GET", method, self._v1_status), None
            if action == "predict":
                return self._only("POST", method, self._v1_predict), PROTOCOL_V1
            return self._only("POST", method, self._feedback), PROTOCOL_FEEDBACK
        for (known_method, known_path), _ in self._exact.items():
            if known_path == path and known_method != method:
                raise MethodNotAllowedError(f"{method} is not allowed on {path}; use {known_method}")
        raise NotFoundError(f"no route for {method} {path} (this server serves model {name!r})")

    def _check_model(self, model: str, version: str | None) -> None:
        if model != self.model.name:
            raise NotFoundError(f"model {model!r} not found; this server serves {self.model.name!r}")
        if version is not None and version != self.model.version:
            raise NotFoundError(
                f"version {version!r} of model {model!r} not found; this server serves version {self.model.version!r}"
            )

    @staticmethod
    def _only(
        expected: str, method: str, handler: Callable[[Scope, Receive], Awaitable[_Response]]
    ) -> Callable[[Scope, Receive], Awaitable[_Response]]:
        if method != expected:
            raise MethodNotAllowedError(f"{method} is not allowed here; use {expected}")
        return handler

    def _request_id(self, scope: Scope) -> str:
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                text: str = value.decode("latin-1")
                if _REQUEST_ID_RE.match(text):
                    return text
                raise BadRequestError("x-request-id header: use 1-128 characters from [A-Za-z0-9._:-]")
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        cap = self.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise BadRequestError("content-length header is not an integer") from None
                if declared > cap:
                    raise PayloadTooLargeError(f"request body of {declared} bytes exceeds the limit of {cap} bytes")
                break
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > cap:
                raise PayloadTooLargeError(f"request body exceeds the limit of {cap} bytes")
            return body
        chunks = [body]
        total = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequestError("client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > cap:
                raise PayloadTooLargeError(f"request body exceeds the limit of {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _decode(raw: bytes) -> Any:
        if not raw:
            raise BadRequestError("request body is empty; expected JSON")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"request body is not valid JSON: {exc}") from None

    def _require_ready(self) -> None:
        if not self.loaded:
            raise UnavailableError(f"model {self.model.name!r} is not loaded yet")

    # --- inference ------------------------------------------------------------------------------------------

    async def _v1_predict(self, scope: Scope, receive: Receive) -> _Response:
        self._require_ready()
        body = self._decode(await self._read_body(scope, receive))
        matrix = v1_instances_to_matrix(body, self.model.signature)
        want_proba = _wants_probabilities(body)
        rid: str = scope["herder.request_id"]
        prediction, labels = await self.dataplane.infer(matrix, want_proba, rid, PROTOCOL_V1)
        payload: dict[str, Any] = {"predictions": labels, "id": rid}
        if prediction.proba is not None:
            payload["probabilities"] = prediction.proba
            payload["classes"] = list(self.model.signature.classes or ())
        return _json(200, payload)

    async def _v2_infer(self, scope: Scope, receive: Receive) -> _Response:
        self._require_ready()
        raw = await self._read_body(scope, receive)
        binary: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"inference-header-content-length":
                try:
                    header_length = int(value)
                except ValueError:
                    raise BadRequestError("inference-header-content-length is not an integer") from None
                if not 0 <= header_length <= len(raw):
                    raise BadRequestError("inference-header-content-length is larger than the body")
                raw, binary = raw[:header_length], raw[header_length:]
                break
        body = self._decode(raw)
        if not isinstance(body, dict):
            raise BadRequestError(f"request body: expected a JSON object with 'inputs', got {json_type(body)}")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            hint = " (did you mean the V1 :predict endpoint?)" if "instances" in body else ""
            raise BadRequestError("request body: 'inputs' must be a non-empty array of tensors" + hint)
        tensors: list[Tensor] = []
        for position, raw_input in enumerate(inputs):
            tensor, used = parse_v2_input(raw_input, position, binary)
            if used and binary is not None:
                binary = binary[used:]
            tensors.append(tensor)
        requested = _requested_outputs(body, self.model.has_proba)
        matrix = tensors_to_matrix(tensors, self.model.signature)
        rid = body.get("id")
        if rid is not None and not isinstance(rid, str):
            raise BadRequestError("request body: 'id' must be a string")
        request_id: str = rid or scope["herder.request_id"]
        want_proba = "predict_proba" in requested
        prediction, labels = await self.dataplane.infer(matrix, want_proba, request_id, PROTOCOL_V2)
        return _json(200, self._v2_response(request_id, prediction, labels, requested))

    def _v2_response(
        self, request_id: str, prediction: Prediction, labels: list[Any], requested: list[str]
    ) -> dict[str, Any]:
        rows = len(labels)
        outputs: list[dict[str, Any]] = []
        for name in requested:
            if name == "predict":
                outputs.append({"name": "predict", "shape": [rows], "datatype": self._label_datatype, "data": labels})
            elif prediction.proba is not None:
                proba = prediction.proba
                outputs.append(
                    {"name": "predict_proba", "shape": list(proba.shape), "datatype": "FP64", "data": proba.ravel()}
                )
        return {
            "model_name": self.model.name,
            "model_version": self.model.version,
            "id": request_id,
            "parameters": {},
            "outputs": outputs,
        }

    async def _feedback(self, scope: Scope, receive: Receive) -> _Response:
        body = self._decode(await self._read_body(scope, receive))
        return _json(200, self.dataplane.feedback(body))

    # --- health, metadata, metrics --------------------------------------------------------------------------

    async def _live(self, scope: Scope, receive: Receive) -> _Response:
        return _json(200, {"live": True})

    async def _ready(self, scope: Scope, receive: Receive) -> _Response:
        self.metrics.ready = self.ready
        if not self.ready:
            reason = "draining" if self.draining else "model not loaded"
            return _json(503, {"ready": False, "error": reason})
        return _json(200, {"ready": True})

    async def _model_ready(self, scope: Scope, receive: Receive) -> _Response:
        return await self._ready(scope, receive)

    async def _server_metadata(self, scope: Scope, receive: Receive) -> _Response:
        from herder import __version__

        return _json(200, {"name": "herder", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def _model_metadata(self, scope: Scope, receive: Receive) -> _Response:
        return _Response(200, self._metadata_v2)

    async def _v1_status(self, scope: Scope, receive: Receive) -> _Response:
        return _json(200, {"name": self.model.name, "ready": self.ready})

    async def _v1_list(self, scope: Scope, receive: Receive) -> _Response:
        return _json(200, {"models": [self.model.name]})

    async def _openapi_doc(self, scope: Scope, receive: Receive) -> _Response:
        return _Response(200, self._openapi)

    async def _metrics(self, scope: Scope, receive: Receive) -> _Response:
        if not self.metrics_enabled:
            raise NotFoundError("metrics are disabled on this server (--metrics=false)")
        self.metrics.ready = self.ready
        return _Response(
            200, self.metrics.exposition(), [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
        )


def _protocol_of(path: str) -> str | None:
    if path.startswith("/v2/models/"):
        return PROTOCOL_V2
    if path.startswith("/v1/models/"):
        return PROTOCOL_V1
    return None


def _wants_probabilities(body: dict[str, Any]) -> bool:
    params = body.get("parameters")
    if params is None:
        return False
    if not isinstance(params, dict):
        raise BadRequestError("'parameters' must be an object")
    value = params.get("probabilities", False)
    if not isinstance(value, bool):
        raise BadRequestError("parameters.probabilities must be true or false")
    return value


def _requested_outputs(body: dict[str, Any], has_proba: bool) -> list[str]:
    known = ["predict", "predict_proba"] if has_proba else ["predict"]
    outputs = body.get("outputs")
    names: list[str]
    if outputs is None:
        names = ["predict"]
    else:
        if not isinstance(outputs, list):
            raise BadRequestError("'outputs' must be an array of {\"name\": ...} objects")
        names = []
        for i, item in enumerate(outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise BadRequestError(f"outputs[{i}]: expected an object with a string 'name'")
            if item["name"] not in known:
                raise BadRequestError(f"outputs[{i}]: unknown output {item['name']!r}; available: {', '.join(known)}")
            names.append(item["name"])
        if not names:
            names = ["predict"]
    if _wants_probabilities(body) and "predict_proba" not in names:
        if not has_proba:
            raise BadRequestError("this model does not return probabilities")
        names.append("predict_proba")
    return names


def as_float_array(values: Any) -> np.ndarray:
    """Helper for tests and clients: decode a V2 output's flat data."""
    return np.asarray(values, dtype=np.float64)
