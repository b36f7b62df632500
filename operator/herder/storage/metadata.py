"""``metadata.json``: what the trainer writes beside each artifact and the server reads at startup.

It tells the server the feature names, their order and dtypes (so requests can be validated and rows built
in training order), the classes (for labels and accuracy), the artifact's sha256 (the server refuses to start
if it disagrees with the artifact), and the baseline profile: the fixed bins of each feature and of the
prediction on the training data. The server counts live traffic into exactly those bins
(``herder_feature_bin_total``), so the operator can compute PSI without ever seeing raw rows.

Bin convention (shared by trainer, server and operator):
- numeric feature with ``edges`` e_0 < ... < e_{k-1}: bin 0 is (-inf, e_0), bin i is [e_{i-1}, e_i), bin k is
  [e_{k-1}, +inf) -- i.e. ``numpy.searchsorted(edges, x, side="right")``; k + 1 bins in all.
- categorical feature with ``categories`` c_0..c_{k-1}: bin i is c_i, bin k is "any other value"; k + 1 bins.
- ``fractions`` (optional) are the training-data share of each bin, same length as the bins.

The model server reads this document with :mod:`herder.storage.metadata_reader` (same fields and rules, no
pydantic: ~8.5 MiB less RSS per serving pod); a change here needs the same change there, and
``tests/unit/storage/test_metadata_reader.py`` fails until both agree.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from herder.storage.errors import MetadataError
from herder.storage.metadata_reader import NUMERIC_DTYPES, Category, FeatureDtype

__all__ = ["NUMERIC_DTYPES", "ArtifactMetadata", "BaselineProfile", "CategoricalBins", "Category", "FeatureBins",
           "FeatureDtype", "FeatureSpec", "NumericBins", "OnnxArtifact", "parse_metadata"]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_fractions(fractions: list[float] | None, bins: int, what: str) -> None:
    if fractions is None:
        return
    if len(fractions) != bins:
        raise ValueError(f"{what}: fractions has {len(fractions)} entries, expected {bins} (one per bin)")
    if any(not math.isfinite(f) or f < 0 for f in fractions):
        raise ValueError(f"{what}: fractions must be finite and non-negative")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"{what}: fractions must sum to 1, got {sum(fractions)}")


class FeatureSpec(_Strict):
    """One model input column, in training order."""

    name: str = Field(min_length=1, max_length=256)
    dtype: FeatureDtype = "float64"


class NumericBins(_Strict):
    """Baseline bins of a numeric feature or of a regression prediction (see module docstring)."""

    kind: Literal["numeric"] = "numeric"
    edges: list[float] = Field(min_length=1)
    fractions: list[float] | None = None

    @model_validator(mode="after")
    def _valid(self) -> NumericBins:
        if any(not math.isfinite(e) for e in self.edges):
            raise ValueError("edges must be finite")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must be strictly increasing")
        _check_fractions(self.fractions, len(self.edges) + 1, "numeric bins")
        return self


class CategoricalBins(_Strict):
    """Baseline categories of a categorical feature; the extra last bin counts unseen values."""

    kind: Literal["categorical"] = "categorical"
    categories: list[Category] = Field(min_length=1)
    fractions: list[float] | None = None

    @model_validator(mode="after")
    def _valid(self) -> CategoricalBins:
        if len({(type(c), c) for c in self.categories}) != len(self.categories):
            raise ValueError("categories must be unique")
        _check_fractions(self.fractions, len(self.categories) + 1, "categorical bins")
        return self


FeatureBins = Annotated[NumericBins | CategoricalBins, Field(discriminator="kind")]


class BaselineProfile(_Strict):
    """Training-data profile used for drift: per-feature bins and the prediction's distribution.

    ``prediction`` is NumericBins for regression (bins of the predicted value) or, for classification, a
    CategoricalBins over the classes (its fractions are the training class shares).
    """

    features: dict[str, FeatureBins] = Field(default_factory=dict)
    prediction: FeatureBins | None = None


class OnnxArtifact(_Strict):
    """The compiled twin of the artifact: a file beside metadata.json, its digest, and the trainer's check of it
    against scikit-learn (rows, label mismatches, largest differences, tolerance)."""

    file: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    probabilities: bool = False
    check: dict[str, Any] = Field(default_factory=dict)


class ArtifactMetadata(_Strict):
    """The contents of ``metadata.json`` (schema_version 1)."""

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=253)
    version: str = Field(min_length=1, max_length=63)
    task: Literal["classification", "regression"]
    format: Literal["skops", "pickle", "joblib"] = "skops"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    features: list[FeatureSpec] = Field(min_length=1)
    target: str | None = None
    classes: list[Category] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)
    baseline: BaselineProfile | None = None
    onnx: OnnxArtifact | None = None
    onnx_failure: str | None = Field(default=None, max_length=2048)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _consistent(self) -> ArtifactMetadata:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if self.task == "classification" and not self.classes:
            raise ValueError("classification metadata needs 'classes'")
        if self.task == "regression" and self.classes:
            raise ValueError("regression metadata must not have 'classes'")
        if self.baseline is not None:
            dtypes = {f.name: f.dtype for f in self.features}
            for name, bins in self.baseline.features.items():
                if name not in dtypes:
                    raise ValueError(f"baseline names unknown feature {name!r}")
                if isinstance(bins, NumericBins) and dtypes[name] not in NUMERIC_DTYPES:
                    raise ValueError(f"baseline for {name!r} is numeric but the feature is {dtypes[name]}")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def parse_metadata(raw: bytes, source: str = "metadata.json") -> ArtifactMetadata:
    """Parse and validate metadata.json bytes; raise MetadataError with the first problems named."""
    try:
        return ArtifactMetadata.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise MetadataError(f"{source} is invalid: {problems}") from exc
