"""Happy paths of every endpoint, metrics as the operator will read them, feedback, payload log, 503s."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson

from herder.serving.dataplane import DataPlaneSettings
from tests.unit.serving.helpers import Client, make_client, metric_value, numeric_estimator

ROWS = [[0.5, -0.2, 1], [-2.0, 0.3, 2], [1.5, 1.0, 0]]


def test_v1_predict_arrays_and_objects_agree(client: Client) -> None:
    expected = numeric_estimator().predict(np.asarray(ROWS, dtype=float)).tolist()
    arrays = client.request("POST", "/v1/models/m:predict", {"instances": ROWS})
    objects = client.request(
        "POST", "/v1/models/m:predict", {"instances": [dict(zip("abn", r, strict=True)) for r in ROWS]}
    )
    assert arrays.status == objects.status == 200
    assert arrays.json()["predictions"] == objects.json()["predictions"] == expected
    assert arrays.headers["x-request-id"] == arrays.json()["id"]


def test_v1_probabilities_on_request(client: Client) -> None:
    body = client.request(
        "POST", "/v1/models/m:predict", {"instances": ROWS, "parameters": {"probabilities": True}}
    ).json()
    expected = numeric_estimator().predict_proba(np.asarray(ROWS, dtype=float))
    assert np.allclose(body["probabilities"], expected)
    assert body["classes"] == [0, 1]


def test_v2_positional_named_and_nested_agree(client: Client) -> None:
    flat = [v for r in ROWS for v in r]
    positional = {"inputs": [{"name": "x", "shape": [3, 3], "datatype": "FP64", "data": flat}]}
    nested = {"inputs": [{"name": "x", "shape": [3, 3], "datatype": "FP64", "data": ROWS}]}
    named = {
        "inputs": [
            {"name": "a", "shape": [3], "datatype": "FP64", "data": [r[0] for r in ROWS]},
            {"name": "b", "shape": [3, 1], "datatype": "FP32", "data": [r[1] for r in ROWS]},
            {"name": "n", "shape": [3], "datatype": "INT64", "data": [r[2] for r in ROWS]},
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        "id": "my-request-1",
    }
    replies = [client.request("POST", "/v2/models/m/infer", b) for b in (positional, nested, named)]
    assert [r.status for r in replies] == [200, 200, 200]
    labels = [r.json()["outputs"][0]["data"] for r in replies]
    assert labels[0] == labels[1] == labels[2]
    out = replies[2].json()
    assert out["id"] == "my-request-1"
    assert out["model_name"] == "m"
    assert out["model_version"] == "3"
    assert out["outputs"][0] == {"name": "predict", "shape": [3], "datatype": "INT64", "data": labels[0]}
    proba = out["outputs"][1]
    assert proba["shape"] == [3, 2]
    assert proba["datatype"] == "FP64"
    assert np.allclose(np.asarray(proba["data"]).reshape(3, 2).sum(axis=1), 1.0)


def test_v2_versioned_path_and_binary_tensor(client: Client) -> None:
    data = np.asarray(ROWS, dtype=np.float32)
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [3, 3], "datatype": "FP32", "parameters": {"binary_data_size": data.nbytes}}
            ]
        }
    )
    reply = client.request(
        "POST",
        "/v2/models/m/versions/3/infer",
        header + data.tobytes(),
        {"inference-header-content-length": str(len(header))},
    )
    assert reply.status == 200, reply.body
    expected = numeric_estimator().predict(data.astype(np.float64)).tolist()
    assert reply.json()["outputs"][0]["data"] == expected


def test_health_and_metadata(client: Client) -> None:
    assert client.request("GET", "/v2/health/live").json() == {"live": True}
    assert client.request("GET", "/v2/health/ready").json() == {"ready": True}
    assert client.request("GET", "/v2/models/m/ready").status == 200
    assert client.request("GET", "/v1/models/m").json() == {"name": "m", "ready": True}
    assert client.request("GET", "/v1/models").json() == {"models": ["m"]}
    meta = client.request("GET", "/v2/models/m").json()
    assert meta["name"] == "m"
    assert meta["versions"] == ["3"]
    assert [i["name"] for i in meta["inputs"]] == ["a", "b", "n"]
    assert [i["datatype"] for i in meta["inputs"]] == ["FP64", "FP64", "INT64"]
    assert meta["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}
    assert client.request("GET", "/v2").json()["name"] == "herder"
    doc = client.request("GET", "/openapi.json").json()
    assert "/v2/models/m/infer" in doc["paths"]
    assert "/v1/models/m:feedback" in doc["paths"]


def test_draining_and_not_loaded_are_503(client: Client) -> None:
    client.app.draining = True
    reply = client.request("GET", "/v2/health/ready")
    assert reply.status == 503
    assert reply.headers["connection"] == "close"
    # still answers inference while draining, and tells the client to go away
    served = client.request("POST", "/v1/models/m:predict", {"instances": ROWS})
    assert served.status == 200
    assert served.headers["connection"] == "close"
    client.app.draining = False
    client.app.loaded = False
    reply = client.request("POST", "/v1/models/m:predict", {"instances": ROWS})
    assert reply.status == 503
    assert "not loaded" in reply.error
    assert reply.headers["retry-after"] == "1"


def test_concurrency_cap_is_503(numeric_model) -> None:  # type: ignore[no-untyped-def]
    c = make_client(numeric_model, DataPlaneSettings(inject_latency_ms=50), max_concurrency=2)
    try:

        async def burst() -> list[int]:
            replies = await asyncio.gather(
                *[c.arequest("POST", "/v1/models/m:predict", {"instances": ROWS}) for _ in range(5)]
            )
            return sorted(r.status for r in replies)

        statuses = c.loop.run_until_complete(burst())
        assert statuses == [200, 200, 503, 503, 503]
        reply = c.loop.run_until_complete(c.arequest("GET", "/metrics"))
        assert metric_value(reply.body.decode(), "herder_requests_total", protocol="v1", code="503") == 3
    finally:
        c.close()


def test_injected_faults_are_500_and_counted(numeric_model) -> None:  # type: ignore[no-untyped-def]
    c = make_client(numeric_model, DataPlaneSettings(inject_error_rate=1.0))
    try:
        reply = c.request("POST", "/v1/models/m:predict", {"instances": ROWS})
        assert reply.status == 500
        assert "injected fault" in reply.error
        text = c.request("GET", "/metrics").body.decode()
        assert metric_value(text, "herder_requests_total", protocol="v1", code="500") == 1
    finally:
        c.close()


def test_metrics_describe_traffic_and_drift(client: Client) -> None:
    client.request("POST", "/v1/models/m:predict", {"instances": ROWS})
    client.request("POST", "/v2/models/m/infer", {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64",
                                                             "data": [-5.0, 0.0, 7]}]})  # fmt: skip
    client.request("POST", "/v1/models/m:predict", {"instances": [[1, 2]]})
    text = client.request("GET", "/metrics").body.decode()
    assert metric_value(text, "herder_requests_total", protocol="v1", code="200") == 1
    assert metric_value(text, "herder_requests_total", protocol="v1", code="400") == 1
    assert metric_value(text, "herder_requests_total", protocol="v2", code="200") == 1
    assert metric_value(text, "herder_request_duration_seconds_count", protocol="v1") == 2
    assert metric_value(text, "herder_batch_size_count") == 2
    assert metric_value(text, "herder_batch_size_sum") == 4
    assert metric_value(text, "herder_model_info", sha256=client.app.model.sha256, version="3") == 1
    assert metric_value(text, "herder_model_ready") == 1
    # feature a, edges [-1, 0, 1]: 0.5 -> bin 2, -2.0 -> bin 0, 1.5 -> bin 3, -5.0 -> bin 0
    assert [metric_value(text, "herder_feature_bin_total", feature="a", bin=str(b)) for b in range(4)] == [
        2, 0, 1, 1,
    ]  # fmt: skip
    # feature n, categories [0, 1, 2] + other: 1, 2, 0, 7 -> bins 1, 2, 0, 3
    assert [metric_value(text, "herder_feature_bin_total", feature="n", bin=str(b)) for b in range(4)] == [
        1, 1, 1, 1,
    ]  # fmt: skip
    assert metric_value(text, "herder_feature_bin_total", feature="b") is None  # no baseline bins for b
    counts = [metric_value(text, "herder_predictions_total", **{"class": c}) for c in ("0", "1")]
    assert sum(c or 0 for c in counts) == 4


def test_feedback_accuracy_counts(client: Client) -> None:
    body = client.request("POST", "/v1/models/m:predict", {"instances": ROWS}).json()
    predicted = body["predictions"]
    truth = [predicted[0], 1 - predicted[1], predicted[2]]
    reply = client.request("POST", "/v1/models/m:feedback", {"id": body["id"], "labels": truth})
    assert reply.json() == {"id": body["id"], "rows": 3, "correct": 2}
    again = client.request("POST", "/v1/models/m:feedback", {"id": body["id"], "labels": truth})
    assert again.status == 404  # scored once only
    v2 = client.request("POST", "/v2/models/m/feedback", {"id": "nope", "label": 1})
    assert v2.status == 404
    text = client.request("GET", "/metrics").body.decode()
    assert metric_value(text, "herder_feedback_total", outcome="correct") == 2
    assert metric_value(text, "herder_feedback_total", outcome="incorrect") == 1
    assert metric_value(text, "herder_feedback_total", outcome="unmatched") == 2
    assert metric_value(text, "herder_requests_total", protocol="feedback", code="200") == 1


def test_regression_outputs_metrics_and_feedback(reg_client: Client) -> None:
    body = reg_client.request("POST", "/v1/models/reg:predict", {"instances": [[1.0, 1.0], [5.0, 5.0]]}).json()
    assert np.allclose(body["predictions"], [3.0, 15.0])
    meta = reg_client.request("GET", "/v2/models/reg").json()
    assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    proba = reg_client.request("POST", "/v1/models/reg:predict", {"instances": [[1, 1]], "parameters": {
        "probabilities": True}})  # fmt: skip
    assert "probabilities" not in proba.json()
    no_proba = reg_client.request(
        "POST", "/v2/models/reg/infer",
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 1]}],
         "parameters": {"probabilities": True}},
    )  # fmt: skip
    assert no_proba.status == 400
    assert "does not return probabilities" in no_proba.error
    fb = reg_client.request("POST", "/v1/models/reg:feedback", {"id": body["id"], "labels": [4.0, 15.0]}).json()
    assert abs(fb["absolute_error"] - 1.0) < 1e-9
    text = reg_client.request("GET", "/metrics").body.decode()
    assert metric_value(text, "herder_prediction_value_count") == 3
    assert metric_value(text, "herder_prediction_bin_total", bin="1") == 2  # 3.0 and 3.0 in [0, 10)
    assert metric_value(text, "herder_prediction_bin_total", bin="2") == 1  # 15.0 >= 10
    assert metric_value(text, "herder_feedback_total", outcome="received") == 2
    assert abs((metric_value(text, "herder_feedback_absolute_error_sum") or 0) - 1.0) < 1e-9


def test_metrics_can_be_disabled(numeric_model) -> None:  # type: ignore[no-untyped-def]
    c = make_client(numeric_model, metrics_enabled=False)
    try:
        assert c.request("POST", "/v1/models/m:predict", {"instances": ROWS}).status == 200
        reply = c.request("GET", "/metrics")
        assert reply.status == 404
        assert "metrics are disabled" in reply.error
        assert c.app.metrics.requests == {}
    finally:
        c.close()
