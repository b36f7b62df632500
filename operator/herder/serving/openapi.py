"""The server's own OpenAPI 3 description, built for the served model's name and features.

Served at ``GET /openapi.json`` so that clients and fuzzers (schemathesis, our hypothesis tests) see exactly
what this server accepts, including the concrete model name in the paths.
"""

from __future__ import annotations

from typing import Any

from herder.serving.signature import Signature

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    text = {400: "Bad request", 404: "Not found", 413: "Body too large", 503: "Unavailable or overloaded"}
    for code in codes:
        out[str(code)] = {
            "description": text[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return out


def _json_body(ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _feature_schema(dtype: str) -> dict[str, Any]:
    if dtype.startswith("float"):
        return {"type": "number"}
    if dtype.startswith("int"):
        return {"type": "integer"}
    if dtype == "bool":
        return {"type": "boolean"}
    return {"type": "string"}


def build_openapi(model_name: str, version: str, sig: Signature) -> dict[str, Any]:
    """OpenAPI document for one served model."""
    width = len(sig.features)
    row_array = {
        "type": "array",
        "prefixItems": [_feature_schema(f.dtype) for f in sig.features],
        "items": False,
        "minItems": width,
        "maxItems": width,
    }
    row_object = {
        "type": "object",
        "properties": {f.name: _feature_schema(f.dtype) for f in sig.features},
        "required": list(sig.names),
        "additionalProperties": False,
    }
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": ["BOOL", "INT32", "INT64", "FP32", "FP64", "BYTES"]},
            "data": {"type": "array"},
            "parameters": {"type": "object"},
        },
    }
    schemas = {
        "Error": _ERROR,
        "V1Request": {
            "type": "object",
            "required": ["instances"],
            "properties": {
                "instances": {"type": "array", "minItems": 1, "items": {"anyOf": [row_array, row_object]}},
                "parameters": {"type": "object", "properties": {"probabilities": {"type": "boolean"}}},
            },
        },
        "V1Response": {
            "type": "object",
            "properties": {
                "predictions": {"type": "array"},
                "probabilities": {"type": "array"},
                "id": {"type": "string"},
            },
        },
        "V2Request": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                "inputs": {"type": "array", "minItems": 1, "items": tensor},
                "outputs": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
            },
        },
        "V2Response": {
            "type": "object",
            "properties": {"model_name": {"type": "string"}, "outputs": {"type": "array"}},
        },
        "Feedback": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "labels": {"type": "array"}, "label": {}},
        },
        "Object": {"type": "object"},
    }
    obj = {"$ref": "#/components/schemas/Object"}
    v2 = {"$ref": "#/components/schemas/V2Response"}
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": {"operationId": "live", "responses": _responses(obj)}},
        "/v2/health/ready": {"get": {"operationId": "ready", "responses": _responses(obj, 503)}},
        "/v2": {"get": {"operationId": "serverMetadata", "responses": _responses(obj)}},
        f"/v2/models/{model_name}": {"get": {"operationId": "modelMetadata", "responses": _responses(obj, 404)}},
        f"/v2/models/{model_name}/ready": {
            "get": {"operationId": "modelReady", "responses": _responses(obj, 404, 503)}
        },
        f"/v2/models/{model_name}/infer": {
            "post": {
                "operationId": "v2Infer",
                "requestBody": _json_body("V2Request"),
                "responses": _responses(v2, 400, 404, 413, 503),
            }
        },
        f"/v1/models/{model_name}": {"get": {"operationId": "v1ModelStatus", "responses": _responses(obj, 404)}},
        f"/v1/models/{model_name}:predict": {
            "post": {
                "operationId": "v1Predict",
                "requestBody": _json_body("V1Request"),
                "responses": _responses({"$ref": "#/components/schemas/V1Response"}, 400, 404, 413, 503),
            }
        },
        f"/v1/models/{model_name}:feedback": {
            "post": {
                "operationId": "feedback",
                "requestBody": _json_body("Feedback"),
                "responses": _responses(obj, 400, 404, 413, 503),
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"herder serve: {model_name}", "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
