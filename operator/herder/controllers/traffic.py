"""Traffic routing of a ModelDeployment by Gateway API: make the per-track Services and the weighted HTTPRoute
true for the current rollout state (the builders are in herder.resources.traffic).

Writes happen only when something differs (children.ensure compares with the live objects), so a resync with
nothing changed costs reads only: the HTTPRoute and the track Service(s). With Replicas routing (the default)
nothing here runs and no API call is made.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.rest import ApiException

from herder.api.deployment import ModelDeploymentSpec
from herder.controllers import children
from herder.controllers.context import OperatorContext
from herder.policy.conditions import Cond
from herder.resources.common import Owner
from herder.resources.traffic import (
    CANARY,
    STABLE,
    backend_weights,
    build_route,
    build_track_service,
    route_identity,
    route_name,
    track_service_name,
)

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"
OWNER_KIND = "ModelDeployment"
Event = tuple[str, str, str]


class TrafficRoutingError(Exception):
    """Traffic cannot be routed as spec.trafficRouting asks; ``reason`` (CamelCase) and ``message`` are meant for a
    condition. Nothing was created for the route when this is raised on first creation (see ``route``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def condition(self, type_: str = "Ready") -> Cond:
        return Cond(type_, "False", self.reason, self.message)


def _status_message(e: ApiException) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message") or e.reason or e.status)
    except (ValueError, AttributeError):
        return str(e.body or e.reason or e.status)


def httproutes_served(ctx: OperatorContext) -> bool:
    """Does the API server serve httproutes in gateway.networking.k8s.io/v1 (are the Gateway API CRDs installed)?
    Asked only when an HTTPRoute read or create answered 404, which alone cannot tell "no such route" from "no such
    resource type"."""
    try:
        resp = ctx.clients.custom.get_api_resources(GROUP, VERSION, _preload_content=False)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return any(r.get("name") == PLURAL for r in json.loads(resp.data).get("resources") or [])


def _not_installed() -> TrafficRoutingError:
    return TrafficRoutingError(
        "GatewayAPINotInstalled",
        f"spec.trafficRouting.type is GatewayAPI, but {PLURAL}.{GROUP} ({VERSION}) is not served by this cluster: "
        "install the Gateway API CRDs (standard channel) or use trafficRouting type Replicas")


def _forbidden(verb: str, e: ApiException) -> TrafficRoutingError:
    return TrafficRoutingError(
        "GatewayAPIForbidden",
        f"spec.trafficRouting.type is GatewayAPI, but the operator may not {verb} {PLURAL}.{GROUP} "
        f"({_status_message(e)}): install the Helm chart with rbac.gatewayAPI=true")


def _read_route(ctx: OperatorContext, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        return children.read(ctx, "HTTPRoute", name, namespace)
    except ApiException as e:
        if e.status == 403:
            raise _forbidden("get", e) from None
        raise


def _ensure_route(ctx: OperatorContext, desired: dict[str, Any]) -> str:
    try:
        return children.ensure(ctx, OWNER_KIND, desired)[1]
    except ApiException as e:
        if e.status == 404 and not httproutes_served(ctx):
            raise _not_installed() from None
        if e.status == 403:
            raise _forbidden("create or patch", e) from None
        if e.status in (400, 422):
            raise TrafficRoutingError(
                "HTTPRouteInvalid",
                f"the API server rejected HTTPRoute {desired['metadata']['name']!r} built from "
                f"spec.trafficRouting.gatewayAPI: {_status_message(e)}") from None
        raise


def _split(weights: dict[str, int], owner: Owner) -> str:
    stable = weights.get(track_service_name(owner, STABLE), 0)
    canary = weights.get(track_service_name(owner, CANARY))
    return f"stable {stable}%" + ("" if canary is None else f", canary {canary}%")


def route(ctx: OperatorContext, owner: Owner, spec: ModelDeploymentSpec, *, stable_version: int,
          canary_version: int | None, canary_weight: int) -> list[Event]:
    """Make the Gateway API routing of ``owner`` match the rollout state; returns Events (type, reason, message)
    for what changed (nothing: an empty list).

    - trafficRouting absent or type Replicas: returns [] without any API call.
    - canary_version None (no rollout, or it was promoted or aborted): the Service ``<name>-stable`` and the
      HTTPRoute ``<name>`` with the stable backend alone at weight 100; a canary Service the live route still
      pointed at is deleted after the route no longer names it (the route first, so the gateway never sends a
      request to a Service that is gone).
    - canary_version set: both track Services, and the route at stable ``100 - canary_weight`` / canary
      ``canary_weight`` (0 allowed: the canary backend is listed but gets nothing, e.g. while its pods start).

    Order: when the route does not exist yet it is created first, so a cluster without the Gateway API CRDs, an
    operator without RBAC for httproutes or a route the API server rejects leaves nothing half-created; otherwise
    Services come first, so a new canary backend never points at a missing Service.

    Raises TrafficRoutingError (never a bare ApiException for these) with ``reason``:
    GatewayAPINotInstalled (httproutes.gateway.networking.k8s.io/v1 not served), GatewayAPIForbidden (403 on the
    route), HTTPRouteInvalid (the API server's schema or CEL rules refused the route: the message is the server's,
    naming the field), InvalidName (the name is too long for the ``-canary`` Service). ``err.condition("Ready")``
    is the condition to report; the caller should not advance the rollout (write the new rollout state) when it is
    raised, and look again later (the CRDs or RBAC may be installed meanwhile). Other API errors propagate.

    ``stable_version`` / ``canary_version`` name the versions in Event messages only: Services select tracks, not
    versions, so a version change alone never rewrites routing.
    """
    routing = spec.traffic_routing
    if routing is None or routing.type != "GatewayAPI":
        return []
    assert routing.gateway_api is not None  # the model's validator: GatewayAPI requires gatewayAPI
    try:
        desired = build_route(owner, routing.gateway_api, None if canary_version is None else canary_weight)
        tracks = [STABLE] if canary_version is None else [STABLE, CANARY]
        services = [build_track_service(owner, t) for t in tracks]
        canary_service = track_service_name(owner, CANARY)
    except ValueError as e:
        raise TrafficRoutingError("InvalidName" if "metadata.name" in str(e) else "InvalidTrafficRouting",
                               str(e)) from None
    name, ns = route_name(owner), owner.namespace
    events: list[Event] = []
    live = _read_route(ctx, name, ns)
    split = _split(backend_weights(desired), owner)
    versions = f"stable version {stable_version}" + ("" if canary_version is None
                                                      else f", canary version {canary_version}")
    if live is None:
        _ensure_route(ctx, desired)
        events.append(("Normal", "HTTPRouteCreated", f"created HTTPRoute {name}: {split} ({versions})"))
    for svc in services:
        action = children.ensure(ctx, OWNER_KIND, svc)[1]
        if action != "unchanged":
            events.append(("Normal", f"Service{action.capitalize()}",
                           f"{action} Service {svc['metadata']['name']} for the "
                           f"{svc['metadata']['labels']['herder.dev/track']} track"))
    if live is not None and (not children.is_subset(desired, live) or route_identity(desired) != route_identity(live)):
        _ensure_route(ctx, desired)
        before = _split(backend_weights(live), owner)
        events.append(("Normal", "TrafficShifted" if before != split else "HTTPRouteUpdated",
                       f"HTTPRoute {name}: {split} ({versions})" + (f", was {before}" if before != split else "")))
    if canary_version is None and live is not None and canary_service in backend_weights(live) \
            and children.delete(ctx, OWNER_KIND, "Service", canary_service, ns):
        events.append(("Normal", "ServiceDeleted", f"deleted Service {canary_service}: no canary"))
    return events


def unroute(ctx: OperatorContext, owner: Owner) -> list[Event]:
    """Delete the HTTPRoute and both track Services of ``owner`` (after trafficRouting stopped being GatewayAPI);
    returns Events for what was deleted. Idempotent: absent objects, a cluster without the Gateway API CRDs and an
    operator without RBAC for httproutes (it cannot have created one) are not errors.

    ``route`` makes no API call for Replicas routing, so it cannot notice a route left over from an earlier spec;
    call this when the spec changed (metadata.generation differs from status.observedGeneration) and routing is
    not GatewayAPI — three deletes, once per spec change. The route goes first, so the gateway stops sending to
    the Services before they disappear."""
    events: list[Event] = []
    name, ns = route_name(owner), owner.namespace
    try:
        if children.delete(ctx, OWNER_KIND, "HTTPRoute", name, ns):
            events.append(("Normal", "HTTPRouteDeleted", f"deleted HTTPRoute {name}: trafficRouting is not "
                                                         "GatewayAPI"))
    except ApiException as e:
        if e.status != 403:
            raise
    for track in (CANARY, STABLE):
        try:
            svc = track_service_name(owner, track)
        except ValueError:  # too long to have been created
            continue
        if children.delete(ctx, OWNER_KIND, "Service", svc, ns):
            events.append(("Normal", "ServiceDeleted", f"deleted Service {svc}: trafficRouting is not GatewayAPI"))
    return events
