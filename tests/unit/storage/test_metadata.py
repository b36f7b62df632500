from __future__ import annotations

import json
from typing import Any

import pytest

from herder.storage.errors import MetadataError
from herder.storage.metadata import ArtifactMetadata, parse_metadata

SHA = "a" * 64


def doc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "churn",
        "version": 4,
        "task": "classification",
        "sha256": SHA,
        "features": [{"name": "age", "dtype": "int64"}, {"name": "plan", "dtype": "string"}, {"name": "spend"}],
        "classes": ["no", "yes"],
        "metrics": {"accuracy": 0.91},
        "lineage": {"trainingJob": "churn-7", "datasetDigest": "b" * 64},
        "baseline": {
            "features": {
                "age": {"kind": "numeric", "edges": [18, 30, 50], "fractions": [0.1, 0.3, 0.4, 0.2]},
                "plan": {"kind": "categorical", "categories": ["basic", "pro"], "fractions": [0.6, 0.3, 0.1]},
            },
            "prediction": {"kind": "categorical", "categories": ["no", "yes"]},
        },
    }
    base.update(overrides)
    return base


def test_valid_document_round_trips() -> None:
    meta = ArtifactMetadata.model_validate(doc())
    assert meta.version == "4"
    assert meta.feature_names == ["age", "plan", "spend"]
    assert meta.features[2].dtype == "float64"
    again = parse_metadata(meta.model_dump_json().encode())
    assert again == meta


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"classes": None}, "classification metadata needs 'classes'"),
        ({"task": "regression"}, "regression metadata must not have 'classes'"),
        ({"features": [{"name": "a"}, {"name": "a"}]}, "feature names must be unique"),
        ({"sha256": "xyz"}, "sha256"),
        ({"features": []}, "features"),
        ({"baseline": {"features": {"zz": {"kind": "numeric", "edges": [1]}}}}, "unknown feature 'zz'"),
        ({"baseline": {"features": {"plan": {"kind": "numeric", "edges": [1]}}}}, "is numeric but the feature"),
        ({"baseline": {"features": {"age": {"kind": "numeric", "edges": [3, 1]}}}}, "strictly increasing"),
        ({"baseline": {"features": {"age": {"kind": "numeric", "edges": [1], "fractions": [1.0]}}}}, "expected 2"),
        ({"baseline": {"features": {"age": {"kind": "numeric", "edges": [1], "fractions": [0.5, 0.6]}}}}, "sum to 1"),
        ({"baseline": {"features": {"plan": {"kind": "categorical", "categories": ["a", "a"]}}}}, "unique"),
        ({"unexpected": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_documents_name_the_problem(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_metadata(json.dumps(doc(**overrides)).encode(), "metadata.json")


def test_not_json() -> None:
    with pytest.raises(MetadataError, match=r"metadata\.json is invalid"):
        parse_metadata(b"{nope", "metadata.json")
