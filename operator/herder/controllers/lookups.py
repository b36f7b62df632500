"""Reading the objects a reconcile depends on: from the operator's watch-fed store (no API call), with helpers
that turn "missing" and "not ready" into conditions that name the object."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.rest import ApiException

from herder.controllers.context import ObjKey, OperatorContext
from herder.policy.conditions import Cond
from herder.resources.common import Storage


def condition(body: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in (body or {}).get("status", {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_true(body: dict[str, Any] | None, type_: str) -> bool:
    c = condition(body, type_)
    return bool(c and c.get("status") == "True")


def missing(kind: str, name: str, namespace: str, field: str) -> Cond:
    return Cond("ReferencesResolved", "False", f"{kind}NotFound",
                f"{field} refers to {kind} {name!r}, which does not exist in namespace {namespace!r}")


def resolved() -> Cond:
    return Cond("ReferencesResolved", "True", "Resolved", "all referenced objects exist")


def get(ctx: OperatorContext, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return ctx.store.get(ObjKey(kind, namespace, name))


def dataset_revisions_in_use(ctx: OperatorContext, dataset: dict[str, Any]) -> set[int]:
    """Revisions of ``dataset`` that something still measures against: model versions with an alias (production,
    candidate: their drift baseline) and TrainingJobs that pinned one and have not finished (their version will
    need it)."""
    ns, name = dataset["metadata"]["namespace"], dataset["metadata"]["name"]
    used: set[int] = set()
    for key, mv in ctx.store.items("ModelVersion"):
        ds = ((mv.get("spec") or {}).get("lineage") or {}).get("dataset") or {}
        if (key.namespace == ns and ds.get("name") == name and isinstance(ds.get("revision"), int)
                and (mv.get("status") or {}).get("aliases")):
            used.add(ds["revision"])
    for key, tj in ctx.store.items("TrainingJob"):
        st = tj.get("status") or {}
        if (key.namespace == ns and (tj.get("spec") or {}).get("datasetRef", {}).get("name") == name
                and isinstance(st.get("datasetRevision"), int)
                and not (is_true(tj, "Succeeded") or is_true(tj, "Failed"))):
            used.add(st["datasetRevision"])
    return used


def storage(ctx: OperatorContext) -> Storage:
    uri = ctx.config.storage_uri
    if uri.startswith("pvc://"):
        return Storage(claim=uri.removeprefix("pvc://"), secret=ctx.config.storage_secret)
    if uri.startswith("s3://") and len(uri) > len("s3://"):
        return Storage(s3=uri, secret=ctx.config.storage_secret)
    raise ValueError(f"storage URI {uri!r}: expected pvc://<claim> or s3://<bucket>[/<prefix>]")


def storage_missing(ctx: OperatorContext, namespace: str) -> Cond | None:
    """A condition when the store's claim does not exist in ``namespace`` (pods would hang in Pending)."""
    claim = storage(ctx).claim
    if claim is None:
        return None  # S3: nothing per namespace to look for (a wrong bucket or key is the pod's clear error)
    try:
        ctx.clients.core.read_namespaced_persistent_volume_claim(claim, namespace)
    except ApiException as e:
        if e.status == 404:
            return Cond("Ready", "False", "StorageNotFound",
                        f"the artifact store PersistentVolumeClaim {claim!r} does not exist in namespace "
                        f"{namespace!r}; create it (see the chart's storage values)")
        raise
    return None


def parse_summary(message: str) -> dict[str, Any] | None:
    """The JSON summary a validator/trainer wrote to its termination message, or None if it is not JSON."""
    try:
        data = json.loads(message)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
