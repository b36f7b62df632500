"""Generated children: owned, labelled, and admissible under Pod Security Standards "restricted"."""

from __future__ import annotations

import re
from typing import Any

import pytest

from herder.resources.common import Owner, Storage
from herder.resources.jobs import JobParams, build_job
from herder.resources.serving import (
    ModelRef,
    ServingParams,
    build_httproute,
    build_pdb,
    build_service,
    build_serving_deployment,
    split_replicas,
)

OWNER = Owner("ModelDeployment", "iris", "ml", "uid-1")
REF = ModelRef("iris", 3, "file:///var/lib/herder/store/artifacts/abc/model.skops", "ab" * 32,
               "file:///var/lib/herder/store/artifacts/abc/metadata.json")


def assert_restricted(pod_spec: dict[str, Any]) -> None:
    """The checks of the "restricted" profile (the API server's PodSecurity admission re-checks in integration)."""
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod_spec["automountServiceAccountToken"] is False
    for c in pod_spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
    for v in pod_spec["volumes"]:
        assert set(v) & {"emptyDir", "persistentVolumeClaim", "configMap", "secret", "projected"}


def test_serving_deployment() -> None:
    d = build_serving_deployment(OWNER, "stable", REF, 2, ServingParams(image="img:1", storage=Storage("store")))
    assert d["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "herder-operator"
    spec = d["spec"]["template"]["spec"]
    assert_restricted(spec)
    args = spec["containers"][0]["args"]
    assert f"--sha256={'ab' * 32}" in args
    assert "--host=$(POD_IP)" in args
    assert d["spec"]["selector"]["matchLabels"] == {"herder.dev/serving": "iris", "herder.dev/track": "stable"}
    assert spec["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_serving_pods_leave_the_service_before_they_stop_answering() -> None:
    """A deleted serving pod sleeps in preStop (long compared with the ~1 s in which endpoint consumers notice it
    left the Service), then drains on SIGTERM, and all of it fits the grace period before SIGKILL."""
    d = build_serving_deployment(OWNER, "stable", REF, 2, ServingParams(image="img:1", storage=Storage("store")))
    spec = d["spec"]["template"]["spec"]
    container = spec["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 5
    args = container["args"]
    drain = int(next(a for a in args if a.startswith("--drain-seconds=")).split("=")[1])
    in_flight = int(next(a for a in args if a.startswith("--graceful-timeout-seconds=")).split("=")[1])
    assert drain >= 1 and in_flight >= 1
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain + in_flight
    assert container["readinessProbe"]["periodSeconds"] * container["readinessProbe"]["failureThreshold"] <= 5


@pytest.mark.parametrize(("grace", "pre_stop", "drain", "message"), [
    (8, 5, 2, "terminationGracePeriodSeconds 8 is too short: the preStop sleep (5s), the server's drain (2s), "
              "at least 1s for in-flight requests and a 3s margin need 11s"),
    (30, -1, 2, "preStop sleep (-1s) and drain (2s) cannot be negative"),
])
def test_lifecycle_settings_that_cannot_work_are_refused(grace: int, pre_stop: int, drain: int, message: str
                                                         ) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ServingParams(image="img:1", storage=Storage("store"), termination_grace_seconds=grace,
                      pre_stop_sleep_seconds=pre_stop, drain_seconds=drain)


def test_service_selects_both_tracks() -> None:
    assert build_service(OWNER)["spec"]["selector"] == {"herder.dev/serving": "iris"}
    assert build_pdb(OWNER)["spec"]["selector"]["matchLabels"] == {"herder.dev/serving": "iris"}


def test_httproute_weights() -> None:
    r = build_httproute(OWNER, {"name": "gw"}, 80, 20)
    assert [(b["name"], b["weight"]) for b in r["spec"]["rules"][0]["backendRefs"]] == [
        ("iris-stable", 80), ("iris-canary", 20)]


@pytest.mark.parametrize(("total", "weight", "expected"), [
    (4, 0, (4, 0)), (4, 25, (3, 1)), (4, 50, (2, 2)), (1, 10, (1, 1)), (4, 100, (0, 4)), (3, 90, (1, 3))])
def test_split_replicas(total: int, weight: int, expected: tuple[int, int]) -> None:
    assert split_replicas(total, weight) == expected


def test_job() -> None:
    job = build_job(Owner("TrainingJob", "t", "ml", "u"), JobParams(
        name="t-train", component="training", image="img:1", args=["train"], request={"a": 1},
        storage=Storage("store"), deadline_seconds=600))
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]
    pod = spec["template"]["spec"]
    assert_restricted(pod)
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["env"][0] == {"name": "HERDER_REQUEST_JSON", "value": '{"a":1}'}
    assert len(pod["containers"][0]["env"]) == 1  # no S3 Secret configured: no credentials


def test_job_gets_s3_credentials_key_by_key_from_the_secret() -> None:
    job = build_job(Owner("Dataset", "d", "ml", "u"), JobParams(
        name="d-validate-1", component="validation", image="img:1", args=["validate"], request={},
        storage=Storage("store"), s3_secret="herder-s3"))
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "herder-s3", "key": "AWS_ACCESS_KEY_ID"}  # required
    assert env["AWS_ENDPOINT_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert all("value" not in e for k, e in env.items() if k.startswith("AWS_"))  # no secret in the pod spec


def test_serving_deployment_extra_env() -> None:
    p = ServingParams(image="img:1", storage=Storage("store"), env=(("HERDER_INJECT_ERROR_RATE", "1.0"),))
    env = build_serving_deployment(OWNER, "canary", REF, 1, p)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HERDER_INJECT_ERROR_RATE", "value": "1.0"} in env


def test_an_s3_store_gives_s3_locations_no_volume_and_credentials_by_reference() -> None:
    store = Storage(s3="s3://ml-artifacts/herder/", secret="herder-s3")
    assert store.path("artifacts", "uid-1") == "s3://ml-artifacts/herder/artifacts/uid-1"
    assert store.uri("snapshots", "sha256", "ab.csv") == "s3://ml-artifacts/herder/snapshots/sha256/ab.csv"
    assert Storage("store").uri("artifacts", "u") == "file:///var/lib/herder/store/artifacts/u"
    job = build_job(Owner("TrainingJob", "t", "ml", "u"), JobParams(
        name="t-train", component="training", image="img:1", args=["train"], request={"outputDir": store.path("a")},
        storage=store, s3_secret=store.secret))
    serving = build_serving_deployment(OWNER, "stable", REF, 1, ServingParams(image="img:1", storage=store))
    for pod in (job["spec"]["template"]["spec"], serving["spec"]["template"]["spec"]):
        assert_restricted(pod)
        assert [v["name"] for v in pod["volumes"]] == ["tmp"]  # no claim to mount
        container = pod["containers"][0]
        assert all(m["name"] != "store" for m in container["volumeMounts"])
        env = {e["name"]: e for e in container["env"]}
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "herder-s3",
                                                                             "key": "AWS_SECRET_ACCESS_KEY"}
        assert all("value" not in e for k, e in env.items() if k.startswith("AWS_"))
