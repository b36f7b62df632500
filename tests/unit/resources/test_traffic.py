"""Gateway API routing builders: per-track Services that select exactly one track's pods, and an HTTPRoute whose
weights follow the rollout (stable 100 - w, canary w; stable alone at 100 when no rollout runs)."""

from __future__ import annotations

import pytest

from herder.api.deployment import GatewayAPI, ParentRef
from herder.resources.common import Owner, Storage
from herder.resources.serving import ModelRef, ServingParams, build_serving_deployment
from herder.resources.traffic import (
    backend_weights,
    build_route,
    build_track_service,
    gateway_replicas,
    route_identity,
    route_weights,
    track_service_name,
)

OWNER = Owner("ModelDeployment", "iris", "ml", "uid-1")
GW = GatewayAPI(parent_refs=[ParentRef(name="public"), ParentRef(name="internal", namespace="infra",
                                                                 section_name="http")],
                hostnames=["iris.example.com", "*.models.example.com"], path_prefix="/models/iris")


def test_track_services_select_only_their_tracks_pods() -> None:
    ref = ModelRef("iris", 3, "file:///x/model.skops", "ab" * 32)
    params = ServingParams(image="img:1", storage=Storage("store"))
    for track in ("stable", "canary"):
        svc = build_track_service(OWNER, track)
        assert svc["metadata"]["name"] == f"iris-{track}"
        assert svc["spec"]["selector"] == {"herder.dev/serving": "iris", "herder.dev/track": track}
        pod_labels = build_serving_deployment(OWNER, track, ref, 1, params)["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= pod_labels.items()
        other = "canary" if track == "stable" else "stable"
        other_pods = build_serving_deployment(OWNER, other, ref, 1, params)["spec"]["template"]["metadata"]["labels"]
        assert not svc["spec"]["selector"].items() <= other_pods.items()
        assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
        assert svc["metadata"]["labels"]["herder.dev/track"] == track


@pytest.mark.parametrize(("canary", "expected"), [
    (None, {"iris-stable": 100}),
    (0, {"iris-stable": 100, "iris-canary": 0}),
    (10, {"iris-stable": 90, "iris-canary": 10}),
    (25, {"iris-stable": 75, "iris-canary": 25}),
    (50, {"iris-stable": 50, "iris-canary": 50}),
    (100, {"iris-stable": 0, "iris-canary": 100}),
])
def test_weights_per_step(canary: int | None, expected: dict[str, int]) -> None:
    route = build_route(OWNER, GW, canary)
    assert backend_weights(route) == expected
    assert sum(expected.values()) == 100
    (rule,) = route["spec"]["rules"]
    assert [b["name"] for b in rule["backendRefs"]] == list(expected)  # stable always first
    assert all(b["port"] == 80 for b in rule["backendRefs"])


def test_after_promotion_or_abort_the_route_has_the_stable_backend_alone() -> None:
    """No canary backend at all (its Service is deleted), not a canary at weight 0 pointing at nothing."""
    assert route_weights(None) == (100, None)
    (rule,) = build_route(OWNER, GW, None)["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": "iris-stable", "port": 80, "weight": 100}]


@pytest.mark.parametrize("bad", [-1, 101, 1000])
def test_weight_out_of_range_is_refused_naming_the_value(bad: int) -> None:
    with pytest.raises(ValueError, match=f"canary weight must be between 0 and 100, got {bad}"):
        build_route(OWNER, GW, bad)


def test_parent_refs_hostnames_and_path_come_from_the_spec() -> None:
    route = build_route(OWNER, GW, 10)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["kind"] == "HTTPRoute"
    assert route["metadata"]["name"] == "iris"
    assert route["metadata"]["namespace"] == "ml"
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "public"},
                                  {"name": "internal", "namespace": "infra", "sectionName": "http"}]
    assert spec["hostnames"] == ["iris.example.com", "*.models.example.com"]
    assert spec["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/models/iris"}}]


def test_defaults_match_everything_on_the_gateway() -> None:
    route = build_route(OWNER, GatewayAPI(parent_refs=[ParentRef(name="gw")]), None)
    assert route["spec"]["hostnames"] == []  # explicit, so removing the hostnames from a spec clears them
    assert route["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_children_are_owned_and_labelled_like_the_others() -> None:
    for obj in (build_route(OWNER, GW, 10), build_track_service(OWNER, "stable"),
                build_track_service(OWNER, "canary")):
        meta = obj["metadata"]
        assert meta["ownerReferences"] == [{"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment",
                                            "name": "iris", "uid": "uid-1", "controller": True,
                                            "blockOwnerDeletion": True}]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "herder-operator"
        assert meta["labels"]["app.kubernetes.io/instance"] == "iris"
        assert meta["labels"]["herder.dev/modeldeployment"] == "iris"
    assert build_route(OWNER, GW, 10)["metadata"]["labels"]["app.kubernetes.io/component"] == "route"


def test_a_name_too_long_for_the_canary_service_is_a_clear_error() -> None:
    long = Owner("ModelDeployment", "m" * 57, "ml", "uid-1")
    with pytest.raises(ValueError, match=r"metadata.name 'm{57}' \(57 characters\) is too long .* at most 63"):
        build_route(long, GW, 10)
    ok = Owner("ModelDeployment", "m" * 56, "ml", "uid-1")
    assert track_service_name(ok, "canary") == "m" * 56 + "-canary"


def test_unknown_track_is_refused() -> None:
    with pytest.raises(ValueError, match="track must be one of stable, canary, got 'blue'"):
        build_track_service(OWNER, "blue")


def test_backend_weights_of_a_live_route_default_to_one() -> None:
    live = {"spec": {"rules": [{"backendRefs": [{"name": "a"}, {"name": "b", "weight": 3}]}]}}
    assert backend_weights(live) == {"a": 1, "b": 3}
    assert backend_weights({}) == {}


@pytest.mark.parametrize(("total", "weight", "expected"), [
    (4, 0, (4, 1)), (4, 10, (4, 1)), (4, 25, (4, 1)), (4, 30, (4, 2)), (4, 50, (4, 2)), (4, 100, (4, 4)),
    (1, 10, (1, 1)), (10, 33, (10, 4)), (0, 50, (0, 1)),
])
def test_gateway_replicas_keep_stable_at_full_size_and_size_the_canary_for_its_weight(
        total: int, weight: int, expected: tuple[int, int]) -> None:
    assert gateway_replicas(total, weight) == expected


def test_gateway_replicas_refuse_bad_input_naming_it() -> None:
    with pytest.raises(ValueError, match="canary weight must be between 0 and 100, got 120"):
        gateway_replicas(3, 120)
    with pytest.raises(ValueError, match="replicas must not be negative, got -1"):
        gateway_replicas(-1, 10)


def test_route_identity_sees_a_dropped_parent_namespace_or_hostname() -> None:
    """is-subset comparison would miss these: the live route still has the field the spec dropped."""
    live = build_route(OWNER, GW, 10)
    live["spec"]["parentRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", **p}
                                  for p in live["spec"]["parentRefs"]]  # as the API server stores it
    assert route_identity(live) == route_identity(build_route(OWNER, GW, 50))
    narrower = GatewayAPI(parent_refs=[ParentRef(name="public"), ParentRef(name="internal", section_name="http")],
                          hostnames=["iris.example.com", "*.models.example.com"], path_prefix="/models/iris")
    assert route_identity(live) != route_identity(build_route(OWNER, narrower, 10))
    no_hosts = GatewayAPI(parent_refs=GW.parent_refs, path_prefix="/models/iris")
    assert route_identity(live) != route_identity(build_route(OWNER, no_hosts, 10))
