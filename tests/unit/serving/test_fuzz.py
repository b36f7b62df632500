"""Property-based fuzzing of every operation in the server's own OpenAPI document: never a 5xx.

Bodies are drawn from two strategies: arbitrary JSON (and raw bytes), and near-valid documents built from the
request schemas with values swapped for arbitrary JSON, which reach deeper validation code. Runs in-process on
the ASGI app (no sockets), bounded by max_examples.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.serving.helpers import Client, make_client, numeric_estimator, numeric_metadata, served

MODEL = served(numeric_metadata(), numeric_estimator())
CLIENT: Client | None = None


def client() -> Client:
    global CLIENT  # noqa: PLW0603 - one app for the whole hypothesis run keeps it fast
    if CLIENT is None:
        CLIENT = make_client(MODEL, max_body_bytes=64 * 1024)
    return CLIENT


def _dumps(value: Any) -> bytes:
    """stdlib json: writes big integers and Infinity, which the server must refuse cleanly."""
    return json.dumps(value).encode()


def operations() -> list[tuple[str, str]]:
    doc = client().request("GET", "/openapi.json").json()
    return [(method.upper(), path) for path, item in doc["paths"].items() for method in item]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)
datatypes = st.sampled_from(["FP64", "FP32", "INT64", "INT32", "INT8", "UINT8", "BOOL", "BYTES", "FP16", "X"])
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "b", "n", "input-0"]) | st.text(max_size=4),
        "shape": st.lists(st.integers(-1, 4), max_size=3) | json_values,
        "datatype": datatypes,
        "data": st.lists(json_values, max_size=12) | st.lists(st.floats(-3, 3), max_size=12) | json_values,
    },
    optional={"parameters": st.dictionaries(st.sampled_from(["binary_data_size", "x"]), json_values, max_size=2)},
)
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=4)},
    optional={
        "outputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["predict", "predict_proba", "x"])})),
        "parameters": st.dictionaries(st.sampled_from(["probabilities"]), json_values),
        "id": json_values,
    },
)
row = st.lists(st.integers(-5, 5) | st.floats(-1e6, 1e6) | json_values, min_size=0, max_size=5)
obj_row = st.dictionaries(st.sampled_from(["a", "b", "n", "z"]), st.floats(-5, 5) | json_values, max_size=4)
v1_bodies = st.fixed_dictionaries(
    {"instances": st.lists(row | obj_row, max_size=4) | json_values},
    optional={"parameters": st.dictionaries(st.sampled_from(["probabilities"]), json_values) | json_values},
)
feedback_bodies = st.fixed_dictionaries(
    {"id": st.text(max_size=6) | json_values}, optional={"labels": json_values, "label": json_values}
)
bodies = st.one_of(
    v2_bodies.map(_dumps),
    v1_bodies.map(_dumps),
    feedback_bodies.map(_dumps),
    json_values.map(_dumps),
    st.binary(max_size=64),
)
headers = st.dictionaries(
    st.sampled_from(["x-request-id", "inference-header-content-length", "content-type"]),
    st.text(alphabet="abc123-:. !", max_size=6),
    max_size=2,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), body=bodies, extra_headers=headers)
def test_no_operation_ever_answers_5xx(data: Any, body: bytes, extra_headers: dict[str, str]) -> None:
    method, path = data.draw(st.sampled_from(operations()))
    if data.draw(st.booleans()):
        method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    reply = client().request(method, path, body, extra_headers)
    assert reply.status < 500, (method, path, body, reply.body)
    if reply.status >= 400:
        assert reply.error


@settings(max_examples=100, deadline=None)
@given(path=st.text(alphabet="/v12modelsinferready:predictfeedback-_.x%", max_size=40))
def test_arbitrary_paths_never_5xx(path: str) -> None:
    reply = client().request("POST", "/" + path, b"{}")
    assert reply.status < 500
