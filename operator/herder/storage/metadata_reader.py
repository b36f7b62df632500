"""``metadata.json`` as the model server reads it: the same document and rules, without pydantic.

The trainer writes metadata.json with the pydantic models of :mod:`herder.storage.metadata`, which stay the
definition of the document. Importing pydantic and building those models' validators costs the server ~8.5 MiB
of RSS (measured: 3.6 MiB for pydantic, 4.6 MiB for the models) -- more than the margin between the
RandomForest server and its 150 MiB target -- for one small document read once at start-up. So the server reads
it here with plain frozen dataclasses of the same names and fields, applying the same rules: unknown keys,
wrong types, missing required fields, the field constraints and the cross-field checks are refused, with a
message naming the field path. It is never looser than the models: a document accepted here is accepted by
them with the same values (``tests/unit/storage/test_metadata_reader.py`` checks both on valid documents and
on every invalid one of the model tests); in rare lax corners (numbers written as strings) it is stricter,
which makes the server refuse the model with a clear error.

Bin convention: see :mod:`herder.storage.metadata`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

from herder.storage.errors import MetadataError

FeatureDtype = Literal["float64", "float32", "int64", "int32", "bool", "string"]
FEATURE_DTYPES: tuple[str, ...] = ("float64", "float32", "int64", "int32", "bool", "string")
NUMERIC_DTYPES: frozenset[str] = frozenset({"float64", "float32", "int64", "int32"})
Category: TypeAlias = str | int | bool
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_PROBLEMS = 5


@dataclass(frozen=True)
class FeatureSpec:
    """One model input column, in training order."""

    name: str
    dtype: FeatureDtype = "float64"


@dataclass(frozen=True)
class NumericBins:
    """Baseline bins of a numeric feature or of a regression prediction."""

    edges: list[float]
    fractions: list[float] | None = None
    kind: Literal["numeric"] = "numeric"


@dataclass(frozen=True)
class CategoricalBins:
    """Baseline categories of a categorical feature; the extra last bin counts unseen values."""

    categories: list[Category]
    fractions: list[float] | None = None
    kind: Literal["categorical"] = "categorical"


FeatureBins: TypeAlias = NumericBins | CategoricalBins


@dataclass(frozen=True)
class BaselineProfile:
    """Training-data profile used for drift: per-feature bins and the prediction's distribution."""

    features: dict[str, FeatureBins] = field(default_factory=dict)
    prediction: FeatureBins | None = None


