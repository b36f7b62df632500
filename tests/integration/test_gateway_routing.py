"""Gateway API traffic routing against the real API server with the Gateway API CRDs (standard channel, from the
pinned ``sigs.k8s.io/gateway-api`` module, built into the control-plane cache by hack/build-controlplane.sh).

``route()`` runs here exactly as the operator runs it, as a user holding only the Helm chart's ClusterRole: every
HTTPRoute it builds for a rollout step is accepted by the real schema and CEL rules, weights move per step with
zero writes when nothing changed (counted in the API server's audit log), an abort puts stable back at 100, the
controller-manager's garbage collector removes the route and Services with their ModelDeployment, and a cluster
without the CRDs (or an operator without RBAC for them, or a route the API server refuses) gets a clear error with
nothing half-created.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster import binaries
from localcluster.cluster import KubectlError, LocalCluster

from herder.api.deployment import GatewayAPI, ModelDeploymentSpec, ParentRef, TrafficRouting
from herder.api.parsing import parse_spec
from herder.controllers.config import OperatorConfig
from herder.controllers.context import Clients, OperatorContext
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.traffic import TrafficRoutingError, httproutes_served, route, unroute
from herder.resources.common import Owner
from tests.integration.k8s import helm, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CRD = "httproutes.gateway.networking.k8s.io"
GATEWAY = {"parentRefs": [{"name": "public"}, {"name": "internal", "namespace": "infra", "sectionName": "http"}],
           "hostnames": ["iris.example.com"], "pathPrefix": "/models/iris"}


@dataclass
class Router:
    """An OperatorContext authenticated as ``user``, who holds the chart's ClusterRole (rendered with ``values``)."""

    user: str
    ctx: OperatorContext


