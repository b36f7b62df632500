"""Serialise the fitted pipeline with skops, byte-for-byte reproducibly, and check what loading will need.

skops writes a zip whose entries carry the current time, so two dumps of the same model differ; we rewrite
the archive with a fixed timestamp so the same request yields the same sha256 (a retried pod then finds its
own artifact already in place instead of a conflicting one). No pickle is involved at any point.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import skops.io as sio

from herder.training.estimators import TRUSTED_TYPES

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_NPY_NAME = re.compile(r"^(\d+)(\.npy)$")


def _renumber(node: Any, ids: dict[int, int]) -> Any:
    """Replace object ids (``__id__`` values and ``<id>.npy`` file references) by 1, 2, 3... in walk order."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids) + 1)
            else:
                out[key] = _renumber(value, ids)
        return out
    if isinstance(node, list):
        return [_renumber(item, ids) for item in node]
    if isinstance(node, str) and (match := _NPY_NAME.match(node)):
        return f"{ids.setdefault(int(match.group(1)), len(ids) + 1)}{match.group(2)}"
    return node


def canonical_zip(data: bytes) -> bytes:
    """The same archive, reproducible: object ids renumbered, entries sorted, timestamps fixed.

    skops names arrays and shared objects by CPython ``id()`` (memory addresses), which differ from run to
    run; a bijective renumbering keeps every reference intact (shared objects still share one id).
    """
    ids: dict[int, int] = {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        sorted_schema = json.loads(json.dumps(json.loads(source.read("schema.json")), sort_keys=True))
        schema = _renumber(sorted_schema, ids)  # walk sorted keys, so canonical_zip is idempotent
        entries: dict[str, bytes] = {"schema.json": json.dumps(schema, sort_keys=True).encode()}
        for info in source.infolist():
            if info.filename == "schema.json":
                continue
            match = _NPY_NAME.match(info.filename)
            if match is None or int(match.group(1)) not in ids:
                raise RuntimeError(f"unexpected entry {info.filename!r} in the skops archive")
            entries[f"{ids[int(match.group(1))]}{match.group(2)}"] = source.read(info.filename)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name in sorted(entries):
            fixed = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, entries[name])
    return out.getvalue()


def dump_model(model: Any) -> bytes:
    """The skops bytes of *model*, reproducible for a reproducible model."""
    return canonical_zip(sio.dumps(model))


def required_trusted_types(data: bytes) -> list[str]:
    """Types beyond skops' defaults that loading *data* needs; all must be in TRUSTED_TYPES.

    An artifact needing anything else is a bug in the allowlist (a new estimator or library version), so the
    trainer fails loudly instead of writing something the server would refuse.
    """
    needed: list[str] = sorted(sio.get_untrusted_types(data=data))
    unexpected = [t for t in needed if t not in TRUSTED_TYPES]
    if unexpected:
        raise RuntimeError(f"the artifact references types outside herder's TRUSTED_TYPES: {unexpected}")
    return needed
