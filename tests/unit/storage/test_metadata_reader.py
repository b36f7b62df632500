"""The server's pydantic-free metadata.json reader agrees with the pydantic models that define the document.

Every valid document reads to the same values with both; every invalid one is refused by both, the reader's
message naming the field. The server's start-up path does not import pydantic at all (that is the point).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from herder.storage import metadata as models
from herder.storage.errors import MetadataError
from herder.storage.metadata_reader import metadata_from_dict, parse_metadata
from tests.unit.storage.test_metadata import doc

VALID: list[dict[str, Any]] = [
    doc(),
    doc(version="v4.1", format="joblib", target="churned", lineage={}, metrics={}),
    doc(baseline=None),
    doc(baseline={}),
    doc(baseline={"prediction": {"kind": "numeric", "edges": [0.5]}}, task="regression", classes=None),
    doc(classes=[0, 1]),
    doc(classes=[True, False]),
    doc(classes=["0", 0, False]),
    doc(features=[{"name": d, "dtype": d} for d in ("float32", "int32", "int64", "bool", "string")], baseline=None),
    doc(metrics={"rmse": 3, "r2": -0.5}),
    {k: v for k, v in doc().items() if k not in ("metrics", "lineage", "baseline")} | {"schema_version": 1},
    doc(onnx={"file": "model.onnx", "sha256": "c" * 64, "probabilities": True,
              "check": {"rows": 30, "labelMismatches": 0, "maxRelDiff": 1e-9}}),
    doc(onnx={"file": "model.onnx", "sha256": "c" * 64}),
    doc(onnx=None, onnx_failure="SVR pipeline not compiled: float64: onnxruntime cannot run it"),
]

INVALID: list[dict[str, Any]] = [
    doc(classes=None),
    doc(task="regression"),
    doc(features=[{"name": "a"}, {"name": "a"}]),
    doc(sha256="xyz"),
    doc(sha256="A" * 64),
    doc(features=[]),
    doc(features=[{"name": ""}]),
    doc(features=[{"name": "a", "dtype": "float16"}]),
    doc(features=[{"name": "a", "extra": 1}]),
    doc(features="age"),
    doc(baseline={"features": {"zz": {"kind": "numeric", "edges": [1]}}}),
    doc(baseline={"features": {"plan": {"kind": "numeric", "edges": [1]}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": [3, 1]}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": [1, 1]}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": []}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": [1], "fractions": [1.0]}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": [1], "fractions": [0.5, 0.6]}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": [1], "fractions": [1.5, -0.5]}}}),
    doc(baseline={"features": {"age": {"edges": [1]}}}),
    doc(baseline={"features": {"age": {"kind": "histogram", "edges": [1]}}}),
    doc(baseline={"features": {"age": {"kind": "numeric", "edges": [1], "categories": ["a"]}}}),
    doc(baseline={"features": {"plan": {"kind": "categorical", "categories": ["a", "a"]}}}),
    doc(baseline={"features": {"plan": {"kind": "categorical", "categories": []}}}),
    doc(baseline={"features": {"plan": {"kind": "categorical", "categories": [["a"]]}}}),
    doc(baseline={"features": {"plan": {"kind": "categorical", "categories": ["a"], "fractions": [1.0]}}}),
    doc(baseline={"features": []}),
    doc(baseline={"other": {}}),
    doc(baseline="none"),
    doc(unexpected=1),
    doc(schema_version=2),
    doc(task="clustering"),
    doc(format="onnx"),
    doc(onnx={"file": "../model.onnx", "sha256": "c" * 64}),
    doc(onnx={"file": "model.onnx", "sha256": "C" * 64}),
    doc(onnx={"file": "model.onnx"}),
    doc(onnx={"file": "model.onnx", "sha256": "c" * 64, "extra": 1}),
    doc(onnx={"file": "model.onnx", "sha256": "c" * 64, "check": []}),
    doc(onnx="model.onnx"),
    doc(onnx_failure=3),
    doc(name=""),
    doc(name="x" * 254),
    doc(version=""),
    doc(version=4.5),
    doc(version=True),
    doc(target=3),
    doc(classes="yes"),
    doc(classes=[None]),
    doc(metrics={"accuracy": "high"}),
    doc(metrics=[0.9]),
    doc(lineage=[]),
    {k: v for k, v in doc().items() if k != "sha256"},
    {k: v for k, v in doc().items() if k != "features"},
    [doc()],
]


def plain(value: Any) -> Any:
    """Both representations as plain JSON-like data (pydantic models and dataclasses alike)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, models.BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@pytest.mark.parametrize("document", VALID, ids=range(len(VALID)))
def test_valid_documents_read_the_same_as_the_models(document: dict[str, Any]) -> None:
    expected = models.ArtifactMetadata.model_validate(document)
    read = metadata_from_dict(document)
    assert plain(read) == plain(expected)
    assert [type(c) for c in read.classes or []] == [type(c) for c in expected.classes or []]
    assert read.feature_names == expected.feature_names


@pytest.mark.parametrize("document", INVALID, ids=range(len(INVALID)))
def test_invalid_documents_are_refused_by_both(document: Any) -> None:
    with pytest.raises(MetadataError, match=r"^metadata\.json is invalid: \S+: \S"):
        parse_metadata(json.dumps(document).encode(), "metadata.json")
    with pytest.raises(MetadataError):
        models.parse_metadata(json.dumps(document).encode(), "metadata.json")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc(features=[{"name": "a", "dtype": "float16"}]), r"features\.0\.dtype: must be one of"),
        (doc(baseline={"features": {"age": {"kind": "numeric", "edges": [1], "fractions": [1.0]}}}),
         r"baseline\.features\.age\.fractions: numeric bins: fractions has 1 entries, expected 2"),
        (doc(unexpected=1), r"unexpected: Extra inputs are not permitted"),
        (doc(metrics={"accuracy": "high"}), r"metrics\.accuracy: must be a number, got str"),
        ({k: v for k, v in doc().items() if k != "sha256"}, r"sha256: Field required"),
        (doc(classes=None), r"<root>: classification metadata needs 'classes'"),
    ],
)
def test_the_message_names_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_metadata(json.dumps(document).encode(), "metadata.json")


def test_numbers_written_as_text_are_refused_though_the_models_would_coerce_them() -> None:
    """The one documented difference: stricter than pydantic's lax mode, never looser."""
    document = doc(baseline={"features": {"age": {"kind": "numeric", "edges": ["18"]}}})
    assert models.ArtifactMetadata.model_validate(document).baseline is not None
    with pytest.raises(MetadataError, match=r"baseline\.features\.age\.edges\.0: must be a number, got str"):
        parse_metadata(json.dumps(document).encode(), "metadata.json")


def test_not_json_is_refused() -> None:
    with pytest.raises(MetadataError, match=r"metadata\.json is invalid: <root>: not JSON"):
        parse_metadata(b"{nope", "metadata.json")


def test_what_the_trainer_writes_reads_back() -> None:
    written = models.ArtifactMetadata.model_validate(doc()).model_dump_json(indent=2).encode()
    assert plain(parse_metadata(written)) == plain(models.parse_metadata(written))


def test_the_server_start_up_path_does_not_import_pydantic() -> None:
    code = (
        "import sys\n"
        "import herder.serving.cli, herder.serving.loading, herder.serving.app, herder.serving.dataplane\n"
        "import herder.serving.metrics, herder.serving.server\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"