def _router(cluster: LocalCluster, *values: str) -> Iterator[Router]:
    user = f"herder-routing-{uuid.uuid4().hex[:6]}"
    rendered = helm(cluster, "template", "herder", str(ROOT / "charts" / "herder"), "--namespace", "herder-system",
                    "--set", f"fullnameOverride={user}", *values)
    assert rendered.returncode == 0, rendered.stderr
    (role,) = [d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "ClusterRole"]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(role))
    cluster.kubectl("create", "clusterrolebinding", user, f"--clusterrole={user}", f"--user={user}")
    kubeconfig = cluster.user_kubeconfig(user)
    config = OperatorConfig(kubeconfig=str(kubeconfig))
    try:
        yield Router(user, OperatorContext(config=config, clients=Clients(config), metrics=OperatorMetrics()))
    finally:
        cluster.kubectl("delete", "clusterrolebinding", user, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "clusterrole", user, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def router(crds: LocalCluster) -> Iterator[Router]:
    yield from _router(crds)


@pytest.fixture(scope="module")
def router_without_gateway_rbac(crds: LocalCluster) -> Iterator[Router]:
    yield from _router(crds, "--set", "rbac.gatewayAPI=false")


@pytest.fixture
def gateway_api(cluster: LocalCluster, router: Router) -> LocalCluster:
    """The standard-channel Gateway API CRDs installed and httproutes served."""
    if not httproutes_served(router.ctx):
        crds = binaries.assets_dir() / "gateway-api-crds"
        cluster.kubectl("apply", "--server-side", "-f", str(crds))
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=60s")
        wait_until(lambda: httproutes_served(router.ctx), 60, what="httproutes to be served")
    return cluster


@pytest.fixture
def no_gateway_api(cluster: LocalCluster, router: Router) -> LocalCluster:
    """A cluster where httproutes are not served (the CRD removed if an earlier test installed it)."""
    if httproutes_served(router.ctx):
        cluster.kubectl("delete", "crd", CRD, "--ignore-not-found", "--timeout=60s")
        wait_until(lambda: not httproutes_served(router.ctx), 60, what="httproutes to stop being served")
    return cluster


def make_deployment(cluster: LocalCluster, namespace: str, gateway: dict[str, Any] | None = GATEWAY,
                    name: str = "iris") -> tuple[Owner, ModelDeploymentSpec]:
    """A real ModelDeployment (no operator watches this namespace), so ownerReferences resolve."""
    spec: dict[str, Any] = {"model": {"name": "iris", "version": 1}}
    if gateway is not None:
        spec["trafficRouting"] = {"type": "GatewayAPI", "gatewayAPI": gateway}
    body = {"apiVersion": "herder.dev/v1alpha1", "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    created = json.loads(cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(body)).stdout)
    parsed = parse_spec("ModelDeployment", created)
    assert isinstance(parsed, ModelDeploymentSpec)
    return Owner.from_body("ModelDeployment", created), parsed


def live_route(cluster: LocalCluster, namespace: str, name: str = "iris") -> dict[str, Any] | None:
    result = cluster.kubectl("get", "httproutes.gateway.networking.k8s.io", name, "-n", namespace, "-o", "json",
                             check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def weights(cluster: LocalCluster, namespace: str) -> dict[str, int]:
    r = live_route(cluster, namespace)
    assert r is not None, "the HTTPRoute exists"
    return {b["name"]: b["weight"] for b in r["spec"]["rules"][0]["backendRefs"]}


def services(cluster: LocalCluster, namespace: str) -> set[str]:
    out = cluster.kubectl("get", "services", "-n", namespace, "-o", "name").stdout.split()
    return {s.removeprefix("service/") for s in out}


def writes(cluster: LocalCluster, user: str, namespace: str, mark: int) -> list[tuple[str, str, str]]:
    return sorted((str(w["verb"]), str(w["resource"]), str(w["name"] or "")) for w in cluster.writes_by(user, mark)
                  if w["namespace"] == namespace)


# ---- without the CRDs first (the other tests install them) -------------------------------------------------

def test_without_gateway_api_crds_route_is_a_clear_error_and_creates_nothing(
        no_gateway_api: LocalCluster, router: Router, namespace: str) -> None:
    cluster = no_gateway_api
    owner, spec = make_deployment(cluster, namespace)
    mark = cluster.audit_lines()
    with pytest.raises(TrafficRoutingError) as err:
        route(router.ctx, owner, spec, stable_version=1, canary_version=None, canary_weight=0)
    assert err.value.reason == "GatewayAPINotInstalled"
    assert "httproutes.gateway.networking.k8s.io (v1) is not served by this cluster" in err.value.message
    cond = err.value.condition("Ready")
    assert (cond.type, cond.status, cond.reason) == ("Ready", "False", "GatewayAPINotInstalled")
    # the failed create is the one write attempted (a 404, so the audit log has no name for it); no Service was
    # made for a route that cannot exist
    assert writes(cluster, router.user, namespace, mark) == [("create", "httproutes", "")]
    assert {"iris-stable", "iris-canary"}.isdisjoint(services(cluster, namespace))


def test_replicas_routing_makes_no_api_call(router: Router, crds: LocalCluster, namespace: str) -> None:
    owner, spec = make_deployment(crds, namespace, gateway=None)
    mark = crds.audit_lines()
    assert route(router.ctx, owner, spec, stable_version=1, canary_version=2, canary_weight=30) == []
    assert writes(crds, router.user, namespace, mark) == []
    assert services(crds, namespace) == set()


# ---- with the CRDs ---------------------------------------------------------------------------------------

def test_weights_follow_the_steps_with_zero_writes_when_nothing_changed(
        gateway_api: LocalCluster, router: Router, namespace: str) -> None:
    cluster = gateway_api
    owner, spec = make_deployment(cluster, namespace)

    def step(canary: int | None, weight: int, want: dict[str, int], want_writes: list[tuple[str, str, str]],
             stable: int = 1) -> list[tuple[str, str, str]]:
        mark = cluster.audit_lines()
        events = route(router.ctx, owner, spec, stable_version=stable, canary_version=canary, canary_weight=weight)
        assert weights(cluster, namespace) == want
        assert writes(cluster, router.user, namespace, mark) == sorted(want_writes)
        # the same state again (a resync): nothing to write, nothing to report
        mark = cluster.audit_lines()
        assert route(router.ctx, owner, spec, stable_version=stable, canary_version=canary,
                     canary_weight=weight) == []
        assert writes(cluster, router.user, namespace, mark) == []
        return events

    patch = ("patch", "httproutes", "iris")
    events = step(None, 0, {"iris-stable": 100},
                  [("create", "httproutes", "iris"), ("create", "services", "iris-stable")])
    assert [e[1] for e in events] == ["HTTPRouteCreated", "ServiceCreated"]
    r = live_route(cluster, namespace)
    assert r is not None
    # accepted as built, with the API server's defaults filled in
    assert r["spec"]["hostnames"] == ["iris.example.com"]
    assert r["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"},
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "internal", "namespace": "infra",
         "sectionName": "http"}]
    assert r["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/models/iris"}}]
    assert r["metadata"]["ownerReferences"][0]["uid"] == owner.uid
    # a canary appears, not ready yet: its Service first, the route lists it at 0
    events = step(2, 0, {"iris-stable": 100, "iris-canary": 0}, [("create", "services", "iris-canary"), patch])
    assert [e[1] for e in events] == ["ServiceCreated", "TrafficShifted"]
    before = 0
    for w in (10, 25, 50, 100):
        events = step(2, w, {"iris-stable": 100 - w, "iris-canary": w}, [patch])
        assert events == [("Normal", "TrafficShifted", f"HTTPRoute iris: stable {100 - w}%, canary {w}% (stable "
                                                        f"version 1, canary version 2), was stable {100 - before}%, "
                                                        f"canary {before}%")]
        before = w
    # promoted: stable serves version 2 and takes everything; the canary Service goes after the route left it
    events = step(None, 0, {"iris-stable": 100}, [patch, ("delete", "services", "iris-canary")], stable=2)
    assert [e[1] for e in events] == ["TrafficShifted", "ServiceDeleted"]
    assert services(cluster, namespace) == {"iris-stable"}


