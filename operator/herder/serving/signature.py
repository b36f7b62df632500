"""The model's input/output signature: feature names, order and dtypes, task and classes.

It comes from metadata.json when given (what the trainer recorded) and otherwise from the estimator itself
(``n_features_in_``, ``feature_names_in_``, ``classes_``), so a bare artifact can be served in development.
When both exist they must agree, or the server refuses to start: serving rows in the wrong column order is a
silent, catastrophic bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from herder.storage.errors import MetadataError
from herder.storage.metadata_reader import NUMERIC_DTYPES, ArtifactMetadata, Category, FeatureSpec


@dataclass(frozen=True)
class Signature:
    """What a request must contain and what a response returns."""

    features: tuple[FeatureSpec, ...]
    task: str
    classes: tuple[Category, ...] | None

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def all_numeric(self) -> bool:
        """True when every feature is float/int, so rows fit a float64 matrix (the fast path)."""
        return all(f.dtype in NUMERIC_DTYPES for f in self.features)

    @cached_property
    def index(self) -> dict[str, int]:
        return {f.name: i for i, f in enumerate(self.features)}


def _estimator_classes(estimator: Any) -> tuple[Category, ...] | None:
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return None
    return tuple(c.item() if hasattr(c, "item") else c for c in classes)


def signature_from_estimator(estimator: Any) -> Signature:
    """Infer a signature from a fitted scikit-learn estimator (no metadata.json)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        features = tuple(FeatureSpec(name=str(n)) for n in names)
    else:
        count = getattr(estimator, "n_features_in_", None)
        if not isinstance(count, int) or count < 1:
            raise MetadataError("the estimator does not say how many features it takes; give --metadata-uri")
        features = tuple(FeatureSpec(name=f"f{i}") for i in range(count))
    classes = _estimator_classes(estimator)
    return Signature(features=features, task="classification" if classes else "regression", classes=classes)


def signature_from_metadata(metadata: ArtifactMetadata, estimator: Any, artifact_sha256: str) -> Signature:
    """Signature from metadata.json, after checking it describes this very artifact and estimator."""
    if metadata.sha256 != artifact_sha256:
        raise MetadataError(
            f"metadata.json describes artifact sha256 {metadata.sha256}, but the loaded artifact is {artifact_sha256}"
        )
    names = [f.name for f in metadata.features]
    count = getattr(estimator, "n_features_in_", None)
    if isinstance(count, int) and count != len(names):
        raise MetadataError(f"metadata lists {len(names)} features but the estimator takes {count}")
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and [str(n) for n in fitted_names] != names:
        raise MetadataError("metadata feature names/order differ from the estimator's feature_names_in_")
    classes = _estimator_classes(estimator)
    if metadata.task == "classification":
        meta_classes = tuple(metadata.classes or ())
        if classes is not None and [str(c) for c in classes] != [str(c) for c in meta_classes]:
            raise MetadataError(f"metadata classes {list(meta_classes)} differ from the estimator's {list(classes)}")
        classes = classes or meta_classes
    elif classes:
        raise MetadataError("metadata says regression but the estimator has classes_")
    return Signature(features=tuple(metadata.features), task=metadata.task, classes=classes)
