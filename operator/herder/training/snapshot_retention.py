"""The sweep half of snapshot retention (the operator marks, see :mod:`herder.policy.snapshot_retention`).

A validation pod deletes the snapshots in ``<snapshot dir>/sha256/`` that the operator did not list as
referenced and that are older than the minimum age. The age protects a snapshot another validation wrote after
the operator took its marks (it is on no status yet); the pod's own snapshot is kept whatever the list says.
Only files named like snapshots (``<64 hex>.<format>``) are ever touched. A failure to delete is logged and
never fails the validation: retention is housekeeping, the revision is what the user asked for.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import fsspec

from herder.storage.source_metadata import modified_time
from herder.training.dataset import storage_options

NAME = re.compile(r"^([0-9a-f]{64})\.[a-z]+$")


def sweep(snapshot_dir: str, keep: set[str], min_age_seconds: int, *, own: str | None = None,
          now: float | None = None, log: Callable[[str], None] = print) -> list[str]:
    """Delete unreferenced snapshots older than ``min_age_seconds``; the names deleted."""
    root = snapshot_dir.rstrip("/") + "/sha256"
    local = root.startswith("/") or root.startswith("file://")
    if local:
        path = Path(root.removeprefix("file://"))
        if not path.is_dir():
            return []
        entries = [{"name": str(p), "mtime": p.stat().st_mtime} for p in path.iterdir() if p.is_file()]
    else:
        fs, base = fsspec.core.url_to_fs(root, **storage_options())
        entries = fs.ls(base, detail=True) if fs.exists(base) else []
    moment = time.time() if now is None else now
    own_hex = own.removeprefix("sha256:") if own else None
    deleted: list[str] = []
    for entry in entries:
        name = str(entry["name"]).rsplit("/", 1)[-1]
        match = NAME.match(name)
        if match is None or match.group(1) in keep or match.group(1) == own_hex:
            continue
        modified = modified_time(entry)
        if modified is None or moment - modified < min_age_seconds:
            continue
        try:
            if local:
                os.unlink(str(entry["name"]))
            else:
                fs.rm(entry["name"])
        except OSError as exc:
            log(f"[validate] retention: could not delete snapshot {name}: {exc}")
            continue
        deleted.append(name)
    if deleted:
        log(f"[validate] retention: deleted {len(deleted)} unreferenced snapshot(s): {', '.join(deleted)}")
    return deleted