@dataclass(frozen=True)
class OnnxArtifact:
    """The compiled twin of the artifact (see herder.storage.metadata.OnnxArtifact)."""

    file: str
    sha256: str
    probabilities: bool = False
    check: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactMetadata:
    """The contents of ``metadata.json`` (schema_version 1)."""

    name: str
    version: str
    task: Literal["classification", "regression"]
    sha256: str
    features: list[FeatureSpec]
    schema_version: Literal[1] = 1
    format: Literal["skops", "pickle", "joblib"] = "skops"
    target: str | None = None
    classes: list[Category] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    baseline: BaselineProfile | None = None
    onnx: OnnxArtifact | None = None
    onnx_failure: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class _Invalid(ValueError):
    """One problem at one field path (collected, then reported together like pydantic's errors)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<root>'}: {message}")


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _object(value: Any, path: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(path, f"must be an object, got {type(value).__name__}")
    extra = sorted(set(value) - allowed)
    if extra:
        raise _Invalid(_join(path, extra[0]), "Extra inputs are not permitted")
    missing = sorted(required - set(value))
    if missing:
        raise _Invalid(_join(path, missing[0]), "Field required")
    return value


def _text(value: Any, path: str, min_length: int = 0, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise _Invalid(path, f"must be a string, got {type(value).__name__}")
    if len(value) < min_length:
        raise _Invalid(path, f"must have at least {min_length} character(s)")
    if max_length is not None and len(value) > max_length:
        raise _Invalid(path, f"must have at most {max_length} characters")
    return value


def _choice(value: Any, path: str, choices: tuple[Any, ...]) -> Any:
    if isinstance(value, bool) or value not in choices or type(value) is not type(choices[0]):
        raise _Invalid(path, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(path, f"must be a number, got {type(value).__name__}")
    return float(value)


def _list(value: Any, path: str, min_length: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(path, f"must be a list, got {type(value).__name__}")
    if len(value) < min_length:
        raise _Invalid(path, f"must have at least {min_length} item(s)")
    return value


def _category(value: Any, path: str) -> Category:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    raise _Invalid(path, f"must be a string, an integer or a boolean, got {type(value).__name__}")


def _fractions(value: Any, path: str, bins: int, what: str) -> list[float] | None:
    if value is None:
        return None
    fractions = [_number(f, _join(path, i)) for i, f in enumerate(_list(value, path))]
    if len(fractions) != bins:
        raise _Invalid(path, f"{what}: fractions has {len(fractions)} entries, expected {bins} (one per bin)")
    if any(not math.isfinite(f) or f < 0 for f in fractions):
        raise _Invalid(path, f"{what}: fractions must be finite and non-negative")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise _Invalid(path, f"{what}: fractions must sum to 1, got {sum(fractions)}")
    return fractions


def _bins(value: Any, path: str) -> FeatureBins:
    if not isinstance(value, dict) or "kind" not in value:
        raise _Invalid(path, "must be an object with 'kind' ('numeric' or 'categorical')")
    kind = _choice(value["kind"], _join(path, "kind"), ("numeric", "categorical"))
    if kind == "numeric":
        body = _object(value, path, {"kind", "edges", "fractions"}, {"edges"})
        raw = _list(body["edges"], _join(path, "edges"), 1)
        edges = [_number(e, _join(_join(path, "edges"), i)) for i, e in enumerate(raw)]
        if any(not math.isfinite(e) for e in edges):
            raise _Invalid(path, "edges must be finite")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise _Invalid(path, "edges must be strictly increasing")
        fractions = _fractions(body.get("fractions"), _join(path, "fractions"), len(edges) + 1, "numeric bins")
        return NumericBins(edges=edges, fractions=fractions)
    body = _object(value, path, {"kind", "categories", "fractions"}, {"categories"})
    raw = _list(body["categories"], _join(path, "categories"), 1)
    categories = [_category(c, _join(_join(path, "categories"), i)) for i, c in enumerate(raw)]
    if len({(type(c), c) for c in categories}) != len(categories):
        raise _Invalid(path, "categories must be unique")
    fractions = _fractions(body.get("fractions"), _join(path, "fractions"), len(categories) + 1, "categorical bins")
    return CategoricalBins(categories=categories, fractions=fractions)


def _baseline(value: Any, path: str) -> BaselineProfile:
    body = _object(value, path, {"features", "prediction"}, set())
    raw = body.get("features", {})
    if not isinstance(raw, dict):
        raise _Invalid(_join(path, "features"), f"must be an object, got {type(raw).__name__}")
    features = {str(k): _bins(v, _join(_join(path, "features"), k)) for k, v in raw.items()}
    prediction = body.get("prediction")
    return BaselineProfile(
        features=features, prediction=None if prediction is None else _bins(prediction, _join(path, "prediction"))
    )


FIELDS = {"schema_version", "name", "version", "task", "format", "sha256", "features", "target", "classes",
          "metrics", "lineage", "baseline", "onnx", "onnx_failure"}  # fmt: skip
ONNX_FILE_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _onnx(value: Any, path: str) -> OnnxArtifact:
    body = _object(value, path, {"file", "sha256", "probabilities", "check"}, {"file", "sha256"})
    file = _text(body["file"], _join(path, "file"), 1, 255)
    if not ONNX_FILE_RE.match(file):
        raise _Invalid(_join(path, "file"), f"must match {ONNX_FILE_RE.pattern}, got {file!r}")
    sha256 = _text(body["sha256"], _join(path, "sha256"))
    if not SHA256_RE.match(sha256):
        raise _Invalid(_join(path, "sha256"), f"must be 64 lowercase hex digits, got {sha256!r}")
    probabilities = body.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise _Invalid(_join(path, "probabilities"), f"must be a boolean, got {type(probabilities).__name__}")
    check = body.get("check", {})
    if not isinstance(check, dict):
        raise _Invalid(_join(path, "check"), f"must be an object, got {type(check).__name__}")
    return OnnxArtifact(file=file, sha256=sha256, probabilities=probabilities, check=cast(dict[str, Any], check))


def metadata_from_dict(doc: Any) -> ArtifactMetadata:
    """Validate a parsed metadata.json document; raises ValueError naming the field path of the problem."""
    body = _object(doc, "", FIELDS, {"name", "version", "task", "sha256", "features"})
    if "schema_version" in body:
        _choice(body["schema_version"], "schema_version", (1,))
    version = body["version"]
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    features = []
    for i, raw in enumerate(_list(body["features"], "features", 1)):
        path = _join("features", i)
        spec = _object(raw, path, {"name", "dtype"}, {"name"})
        dtype = _choice(spec.get("dtype", "float64"), _join(path, "dtype"), FEATURE_DTYPES)
        features.append(FeatureSpec(name=_text(spec["name"], _join(path, "name"), 1, 256), dtype=dtype))
    target = body.get("target")
    classes = body.get("classes")
    metrics = body.get("metrics", {})
    if not isinstance(metrics, dict):
        raise _Invalid("metrics", f"must be an object, got {type(metrics).__name__}")
    lineage = body.get("lineage", {})
    if not isinstance(lineage, dict):
        raise _Invalid("lineage", f"must be an object, got {type(lineage).__name__}")
    sha256 = _text(body["sha256"], "sha256")
    if not SHA256_RE.match(sha256):
        raise _Invalid("sha256", f"must be 64 lowercase hex digits (pattern {SHA256_RE.pattern}), got {sha256!r}")
    meta = ArtifactMetadata(
        schema_version=1,
        name=_text(body["name"], "name", 1, 253),
        version=_text(version, "version", 1, 63),
        task=_choice(body["task"], "task", ("classification", "regression")),
        format=_choice(body.get("format", "skops"), "format", ("skops", "pickle", "joblib")),
        sha256=sha256,
        features=features,
        target=None if target is None else _text(target, "target"),
        classes=None
        if classes is None
        else [_category(c, _join("classes", i)) for i, c in enumerate(_list(classes, "classes"))],
        metrics={_text(k, "metrics"): _number(v, _join("metrics", k)) for k, v in metrics.items()},
        lineage=cast(dict[str, Any], lineage),
        baseline=None if body.get("baseline") is None else _baseline(body["baseline"], "baseline"),
        onnx=None if body.get("onnx") is None else _onnx(body["onnx"], "onnx"),
        onnx_failure=None if body.get("onnx_failure") is None else _text(body["onnx_failure"], "onnx_failure", 0,
                                                                          2048),
    )
    _check_consistent(meta)
    return meta


def _check_consistent(meta: ArtifactMetadata) -> None:
    """The cross-field rules of ArtifactMetadata._consistent, with the same messages."""
    names = meta.feature_names
    if len(set(names)) != len(names):
        raise _Invalid("", "feature names must be unique")
    if meta.task == "classification" and not meta.classes:
        raise _Invalid("", "classification metadata needs 'classes'")
    if meta.task == "regression" and meta.classes:
        raise _Invalid("", "regression metadata must not have 'classes'")
    if meta.baseline is not None:
        dtypes = {f.name: f.dtype for f in meta.features}
        for name, bins in meta.baseline.features.items():
            if name not in dtypes:
                raise _Invalid("", f"baseline names unknown feature {name!r}")
            if isinstance(bins, NumericBins) and dtypes[name] not in NUMERIC_DTYPES:
                raise _Invalid("", f"baseline for {name!r} is numeric but the feature is {dtypes[name]}")


def parse_metadata(raw: bytes, source: str = "metadata.json") -> ArtifactMetadata:
    """Parse and validate metadata.json bytes; raise MetadataError naming the problem and where it is."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{source} is invalid: <root>: not JSON ({exc})") from exc
    try:
        return metadata_from_dict(doc)
    except _Invalid as exc:
        raise MetadataError(f"{source} is invalid: {exc}") from exc
