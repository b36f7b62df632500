"""Annotations users (or tools) put on Herder objects to ask the operator for something the spec cannot say:
one-off actions that must not live in the spec, so GitOps stays in sync. The operator records what it did on
status and never removes the user's annotation; it compares the value with the last one it acted on (kept on
status), so a new value means a new request."""

from __future__ import annotations

from herder import API_GROUP

RETRAIN = f"{API_GROUP}/retrain"
"""On a Model: start a retrain now (still subject to the guardrails). Any new value is a new request."""
APPROVE_RETRAIN = f"{API_GROUP}/approve-retrain"
"""On a Model with retraining.requireApproval: approve the pending retrain."""
PROMOTE = f"{API_GROUP}/promote"
"""On a Model (autoPromote false) or a blue/green ModelDeployment (autoPromote false): promote the candidate."""
RETRY = f"{API_GROUP}/retry"
"""On a ModelDeployment: retry the rollout of a version whose rollout was aborted."""
ROLLBACK = f"{API_GROUP}/rollback"
"""On a ModelDeployment: roll back now -- during a rollout, abort it (stable back to 100%, the canary version is
recorded as aborted); after a promotion, serve status.lastKnownGoodVersion again. Recorded in status.lastRollback
with reason ManualRollback."""

REFRESH = f"{API_GROUP}/refresh"
"""On a Dataset: read the source again now (e.g. after the file was replaced). New content becomes a new revision
once it passes validation; the same content adds nothing. Any new value is a new request."""

ALL: tuple[str, ...] = (RETRAIN, APPROVE_RETRAIN, PROMOTE, RETRY, ROLLBACK, REFRESH)