def test_abort_puts_stable_back_at_100(gateway_api: LocalCluster, router: Router, namespace: str) -> None:
    cluster = gateway_api
    owner, spec = make_deployment(cluster, namespace)
    route(router.ctx, owner, spec, stable_version=1, canary_version=2, canary_weight=25)
    assert weights(cluster, namespace) == {"iris-stable": 75, "iris-canary": 25}
    assert {"iris-stable", "iris-canary"} <= services(cluster, namespace)
    events = route(router.ctx, owner, spec, stable_version=1, canary_version=None, canary_weight=0)
    assert weights(cluster, namespace) == {"iris-stable": 100}
    assert "iris-canary" not in services(cluster, namespace)
    assert events == [("Normal", "TrafficShifted", "HTTPRoute iris: stable 100% (stable version 1), was stable 75%, "
                                                   "canary 25%"),
                      ("Normal", "ServiceDeleted", "deleted Service iris-canary: no canary")]


def test_deleting_the_modeldeployment_collects_the_route_and_services(
        gateway_api: LocalCluster, router: Router, namespace: str) -> None:
    cluster = gateway_api
    owner, spec = make_deployment(cluster, namespace)
    route(router.ctx, owner, spec, stable_version=1, canary_version=2, canary_weight=10)
    assert live_route(cluster, namespace) is not None
    assert {"iris-stable", "iris-canary"} <= services(cluster, namespace)
    cluster.kubectl("delete", "modeldeployment", "iris", "-n", namespace, "--wait=false")
    wait_until(lambda: live_route(cluster, namespace) is None
               and not {"iris-stable", "iris-canary"} & services(cluster, namespace), 120,
               what="the garbage collector to remove the HTTPRoute and the track Services")


def test_a_hostname_gateway_api_would_refuse_is_refused_at_apply_time(
        gateway_api: LocalCluster, namespace: str) -> None:
    """The ModelDeployment schema checks hostnames with Gateway API's own pattern, so a bad one is refused when
    the ModelDeployment is applied (naming the field, the value and an example), not later by the HTTPRoute."""
    with pytest.raises(KubectlError) as err:
        make_deployment(gateway_api, namespace, gateway={"parentRefs": [{"name": "public"}],
                                                         "hostnames": ["Not_A_Host"]})
    message = str(err.value)
    assert "spec.trafficRouting.gatewayAPI.hostnames[0]" in message and "Not_A_Host" in message, message
    assert "such as models.example.com" in message, message
    assert live_route(gateway_api, namespace) is None
    assert "iris-stable" not in services(gateway_api, namespace)


