"""Pure builders of the batch/v1 Jobs the operator runs: dataset validation and training.

Why Jobs with these settings: ``backoffLimit`` retries crashes but the trainer exits 2 on bad data/spec and a
``podFailurePolicy`` turns exit 2 into an immediate failure (no pointless retries); ``activeDeadlineSeconds``
enforces the user's deadline; ``ttlSecondsAfterFinished`` (a day) cleans finished Jobs long after the owner
(Dataset/TrainingJob) has recorded the result, and ownerReferences delete the Job with its owner; the
termination message carries the short result back to the operator (``FallbackToLogsOnError`` for crashes
that could not write it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from herder.resources.common import (
    Owner,
    Storage,
    container_security_context,
    metadata,
    pod_security_context,
    s3_credentials_env,
    tmp_volume,
)

PERMANENT_EXIT_CODE = 2
TERMINATION_PATH = "/dev/termination-log"


@dataclass(frozen=True)
class JobParams:
    name: str
    component: str  # "validation" | "training"
    image: str
    args: list[str]
    request: dict[str, Any]
    storage: Storage
    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None
    deadline_seconds: int | None = None
    backoff_limit: int = 2
    completions: int | None = None
    parallelism: int | None = None
    extra_labels: dict[str, str] | None = None
    s3_secret: str | None = None
    """Secret with S3 credentials (s3:// sources and stores); its keys become the container's environment."""


def build_job(owner: Owner, p: JobParams) -> dict[str, Any]:
    tmp_vol, tmp_mount = tmp_volume()
    container: dict[str, Any] = {
        "name": p.component,
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["herder"],
        # explicit, so the path is visible in the pod spec (and rewritten by the local node agent)
        "args": [*p.args, f"--termination-log={TERMINATION_PATH}"],
        "env": [{"name": "HERDER_REQUEST_JSON", "value": json.dumps(p.request, sort_keys=True,
                                                                   separators=(",", ":"))},
                *s3_credentials_env(p.s3_secret)],
        "volumeMounts": [*p.storage.mounts(), tmp_mount],
        "securityContext": container_security_context(),
        "terminationMessagePath": TERMINATION_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    res: dict[str, Any] = {}
    if p.requests:
        res["requests"] = dict(p.requests)
    if p.limits:
        res["limits"] = dict(p.limits)
    if res:
        container["resources"] = res
    pod_labels = {"app.kubernetes.io/name": "herder", "app.kubernetes.io/component": p.component,
                  f"herder.dev/{owner.kind.lower()}": owner.name}
    spec: dict[str, Any] = {
        "backoffLimit": p.backoff_limit,
        # a day after it ends the Job and its pods go; by then the owner has recorded the result on its status
        "ttlSecondsAfterFinished": 86400,
        "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": p.component, "operator": "In",
                                                   "values": [PERMANENT_EXIT_CODE]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]},
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": pod_security_context(),
                "containers": [container],
                "volumes": [*p.storage.volumes(), tmp_vol],
            },
        },
    }
    if p.deadline_seconds:
        spec["activeDeadlineSeconds"] = p.deadline_seconds
    if p.completions is not None:
        spec["completions"] = p.completions
        spec["completionMode"] = "Indexed"
        spec["parallelism"] = p.parallelism or 1
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": metadata(owner, p.name, p.component, p.extra_labels), "spec": spec}
