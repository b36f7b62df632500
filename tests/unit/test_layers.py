"""The layers of DESIGN.md section 3 import downwards only: the pure layers (api, policy, resources, monitoring,
storage, crdgen) never import the controllers, which are the I/O around them -- so a policy can be tested, and
reasoned about, without the operator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "herder"
PURE = ("api", "policy", "resources", "monitoring", "storage", "crdgen")


def imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_do_not_import_the_controllers(layer: str) -> None:
    bad = {str(p.relative_to(PACKAGE)): sorted(m for m in imported(p) if m.startswith("herder.controllers"))
           for p in sorted((PACKAGE / layer).rglob("*.py"))}
    assert {p: m for p, m in bad.items() if m} == {}
