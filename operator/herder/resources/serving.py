"""Pure builders for what a ModelDeployment becomes: serving Deployments (stable and canary), one Service, an
optional HorizontalPodAutoscaler, a PodDisruptionBudget and an optional Gateway API HTTPRoute.

Traffic by replica ratio (the default, no mesh needed): stable and canary pods share the ``herder.dev/serving``
label the Service selects, so the canary's share of traffic is its share of ready replicas. With Gateway API, each
track gets its own Service and the HTTPRoute carries the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from herder.resources.common import (
    Owner,
    Storage,
    container_security_context,
    labels,
    metadata,
    pod_ip_env,
    pod_security_context,
    s3_credentials_env,
    tmp_volume,
)

SERVING_PORT = 8080
SHUTDOWN_MARGIN_SECONDS = 3
"""Slack left in the grace period after preStop, drain and the server's wait for in-flight requests (the kubelet
starts counting when it sees the deletion, a little before the hook starts), so SIGKILL never cuts a reply."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model version as the server needs it."""

    model: str
    version: int
    artifact_uri: str
    sha256: str
    metadata_uri: str | None = None
    format: str = "skops"


@dataclass(frozen=True)
class PayloadLogParams:
    """Where and how the serving pods persist the sampled payload log and the feedback labels."""

    sample_fraction: str
    flush_seconds: float = 5.0
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServingParams:
    image: str
    storage: Storage
    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None
    max_batch_size: int = 1
    max_batch_wait_ms: int = 2
    extra_args: tuple[str, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    termination_grace_seconds: int = 30
    """The pod's terminationGracePeriodSeconds: preStop + drain + the server's wait for in-flight requests + a
    margin fit inside it."""
    pre_stop_sleep_seconds: int = 5
    """How long a deleted pod keeps serving before it gets SIGTERM. A deleted pod leaves its Service's ready
    endpoints at once, but kube-proxy, gateways and other endpoint consumers learn it only on their next sync
    (about a second); the sleep must be long compared with that, or requests find nobody listening."""
    drain_seconds: int = 2
    """After SIGTERM the server still answers this long (not ready, ``Connection: close``) before it stops
    accepting: a second safety net for a consumer slower than the preStop."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment of the server container (e.g. the tests-only fault injection of a ModelVersion)."""
    payload_log: PayloadLogParams | None = None
    """Persist the payload log to the store (the store is then mounted read-write: the server writes its parts)."""
    trusted_types: tuple[str, ...] = ()
    """skops types the server may load beyond skops' defaults: from the operator's configuration (the vetted list
    for the allowlisted estimators), never from the artifact."""

    def __post_init__(self) -> None:
        if self.pre_stop_sleep_seconds < 0 or self.drain_seconds < 0:
            raise ValueError(f"preStop sleep ({self.pre_stop_sleep_seconds}s) and drain ({self.drain_seconds}s) "
                             "cannot be negative")
        needed = self.pre_stop_sleep_seconds + self.drain_seconds + SHUTDOWN_MARGIN_SECONDS + 1
        if self.termination_grace_seconds < needed:
            raise ValueError(
                f"terminationGracePeriodSeconds {self.termination_grace_seconds} is too short: the preStop sleep "
                f"({self.pre_stop_sleep_seconds}s), the server's drain ({self.drain_seconds}s), at least 1s for "
                f"in-flight requests and a {SHUTDOWN_MARGIN_SECONDS}s margin need {needed}s")

    @property
    def graceful_timeout_seconds(self) -> int:
        """How long the server waits for in-flight requests after its drain: what the grace period leaves."""
        return (self.termination_grace_seconds - self.pre_stop_sleep_seconds - self.drain_seconds
                - SHUTDOWN_MARGIN_SECONDS)


def deployment_name(owner: Owner, track: str) -> str:
    return f"{owner.name}-{track}"


def service_name(owner: Owner, track: str | None = None) -> str:
    return owner.name if track is None else f"{owner.name}-{track}"


def selector_labels(owner: Owner, track: str | None = None) -> dict[str, str]:
    out = {"herder.dev/serving": owner.name}
    if track:
        out["herder.dev/track"] = track
    return out


def build_serving_deployment(owner: Owner, track: str, ref: ModelRef, replicas: int, p: ServingParams
                             ) -> dict[str, Any]:
    tmp_vol, tmp_mount = tmp_volume()
    args = [
        "serve",
        f"--model-name={ref.model}", f"--model-version={ref.version}",
        f"--model-uri={ref.artifact_uri}", f"--sha256={ref.sha256}", f"--format={ref.format}",
        "--host=$(POD_IP)", f"--port={SERVING_PORT}",
        f"--max-batch-size={p.max_batch_size}", f"--max-batch-wait-ms={p.max_batch_wait_ms}",
        "--cache-dir=/tmp/herder-cache",
        f"--drain-seconds={p.drain_seconds}", f"--graceful-timeout-seconds={p.graceful_timeout_seconds}",
    ]
    if ref.metadata_uri:
        args.append(f"--metadata-uri={ref.metadata_uri}")
    if p.payload_log is not None:
        args += [f"--payload-log={p.storage.path('payloads', owner.namespace)}",
                 f"--payload-log-sample-rate={p.payload_log.sample_fraction}",
                 f"--payload-log-flush-seconds={p.payload_log.flush_seconds:g}",
                 *[f"--payload-log-exclude={name}" for name in p.payload_log.exclude]]
    args += list(p.extra_args)
    # skops needs the vetted extra types; an ONNX server deserialises no objects at all
    trusted = ([{"name": "HERDER_TRUSTED_TYPES", "value": ",".join(p.trusted_types)}]
               if p.trusted_types and ref.format == "skops" else [])
    container: dict[str, Any] = {
        "name": "server",
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["herder"],
        "args": args,
        "env": [pod_ip_env(), {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
               + trusted + [{"name": k, "value": v} for k, v in p.env]
               + s3_credentials_env(p.storage.secret),
        "ports": [{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 2,
                           "failureThreshold": 2, "timeoutSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10,
                          "failureThreshold": 3, "timeoutSeconds": 2, "initialDelaySeconds": 5},
        # a deleted pod keeps answering while endpoint consumers catch up with its removal; SIGTERM comes after
        "lifecycle": {"preStop": {"sleep": {"seconds": p.pre_stop_sleep_seconds}}},
        "volumeMounts": [*p.storage.mounts(read_only=p.payload_log is None), tmp_mount],
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    res: dict[str, Any] = {}
    if p.requests:
        res["requests"] = dict(p.requests)
    if p.limits:
        res["limits"] = dict(p.limits)
    if res:
        container["resources"] = res
    version_labels = {"herder.dev/model": ref.model, "herder.dev/model-version": str(ref.version)}
    pod_labels = {**selector_labels(owner, track), **version_labels, "app.kubernetes.io/name": "herder",
                  "app.kubernetes.io/component": "server"}
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": p.termination_grace_seconds,
        "containers": [container],
        "volumes": [*p.storage.volumes(), tmp_vol],
    }
    if p.node_selector:
        pod_spec["nodeSelector"] = dict(p.node_selector)
    if p.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in p.tolerations]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": metadata(owner, deployment_name(owner, track), "server", {"herder.dev/track": track,
                                                                          **version_labels}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(owner, track)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": pod_labels,
                                      "annotations": {"herder.dev/sha256": ref.sha256}},
                         "spec": pod_spec},
        },
    }


