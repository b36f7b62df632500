"""Operator settings: one immutable object built from flags and environment, kept in kopf's memo."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator needs to know about its environment (the Helm chart sets these as flags/env)."""

    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means cluster-wide."""
    kubeconfig: str | None = None
    """Path to a kubeconfig; None means in-cluster config (or $KUBECONFIG / ~/.kube/config when outside)."""
    resync_seconds: float = 30.0
    """Every object is reconciled at least this often, so drifted children are repaired (level-based)."""
    missing_reference_retry_seconds: float = 5.0
    """How soon an object whose reference is missing is looked at again (besides the dependents trigger)."""
    herder_image: str = "ghcr.io/herder-dev/herder:0.1.0"
    """The one image whose entrypoints are the operator, the trainer and the server."""
    storage_uri: str = "pvc://herder-store"
    """Where artifacts and metadata go: ``pvc://<claim>`` or ``s3://bucket/prefix``."""
    storage_secret: str | None = None
    """Secret with S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL)."""
    snapshot_min_age_seconds: int = 3600
    """Retention: an unreferenced Dataset snapshot is deleted (by the next validation Job) once it is this old;
    the age protects a snapshot a validation just wrote that is on no status yet. 0 turns retention off (for an
    operator that does not see every object referring to its store, e.g. namespaced installs sharing a bucket)."""
    max_workers: int = 8
    """Threads for blocking Kubernetes client calls (kopf sync handlers and the resync loop)."""
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 8081
    liveness_endpoint: str | None = "http://127.0.0.1:8082/healthz"
    standalone: bool = True
    """No kopf peering: run one replica with the Recreate strategy (kopf has no leader election)."""
    peering_name: str | None = None
    extra_pod_settings: dict[str, str] = field(default_factory=dict)
    prometheus_url: str | None = None
    """Base URL of the Prometheus HTTP API for checks with provider Prometheus (e.g.
    http://prometheus-server.monitoring:9090); None: such checks measure no data and say why."""

    @classmethod
    def from_env(cls, **overrides: object) -> OperatorConfig:
        """Environment variables HERDER_* give defaults that flags override (the chart uses env)."""
        env = os.environ
        values: dict[str, object] = {}
        if ns := env.get("HERDER_WATCH_NAMESPACES"):
            values["namespaces"] = tuple(n.strip() for n in ns.split(",") if n.strip())
        for key, conv in (("resync_seconds", float), ("max_workers", int), ("metrics_port", int),
                          ("snapshot_min_age_seconds", int)):
            if (v := env.get(f"HERDER_{key.upper()}")) is not None:
                values[key] = conv(v)
        for key in ("herder_image", "storage_uri", "storage_secret", "metrics_address"):
            if (v := env.get(f"HERDER_{key.upper()}")) is not None:
                values[key] = v
        if prom := env.get("HERDER_PROMETHEUS_URL", "").strip():  # empty (the chart's default): not configured
            values["prometheus_url"] = prom
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
