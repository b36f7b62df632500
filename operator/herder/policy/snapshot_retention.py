"""Which Dataset snapshots must stay: mark-and-sweep retention of the content-addressed store.

Snapshots are named by content (``snapshots/sha256/<hex>.<format>``), so one file may serve several revisions
and several Datasets, and only a view over everything that refers to snapshots can tell that one is garbage.
The operator has that view (its store of Datasets, ModelVersions and TrainingJobs) but no access to the store's
files; a validation pod has the files but no view. So the operator *marks* -- the digests still referenced, from
this pure function -- and the next validation Job *sweeps* the rest (``herder.training.snapshot_retention``).

Referenced: every revision on a Dataset's status (the bounded history, so the last ten contents of a Dataset
can still be trained on again), every ModelVersion's ``lineage.dataset.snapshot`` (a kept version's training
data stays readable, whatever the Dataset's history dropped), and every TrainingJob's pinned snapshot. A file
written after the marks were taken (a validation elsewhere, just now) is protected by the sweep's minimum age,
not by this list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

SNAPSHOT = re.compile(r"/snapshots/sha256/([0-9a-f]{64})\.[a-z]+$")
MAX_KEEP = 2000
"""Referenced digests a sweep can be told (64 characters each: ~130 KiB, the size of one environment value).
With more, the operator asks for no sweep rather than one that would delete what it could not list."""


def digest_of(uri: Any) -> str | None:
    """The hex digest a snapshot URI names, or None for anything that is not a snapshot."""
    match = SNAPSHOT.search(str(uri)) if uri else None
    return match.group(1) if match else None


def referenced(datasets: Iterable[Mapping[str, Any]], versions: Iterable[Mapping[str, Any]],
               training_jobs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Digests of every snapshot something still refers to (see the module doc)."""
    uris: list[Any] = []
    for ds in datasets:
        st = ds.get("status") or {}
        uris += [st.get("snapshot"), *(r.get("snapshot") for r in st.get("revisions") or [])]
    for mv in versions:
        uris.append((((mv.get("spec") or {}).get("lineage") or {}).get("dataset") or {}).get("snapshot"))
    for tj in training_jobs:
        uris.append((tj.get("status") or {}).get("datasetSnapshot"))
    return {d for u in uris if (d := digest_of(u)) is not None}


def sweep_request(keep: set[str], min_age_seconds: int) -> dict[str, Any] | None:
    """The validation request's ``retention`` entry, or None when the marks are too many to pass on."""
    if len(keep) > MAX_KEEP:
        return None
    return {"keep": sorted(keep), "minAgeSeconds": min_age_seconds}
