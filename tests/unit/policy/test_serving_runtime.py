"""Which artifact a ModelDeployment's pods run, and the ModelVersion's Compiled condition (pure functions)."""

from __future__ import annotations

from typing import Any

from herder.api.modelversion import Artifact
from herder.controllers.modeldeployment import model_ref
from herder.policy.serving_runtime import compiled_condition, served_artifact
from herder.resources.common import Storage
from herder.resources.serving import ServingParams, build_serving_deployment
from tests.unit.resources.test_builders import OWNER, assert_restricted

STORE = "file:///var/lib/herder/store/artifacts/abc"
CHECK = {"rows": 30, "labelMismatches": 0, "maxAbsDiff": "0.0000001", "maxRelDiff": "0.0000001",
         "tolerance": "0.00001", "estimatorPrecision": "float32"}


def artifact(**extra: Any) -> dict[str, Any]:
    return {"uri": f"{STORE}/model.skops", "digest": "sha256:" + "a" * 64, "format": "skops",
            "metadataUri": f"{STORE}/metadata.json", **extra}


ONNX = {"uri": f"{STORE}/model.onnx", "digest": "sha256:" + "c" * 64, "check": CHECK}


def test_auto_serves_the_onnx_twin_and_skops_when_asked() -> None:
    art = Artifact.model_validate(artifact(onnx=ONNX))
    assert served_artifact(art).format == "onnx"
    assert served_artifact(art).uri.endswith("model.onnx")
    assert served_artifact(art, "Skops").format == "skops"
    plain = Artifact.model_validate(artifact(onnxFailure="SVR pipeline not compiled"))
    assert served_artifact(plain) == served_artifact(plain, "Skops")
    assert served_artifact(plain).uri.endswith("model.skops")


def test_compiled_condition_says_what_serves_and_why() -> None:
    ok = compiled_condition(Artifact.model_validate(artifact(onnx=ONNX)))
    assert (ok.type, ok.status, ok.reason) == ("Compiled", "True", "OnnxVerified")
    assert "30 holdout rows" in ok.message and "float32" in ok.message and "0.00001" in ok.message
    failed = compiled_condition(Artifact.model_validate(artifact(onnxFailure="SVR pipeline not compiled: x")))
    assert (failed.status, failed.reason) == ("False", "OnnxUnavailable")
    assert failed.message == "served from skops: SVR pipeline not compiled: x"
    external = compiled_condition(Artifact.model_validate(artifact()))
    assert (external.status, external.reason) == ("Unknown", "NoOnnxArtifact")


def test_an_onnx_serving_pod_gets_the_onnx_file_and_no_trusted_types() -> None:
    mv = {"spec": {"version": 3, "artifact": artifact(onnx=ONNX)}}
    params = ServingParams(image="herder:dev", storage=Storage(claim="herder-store"),
                           trusted_types=("sklearn.tree._tree.Tree",))
    for runtime, fmt, file in (("Auto", "onnx", "model.onnx"), ("Skops", "skops", "model.skops")):
        ref = model_ref("iris", mv, runtime)
        pod = build_serving_deployment(OWNER, "stable", ref, 1, params)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert f"--format={fmt}" in container["args"]
        assert f"--model-uri={STORE}/{file}" in container["args"]
        assert f"--metadata-uri={STORE}/metadata.json" in container["args"]
        names = {e["name"] for e in container["env"]}
        assert ("HERDER_TRUSTED_TYPES" in names) is (fmt == "skops")
        assert_restricted(pod)
    assert model_ref("iris", mv).sha256 == "c" * 64


def test_the_trainers_summary_becomes_the_modelversions_onnx_fields() -> None:
    from herder.controllers.trainingjob import onnx_fields

    summary = {"onnx": {"artifact": "/mnt/node-local/artifacts/uid/model.onnx", "sha256": "c" * 64,
                        "check": {"rows": 30, "labelMismatches": 0, "maxAbsDiff": 1.2e-7, "maxRelDiff": 1.2e-7,
                                  "tolerance": 1e-5, "estimatorPrecision": "float32"}}}
    fields = onnx_fields(summary, STORE)
    art = Artifact.model_validate(artifact(**fields))  # what the API server will be asked to store
    assert art.onnx is not None and art.onnx.uri == f"{STORE}/model.onnx"  # as every pod sees the store
    assert art.onnx.check is not None and art.onnx.check.tolerance == "0.00001"
    assert onnx_fields({"onnxFailure": "SVR pipeline not compiled"}, STORE) == {
        "onnxFailure": "SVR pipeline not compiled"}
    assert onnx_fields({}, STORE) == {}  # a trainer image from before compilation


def test_a_payload_log_mounts_the_store_writable_and_names_the_pod() -> None:
    from herder.resources.serving import PayloadLogParams

    mv = {"spec": {"version": 3, "artifact": artifact(onnx=ONNX)}}
    base = ServingParams(image="herder:dev", storage=Storage(claim="herder-store"))
    logged = ServingParams(image="herder:dev", storage=Storage(claim="herder-store"),
                           payload_log=PayloadLogParams("0.25", 2.0, ("email", "phone")))
    plain = build_serving_deployment(OWNER, "stable", model_ref("iris", mv), 1, base)["spec"]["template"]["spec"]
    pod = build_serving_deployment(OWNER, "stable", model_ref("iris", mv), 1, logged)["spec"]["template"]["spec"]
    assert [m["readOnly"] for m in plain["containers"][0]["volumeMounts"] if m["name"] == "store"] == [True]
    assert [m["readOnly"] for m in pod["containers"][0]["volumeMounts"] if m["name"] == "store"] == [False]
    args = pod["containers"][0]["args"]
    assert f"--payload-log=/var/lib/herder/store/payloads/{OWNER.namespace}" in args
    assert "--payload-log-sample-rate=0.25" in args and "--payload-log-flush-seconds=2" in args
    assert "--payload-log-exclude=email" in args and "--payload-log-exclude=phone" in args
    assert not any(a.startswith("--payload-log") for a in plain["containers"][0]["args"])
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert_restricted(pod)
