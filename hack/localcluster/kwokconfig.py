"""Assemble kwok's stage configuration from the kwok module's own stage files.

kwok ships its stages as kustomize directories (``kustomize/stage/fast`` lists node-initialize, node heartbeat
with lease, and the fast pod lifecycle). We follow the ``resources:`` lists ourselves — plain YAML
concatenation — rather than vendoring copies that could drift from the pinned kwok version.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def _collect(path: Path, seen: set[Path]) -> list[dict[str, object]]:
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    if path.is_dir():
        kustomization = yaml.safe_load((path / "kustomization.yaml").read_text())
        docs: list[dict[str, object]] = []
        for resource in kustomization.get("resources", []):
            docs += _collect(path / resource, seen)
        return docs
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def stage_documents(stages_root: Path, profile: str = "fast") -> list[dict[str, object]]:
    """All Stage objects of one kwok profile (``fast`` by default), in kustomize order."""
    docs = _collect(stages_root / profile, set())
    kinds = {d.get("kind") for d in docs}
    if kinds != {"Stage"}:
        raise ValueError(f"unexpected kinds in kwok stages {profile!r}: {sorted(map(str, kinds))}")
    return docs


def write_config(stages_root: Path, out: Path, profile: str = "fast") -> Path:
    out.write_text(yaml.safe_dump_all(stage_documents(stages_root, profile), sort_keys=False))
    return out
