"""A table of bad requests: every one gets its 4xx status and a message naming the problem, never a 500."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.serving.helpers import Client

V1 = "/v1/models/m:predict"
V2 = "/v2/models/m/infer"
FB = "/v1/models/m:feedback"
ROW = [0.5, -0.2, 1]


def v2(*inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"inputs": list(inputs), **extra}


def pos(data: Any, shape: Any = (1, 3), datatype: str = "FP64", name: str = "input-0") -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(shape) if isinstance(shape, tuple) else shape,
        "datatype": datatype,
        "data": data,
    }


def col(name: str, data: list[Any], datatype: str = "FP64", shape: Any = None) -> dict[str, Any]:
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


NAMED_OK = [col("a", [0.5]), col("b", [0.1]), col("n", [1], "INT64")]

# (id, method, path, body (bytes or JSON-able), headers, status, message fragment)
CASES: list[tuple[str, str, str, Any, dict[str, str], int, str]] = [
    # --- V1 body and JSON -------------------------------------------------------------------------------------
    ("v1-invalid-json", "POST", V1, b"{", {}, 400, "not valid JSON"),
    ("v1-empty-body", "POST", V1, b"", {}, 400, "body is empty"),
    ("v1-body-is-array", "POST", V1, [1, 2], {}, 400, "expected a JSON object with 'instances'"),
    ("v1-missing-instances", "POST", V1, {}, {}, 400, "missing 'instances'"),
    ("v1-instances-not-list", "POST", V1, {"instances": 5}, {}, 400, "expected a list of rows"),
    ("v1-instances-empty", "POST", V1, {"instances": []}, {}, 400, "is empty"),
    ("v1-row-too-short", "POST", V1, {"instances": [[1, 2]]}, {}, 400, "expected 3 values (one per feature), got 2"),
    ("v1-row-too-long", "POST", V1, {"instances": [[1, 2, 3, 4]]}, {}, 400, "got 4"),
    ("v1-row-not-array", "POST", V1, {"instances": [5]}, {}, 400, "instances[0]: expected an array of 3 values"),
    ("v1-ragged-second-row", "POST", V1, {"instances": [ROW, [1]]}, {}, 400, "instances[1]: expected 3 values"),
    (
        "v1-string-value",
        "POST",
        V1,
        {"instances": [[1, "x", 3]]},
        {},
        400,
        "feature 'b': expected a number, got string",
    ),
    ("v1-numeric-string", "POST", V1, {"instances": [[1, "1.5", 3]]}, {}, 400, "expected a number, got string '1.5'"),
    (
        "v1-boolean-value",
        "POST",
        V1,
        {"instances": [[True, 2, 3]]},
        {},
        400,
        "feature 'a': expected a number, got boolean",
    ),
    ("v1-null-value", "POST", V1, {"instances": [[1, None, 3]]}, {}, 400, "feature 'b': expected a number, got null"),
    ("v1-nested-value", "POST", V1, {"instances": [[1, [2], 3]]}, {}, 400, "got array"),
    (
        "v1-non-integer-for-int",
        "POST",
        V1,
        {"instances": [[1, 2, 3.5]]},
        {},
        400,
        "feature 'n': expected an integer, got 3.5",
    ),
    ("v1-infinity-literal", "POST", V1, b'{"instances": [[1e400, 0, 1]]}', {}, 400, "not valid JSON"),
    ("v1-nan-literal", "POST", V1, b'{"instances": [[NaN, 0, 1]]}', {}, 400, "not valid JSON"),
    ("v1-object-missing-feature", "POST", V1, {"instances": [{"a": 1, "b": 2}]}, {}, 400, "missing features: n"),
    (
        "v1-object-extra-feature",
        "POST",
        V1,
        {"instances": [{"a": 1, "b": 2, "n": 1, "z": 0}]},
        {},
        400,
        "unknown features: z",
    ),
    (
        "v1-mixed-objects-and-arrays",
        "POST",
        V1,
        {"instances": [{"a": 1, "b": 2, "n": 1}, ROW]},
        {},
        400,
        "instances[1]: expected an object keyed by feature name",
    ),
    (
        "v1-object-wrong-type",
        "POST",
        V1,
        {"instances": [{"a": 1, "b": "x", "n": 1}]},
        {},
        400,
        "feature 'b': expected a number",
    ),
    ("v1-got-v2-body", "POST", V1, v2(pos(ROW)), {}, 400, "V1 expects 'instances'"),
    (
        "v1-parameters-not-object",
        "POST",
        V1,
        {"instances": [ROW], "parameters": 3},
        {},
        400,
        "'parameters' must be an object",
    ),
    (
        "v1-probabilities-not-bool",
        "POST",
        V1,
        {"instances": [ROW], "parameters": {"probabilities": "yes"}},
        {},
        400,
        "parameters.probabilities must be true or false",
    ),
    ("v1-bad-request-id", "POST", V1, {"instances": [ROW]}, {"x-request-id": "bad id!"}, 400, "x-request-id"),
    (
        "v1-bad-content-length",
        "POST",
        V1,
        {"instances": [ROW]},
        {"content-length": "abc"},
        400,
        "content-length header is not an integer",
    ),
    ("v1-body-too-large", "POST", V1, {"instances": [ROW] * 400}, {}, 413, "exceeds the limit of 4096 bytes"),
    (
        "v1-unknown-model",
        "POST",
        "/v1/models/nope:predict",
        {"instances": [ROW]},
        {},
        404,
        "model 'nope' not found; this server serves 'm'",
    ),
    ("v1-get-on-predict", "GET", V1, None, {}, 405, "GET is not allowed here; use POST"),
    # --- V2 ---------------------------------------------------------------------------------------------------
    ("v2-invalid-json", "POST", V2, b'{"inputs": [', {}, 400, "not valid JSON"),
    ("v2-body-not-object", "POST", V2, [1], {}, 400, "expected a JSON object with 'inputs'"),
    ("v2-missing-inputs", "POST", V2, {}, {}, 400, "'inputs' must be a non-empty array"),
    ("v2-empty-inputs", "POST", V2, {"inputs": []}, {}, 400, "'inputs' must be a non-empty array"),
    ("v2-got-v1-body", "POST", V2, {"instances": [ROW]}, {}, 400, "did you mean the V1 :predict endpoint?"),
    ("v2-input-not-object", "POST", V2, {"inputs": [3]}, {}, 400, "inputs[0]: expected an object"),
    (
        "v2-input-no-name",
        "POST",
        V2,
        v2({"shape": [1, 3], "datatype": "FP64", "data": ROW}),
        {},
        400,
        "'name' must be a non-empty string",
    ),
    ("v2-unknown-datatype", "POST", V2, v2(pos(ROW, datatype="FLOAT")), {}, 400, "unknown datatype 'FLOAT'"),
    ("v2-shape-not-list", "POST", V2, v2(pos(ROW, shape=3)), {}, 400, "'shape' must be a non-empty array"),
    ("v2-negative-dimension", "POST", V2, v2(pos(ROW, shape=[-1, 3])), {}, 400, "non-negative integers"),
    (
        "v2-shape-data-mismatch",
        "POST",
        V2,
        v2(pos([1, 2], shape=[1, 3])),
        {},
        400,
        "shape [1, 3] needs 3 values, 'data' has 2",
    ),
    ("v2-data-not-array", "POST", V2, v2(pos("abc")), {}, 400, "'data' must be an array"),
    ("v2-missing-data", "POST", V2, v2({"name": "x", "shape": [1, 3], "datatype": "FP64"}), {}, 400, "missing 'data'"),
    ("v2-fp64-with-string", "POST", V2, v2(pos([1, "a", 3])), {}, 400, "datatype FP64 needs a number, got string"),
    ("v2-fp64-with-bool", "POST", V2, v2(pos([1, True, 3])), {}, 400, "datatype FP64 needs a number, got boolean"),
    (
        "v2-int64-with-float",
        "POST",
        V2,
        v2(pos([1, 2.5, 3], datatype="INT64")),
        {},
        400,
        "datatype INT64 needs an integer",
    ),
    ("v2-int8-out-of-range", "POST", V2, v2(pos([1, 300, 3], datatype="INT8")), {}, 400, "300 does not fit INT8"),
    (
        "v2-bool-for-numeric",
        "POST",
        V2,
        v2(pos([True, False, True], datatype="BOOL")),
        {},
        400,
        "datatype BOOL does not fit feature 'a'",
    ),
    (
        "v2-positional-wrong-width",
        "POST",
        V2,
        v2(pos([1, 2], shape=[1, 2])),
        {},
        400,
        "positional input must have shape [N, 3]",
    ),
    ("v2-positional-1d", "POST", V2, v2(pos(ROW, shape=[3])), {}, 400, "positional input must have shape [N, 3]"),
    ("v2-positional-no-rows", "POST", V2, v2(pos([], shape=[0, 3])), {}, 400, "has no rows"),
    (
        "v2-nested-data-ragged",
        "POST",
        V2,
        v2(pos([[1, 2, 3], 4], shape=[2, 2])),
        {},
        400,
        "nested 'data' does not match shape [2, 2]",
    ),
    (
        "v2-nested-data-wrong-shape",
        "POST",
        V2,
        v2(pos([[1, 2], [3, 4], [5, 6]], shape=[2, 3])),
        {},
        400,
        "nested 'data' does not match shape [2, 3]",
    ),
    ("v2-flat-data-with-array", "POST", V2, v2(pos([1, [2], 3])), {}, 400, "needs a number, got array"),
    ("v2-non-integer-positional", "POST", V2, v2(pos([1, 2, 2.5])), {}, 400, "feature 'n': expected an integer"),
    ("v2-named-missing-feature", "POST", V2, v2(*NAMED_OK[:2]), {}, 400, "missing inputs for features: n"),
    ("v2-named-unknown-input", "POST", V2, v2(*NAMED_OK, col("zz", [1.0])), {}, 400, "unknown inputs: zz"),
    ("v2-named-duplicate", "POST", V2, v2(*NAMED_OK, col("a", [1.0])), {}, 400, "duplicate inputs: a"),
    (
        "v2-named-row-mismatch",
        "POST",
        V2,
        v2(col("a", [0.5, 1.0]), *NAMED_OK[1:]),
        {},
        400,
        "has 1 rows but other inputs have 2",
    ),
    (
        "v2-named-wrong-shape",
        "POST",
        V2,
        v2(col("a", [0.5, 1.0], shape=[1, 2]), *NAMED_OK[1:]),
        {},
        400,
        "a named input must have shape [N] or [N, 1]",
    ),
    (
        "v2-named-bytes-for-number",
        "POST",
        V2,
        v2(col("a", ["x"], "BYTES"), *NAMED_OK[1:]),
        {},
        400,
        "datatype BYTES does not fit feature dtype float64",
    ),
    ("v2-unknown-output", "POST", V2, v2(pos(ROW), outputs=[{"name": "foo"}]), {}, 400, "unknown output 'foo'"),
    ("v2-outputs-not-array", "POST", V2, v2(pos(ROW), outputs="predict"), {}, 400, "'outputs' must be an array"),
    ("v2-id-not-string", "POST", V2, v2(pos(ROW), id=5), {}, 400, "'id' must be a string"),
    (
        "v2-binary-size-beyond-body",
        "POST",
        V2,
        v2({"name": "x", "shape": [1, 3], "datatype": "FP64", "parameters": {"binary_data_size": 24}}),
        {},
        400,
        "binary_data_size 24 exceeds the binary data sent",
    ),
    (
        "v2-header-length-too-large",
        "POST",
        V2,
        v2(pos(ROW)),
        {"inference-header-content-length": "99999"},
        400,
        "inference-header-content-length is larger than the body",
    ),
    (
        "v2-unknown-version",
        "POST",
        "/v2/models/m/versions/9/infer",
        v2(pos(ROW)),
        {},
        404,
        "version '9' of model 'm' not found",
    ),
    ("v2-unknown-model", "POST", "/v2/models/other/infer", v2(pos(ROW)), {}, 404, "model 'other' not found"),
    ("v2-unknown-model-metadata", "GET", "/v2/models/other", None, {}, 404, "model 'other' not found"),
    ("v2-get-infer", "GET", V2, None, {}, 405, "use POST"),
    # --- routes and feedback ----------------------------------------------------------------------------------
    ("unknown-route", "GET", "/nope", None, {}, 404, "no route for GET /nope"),
    ("post-metrics", "POST", "/metrics", b"", {}, 405, "POST is not allowed on /metrics; use GET"),
    (
        "feedback-unknown-id",
        "POST",
        FB,
        {"id": "never-seen", "labels": [1]},
        {},
        404,
        "no recent prediction with request id 'never-seen'",
    ),
    ("feedback-missing-labels", "POST", FB, {"id": "x"}, {}, 400, "missing 'labels'"),
    ("feedback-id-not-string", "POST", FB, {"id": 3, "labels": [1]}, {}, 400, "'id' must be the request id"),
    ("feedback-labels-empty", "POST", FB, {"id": "x", "labels": []}, {}, 400, "'labels' must be a non-empty array"),
    ("feedback-label-object", "POST", FB, {"id": "x", "labels": [{}]}, {}, 400, "expected a scalar label"),
    ("feedback-invalid-json", "POST", FB, b"[", {}, 400, "not valid JSON"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_request(
    client: Client, method: str, path: str, body: Any, headers: dict[str, str], status: int, fragment: str
) -> None:
    reply = client.request(method, path, body, headers)
    assert reply.status == status, reply.body
    assert fragment in reply.error, reply.error
    assert reply.headers["content-type"] == "application/json"


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def _predict(client: Client, rows: int = 1) -> str:
    reply = client.request("POST", V1, {"instances": [ROW] * rows})
    assert reply.status == 200
    return str(reply.json()["id"])


def test_feedback_label_count_must_match(client: Client) -> None:
    rid = _predict(client, rows=2)
    reply = client.request("POST", FB, {"id": rid, "labels": [1]})
    assert reply.status == 400
    assert "1 labels for a request that predicted 2 rows" in reply.error
    # a malformed attempt does not consume the id
    assert client.request("POST", FB, {"id": rid, "labels": [1, 0]}).status == 200


def test_feedback_unknown_class(client: Client) -> None:
    rid = _predict(client)
    reply = client.request("POST", FB, {"id": rid, "labels": [7]})
    assert reply.status == 400
    assert "7 is not one of the classes [0, 1]" in reply.error


def test_binary_body_is_not_json_message(client: Client) -> None:
    reply = client.request("POST", V2, bytes(range(256)))
    assert reply.status == 400
    assert "not valid JSON" in reply.error
    assert orjson.loads(reply.body)["error"]
