"""Pure pieces shared by every builder: labels, owner references, the restricted pod security settings and the
storage volume. No I/O: builders return plain dicts (what the API server receives) so tests compare dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from herder import API_GROUP, API_VERSION, __version__

STORE_MOUNT = "/var/lib/herder/store"
"""Where the artifact/dataset store is mounted in every pod (a PVC), so URIs inside pods are file:// paths."""
TMP_MOUNT = "/tmp"  # noqa: S108 - an emptyDir: the root filesystem is read-only
RUN_AS_USER = 10001


@dataclass(frozen=True)
class Owner:
    """The custom resource that owns a child (for ownerReferences, names and labels)."""

    kind: str
    name: str
    namespace: str
    uid: str

    @classmethod
    def from_body(cls, kind: str, body: dict[str, Any]) -> Owner:
        meta = body["metadata"]
        return cls(kind, meta["name"], meta["namespace"], meta["uid"])

    def reference(self) -> dict[str, Any]:
        return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": self.kind, "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}


def labels(owner: Owner, component: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``app.kubernetes.io/*`` labels plus the owner, so ``kubectl get -l herder.dev/<kind>=<name>`` works."""
    out = {
        "app.kubernetes.io/name": "herder",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "herder-operator",
        "app.kubernetes.io/part-of": "herder",
        "app.kubernetes.io/version": __version__,
        f"herder.dev/{owner.kind.lower()}": owner.name,
    }
    out.update(extra or {})
    return out


def metadata(owner: Owner, name: str, component: str, extra_labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": owner.namespace,
                            "labels": labels(owner, component, extra_labels),
                            "ownerReferences": [owner.reference()]}
    if annotations:
        meta["annotations"] = annotations
    return meta


def pod_security_context() -> dict[str, Any]:
    """Pod Security Standards "restricted" at pod level."""
    return {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER, "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context() -> dict[str, Any]:
    """Pod Security Standards "restricted" at container level, plus a read-only root filesystem."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass(frozen=True)
class Storage:
    """The artifact/dataset store as the pods see it: a PersistentVolumeClaim mounted at STORE_MOUNT, or an S3
    location (``s3://bucket/prefix``: no volume; pods reach it with the credentials Secret's keys)."""

    claim: str | None = None
    s3: str | None = None
    secret: str | None = None
    """The S3 credentials Secret (pods get its keys by secretKeyRef), with either kind of store."""

    def volumes(self) -> list[dict[str, Any]]:
        return [{"name": "store", "persistentVolumeClaim": {"claimName": self.claim}}] if self.claim else []

    def mounts(self, read_only: bool = False) -> list[dict[str, Any]]:
        return [{"name": "store", "mountPath": STORE_MOUNT, "readOnly": read_only}] if self.claim else []

    def path(self, *parts: str) -> str:
        """A location inside the store as pods see it, e.g. ``path('artifacts', uid)``: a path under the mount,
        or an s3:// URI (the trainer, validator and server take either)."""
        base = self.s3.rstrip("/") if self.s3 else STORE_MOUNT
        return "/".join([base, *[p.strip("/") for p in parts]])

    def uri(self, *parts: str) -> str:
        """The same location as a URI (what status and ModelVersions record)."""
        at = self.path(*parts)
        return at if self.s3 else "file://" + at


S3_KEYS = (("AWS_ACCESS_KEY_ID", False), ("AWS_SECRET_ACCESS_KEY", False), ("AWS_SESSION_TOKEN", True),
           ("AWS_ENDPOINT_URL", True), ("AWS_DEFAULT_REGION", True))
"""Keys of the S3 credentials Secret (optional ones may be absent): what boto, s3fs and herder read."""


def s3_credentials_env(secret: str | None) -> list[dict[str, Any]]:
    """Environment entries from the S3 credentials Secret, key by key (secretKeyRef, so nothing else in the Secret
    reaches the pod and the values never appear in the pod spec); none without a Secret."""
    if not secret:
        return []
    return [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key,
                                                          **({"optional": True} if optional else {})}}}
            for key, optional in S3_KEYS]


def pod_ip_env() -> dict[str, Any]:
    return {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "tmp", "mountPath": TMP_MOUNT})


def resources(requests: dict[str, str] | None, limits: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = dict(requests)
    if limits:
        out["limits"] = dict(limits)
    return out