def build_service(owner: Owner, track: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(owner, service_name(owner, track), "server"),
        "spec": {"type": "ClusterIP", "selector": selector_labels(owner, track),
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    }


def build_pdb(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": metadata(owner, owner.name, "server"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(owner)}},
    }


def build_hpa(owner: Owner, track: str, min_replicas: int, max_replicas: int, cpu_percent: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(owner, owner.name, "server"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name(owner, track)},
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": cpu_percent}}}],
        },
    }


def build_httproute(owner: Owner, parent: dict[str, str], stable_weight: int, canary_weight: int,
                    hostnames: tuple[str, ...] = ()) -> dict[str, Any]:
    backends = [{"name": service_name(owner, "stable"), "port": 80, "weight": stable_weight}]
    if canary_weight > 0:
        backends.append({"name": service_name(owner, "canary"), "port": 80, "weight": canary_weight})
    spec: dict[str, Any] = {"parentRefs": [dict(parent)], "rules": [{"backendRefs": backends}]}
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": metadata(owner, owner.name, "route"), "spec": spec}


def split_replicas(total: int, canary_weight: int) -> tuple[int, int]:
    """Replica-ratio traffic split: (stable, canary) replicas so the canary's share is as close to its weight as
    whole pods allow, with at least one canary pod for any weight > 0 and at least one stable pod below 100."""
    if canary_weight <= 0:
        return total, 0
    if canary_weight >= 100:
        return 0, total
    canary = max(1, math.floor(total * canary_weight / 100 + 0.5))
    stable = max(1, total - canary)
    return stable, canary


__all__ = ["labels"]