def test_a_path_prefix_the_gateway_api_rules_refuse(gateway_api: LocalCluster, router: Router,
                                                    namespace: str) -> None:
    cluster = gateway_api
    owner, spec = make_deployment(cluster, namespace, gateway={"parentRefs": [{"name": "public"}],
                                                               "pathPrefix": "/models//iris"})
    with pytest.raises(TrafficRoutingError) as err:
        route(router.ctx, owner, spec, stable_version=1, canary_version=None, canary_weight=0)
    assert err.value.reason == "HTTPRouteInvalid"
    assert "must not contain '//'" in err.value.message, err.value.message
    assert live_route(cluster, namespace) is None


def test_without_rbac_for_httproutes_the_error_says_how_to_grant_it(
        gateway_api: LocalCluster, router_without_gateway_rbac: Router, namespace: str) -> None:
    owner, spec = make_deployment(gateway_api, namespace)
    with pytest.raises(TrafficRoutingError) as err:
        route(router_without_gateway_rbac.ctx, owner, spec, stable_version=1, canary_version=None, canary_weight=0)
    assert err.value.reason == "GatewayAPIForbidden"
    assert "rbac.gatewayAPI=true" in err.value.message
    assert "iris-stable" not in services(gateway_api, namespace)


def test_switching_back_to_replicas_routing_removes_the_route_and_services(
        gateway_api: LocalCluster, router: Router, namespace: str) -> None:
    cluster = gateway_api
    owner, spec = make_deployment(cluster, namespace)
    route(router.ctx, owner, spec, stable_version=1, canary_version=2, canary_weight=25)
    assert live_route(cluster, namespace) is not None
    events = unroute(router.ctx, owner)
    assert [e[1] for e in events] == ["HTTPRouteDeleted", "ServiceDeleted", "ServiceDeleted"]
    assert live_route(cluster, namespace) is None
    assert not {"iris-stable", "iris-canary"} & services(cluster, namespace)
    assert unroute(router.ctx, owner) == []  # idempotent


def test_unroute_without_the_crds_or_rbac_is_quiet(router_without_gateway_rbac: Router, crds: LocalCluster,
                                                   namespace: str) -> None:
    owner, _ = make_deployment(crds, namespace)
    assert unroute(router_without_gateway_rbac.ctx, owner) == []


def test_a_spec_change_that_drops_fields_reaches_the_route(gateway_api: LocalCluster, router: Router,
                                                           namespace: str) -> None:
    """Dropping the hostnames, a parentRef's namespace and the path prefix from the spec removes them from the
    route (a server-side apply alone would keep fields the create co-owns), then nothing more is written."""
    cluster = gateway_api
    owner, spec = make_deployment(cluster, namespace)
    route(router.ctx, owner, spec, stable_version=1, canary_version=None, canary_weight=0)
    narrower = spec.model_copy(update={"traffic_routing": TrafficRouting(type="GatewayAPI", gateway_api=GatewayAPI(
        parent_refs=[ParentRef(name="public"), ParentRef(name="internal", section_name="http")]))})
    mark = cluster.audit_lines()
    events = route(router.ctx, owner, narrower, stable_version=1, canary_version=None, canary_weight=0)
    assert [e[1] for e in events] == ["HTTPRouteUpdated"]
    assert writes(cluster, router.user, namespace, mark) == [("patch", "httproutes", "iris")]
    r = live_route(cluster, namespace)
    assert r is not None
    assert not r["spec"].get("hostnames")
    assert r["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"},
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "internal", "sectionName": "http"}]
    assert r["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    mark = cluster.audit_lines()
    assert route(router.ctx, owner, narrower, stable_version=1, canary_version=None, canary_weight=0) == []
    assert writes(cluster, router.user, namespace, mark) == []
