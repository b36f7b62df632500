"""Every document in examples/ is a valid object whose typed model dumps back to exactly the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from herder.api import KINDS, parse_object

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is not None:
                out.append((f"{path.name}#{i}:{doc.get('kind')}/{doc['metadata']['name']}", doc))
    return out


DOCS = documents()


@pytest.mark.parametrize(("doc_id", "doc"), DOCS, ids=[d[0] for d in DOCS])
def test_example_round_trips(doc_id: str, doc: dict[str, Any]) -> None:
    obj = parse_object(doc)
    assert obj.wire() == doc


def test_examples_cover_every_kind() -> None:
    assert {d["kind"] for _, d in DOCS} == set(KINDS)


def test_examples_cover_the_scenarios() -> None:
    deployments = [d for _, d in DOCS if d["kind"] == "ModelDeployment"]
    models = [d for _, d in DOCS if d["kind"] == "Model"]
    assert any(d["spec"].get("strategy", {}).get("type") == "Canary" for d in deployments)
    assert {d["spec"]["task"] for d in models} == {"Classification", "Regression"}
    assert any("retraining" in d["spec"] for d in models)
    assert any(d["kind"] == "ModelVersion" and "artifact" in d["spec"] for _, d in DOCS)
