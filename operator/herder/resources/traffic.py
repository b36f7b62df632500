"""Pure builders for traffic routing by Gateway API (``spec.trafficRouting.type: GatewayAPI``): one Service per
serving track and one HTTPRoute whose two weighted backendRefs split the traffic between them.

With the default routing (Replicas) none of this exists: stable and canary pods sit behind the one shared Service
and the canary's share is its share of ready replicas. With Gateway API the gateway splits by weight, so the split
no longer depends on how many pods each track runs, and an abort moves all traffic back to stable in one write.

After a rollout ends (promoted, aborted, or none in progress) the route has the stable backend only, at weight 100,
and the canary Service is deleted — rather than keeping a canary backendRef at weight 0. A backendRef must point
at an existing Service (else the route reports ResolvedRefs=False / BackendNotFound and the gateway answers 500 for
that backend's share), so "weight 0" would mean keeping an idle Service that selects no pods just to keep the route
valid; "stable only" says what is true and leaves nothing behind. While a canary runs but is not ready yet, its
backendRef is there with weight 0 (the Service exists then).
"""

from __future__ import annotations

import math
from typing import Any

from herder.api.deployment import GatewayAPI
from herder.resources.common import Owner, metadata
from herder.resources.serving import selector_labels

STABLE = "stable"
CANARY = "canary"
TRACKS = (STABLE, CANARY)
SERVICE_PORT = 80
ROUTE_API_VERSION = "gateway.networking.k8s.io/v1"
MAX_SERVICE_NAME = 63
"""Service names are DNS-1035 labels: at most 63 characters."""


def track_service_name(owner: Owner, track: str) -> str:
    """``<name>-stable`` / ``<name>-canary``: predictable, so a user can point other routes at a track."""
    if track not in TRACKS:
        raise ValueError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")
    name = f"{owner.name}-{track}"
    if len(name) > MAX_SERVICE_NAME:
        raise ValueError(
            f"metadata.name {owner.name!r} ({len(owner.name)} characters) is too long for Gateway API routing: the "
            f"Service {name!r} would have {len(name)} characters, at most {MAX_SERVICE_NAME} are allowed (keep the "
            f"ModelDeployment's name to {MAX_SERVICE_NAME - len('-' + CANARY)} characters)")
    return name


def route_name(owner: Owner) -> str:
    return owner.name


def build_track_service(owner: Owner, track: str) -> dict[str, Any]:
    """A ClusterIP Service selecting only one track's serving pods (``herder.dev/serving`` + ``herder.dev/track``,
    the labels the serving Deployments put on their pods)."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(owner, track_service_name(owner, track), "server", {"herder.dev/track": track}),
        "spec": {"type": "ClusterIP", "selector": selector_labels(owner, track),
                 "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]},
    }


def route_weights(canary_weight: int | None) -> tuple[int, int | None]:
    """(stable, canary) backend weights; canary None: no canary backend (no rollout in progress)."""
    if canary_weight is None:
        return 100, None
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary weight must be between 0 and 100, got {canary_weight}")
    return 100 - canary_weight, canary_weight


def gateway_replicas(total: int, canary_weight: int) -> tuple[int, int]:
    """(stable, canary) replicas under Gateway API routing, where the route (not the pod count) splits traffic.

    The stable track keeps its full size for the whole rollout, so an abort is one route write with nothing to
    scale up first (Argo Rollouts' default with traffic routing, too); the canary gets the share of pods its weight
    asks for, rounded up, and at least one, so it can carry its share of the load from the first step."""
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary weight must be between 0 and 100, got {canary_weight}")
    if total < 0:
        raise ValueError(f"replicas must not be negative, got {total}")
    return total, max(1, math.ceil(total * canary_weight / 100))


def parent_refs(gateway: GatewayAPI) -> list[dict[str, str]]:
    """spec.trafficRouting.gatewayAPI.parentRefs as Gateway API ParentReferences (group and kind left to the
    API server's defaults: gateway.networking.k8s.io / Gateway; namespace omitted means the route's own)."""
    out = []
    for p in gateway.parent_refs:
        ref = {"name": p.name}
        if p.namespace:
            ref["namespace"] = p.namespace
        if p.section_name:
            ref["sectionName"] = p.section_name
        out.append(ref)
    return out


def build_route(owner: Owner, gateway: GatewayAPI, canary_weight: int | None) -> dict[str, Any]:
    """The HTTPRoute ``<name>``: attached to the given Gateways, matching the hostnames and the path prefix, with
    the stable backend at ``100 - canary_weight`` and the canary backend at ``canary_weight`` (canary_weight None:
    the stable backend alone at 100).

    Weights are written explicitly even where they equal the API server's default (1), so what ``kubectl get
    httproute -o yaml`` shows reads as percentages."""
    stable, canary = route_weights(canary_weight)
    backends: list[dict[str, Any]] = [
        {"name": track_service_name(owner, STABLE), "port": SERVICE_PORT, "weight": stable}]
    if canary is not None:
        backends.append({"name": track_service_name(owner, CANARY), "port": SERVICE_PORT, "weight": canary})
    spec: dict[str, Any] = {
        "parentRefs": parent_refs(gateway),
        # always present, empty when none: a field left out of a server-side apply is not removed while another
        # field manager (the create) co-owns it, so dropping the hostnames from the spec must apply [] explicitly
        "hostnames": list(gateway.hostnames or []),
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": gateway.path_prefix or "/"}}],
                   "backendRefs": backends}],
    }
    return {"apiVersion": ROUTE_API_VERSION, "kind": "HTTPRoute",
            "metadata": metadata(owner, route_name(owner), "route"), "spec": spec}


def route_identity(route: dict[str, Any]) -> tuple[Any, ...]:
    """What a route attaches to and matches, with the API server's defaults filled in: (parentRefs, hostnames).

    Comparing desired and live by "is every desired field in live" misses a field the spec dropped (a parentRef's
    namespace or sectionName, the hostnames), because the live object still has it; these are compared whole."""
    spec = route.get("spec") or {}
    parents = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", **p} for p in spec.get("parentRefs") or []]
    return parents, list(spec.get("hostnames") or [])


def backend_weights(route: dict[str, Any]) -> dict[str, int]:
    """Service name -> weight of a (live) HTTPRoute's first rule; the API server's default weight is 1."""
    rules = (route.get("spec") or {}).get("rules") or [{}]
    return {b["name"]: int(b.get("weight", 1)) for b in rules[0].get("backendRefs") or []}
