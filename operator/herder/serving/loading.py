"""Startup: from configuration to a ServedModel, verifying everything before any byte is deserialised.

Order matters and is the safety argument: (1) validate URIs, (2) copy the artifact into the cache while
hashing and compare with the pinned sha256, (3) read metadata.json and check it names the same digest,
(4) only then deserialise (skops with configured trusted types; pickle/joblib only if allowed and pinned),
(5) check the estimator agrees with the metadata. Any failure raises a StorageError with one clear line.

An ONNX artifact is the compiled twin of a skops one: metadata.json describes both, and the ONNX file's digest
must be the one metadata.json's ``onnx`` names. It is never deserialised as code: onnxruntime parses a
protobuf graph, so no trusted types are involved and scikit-learn is not imported.
"""

from __future__ import annotations

import logging
import re

from herder.serving.config import ConfigError, ServeConfig
from herder.serving.model import ServedModel
from herder.serving.signature import signature_from_estimator, signature_from_metadata
from herder.storage.errors import MetadataError
from herder.storage.fetch import FetchedArtifact, fetch_verified, read_small
from herder.storage.formats import ArtifactFormat
from herder.storage.metadata_reader import ArtifactMetadata, parse_metadata

log = logging.getLogger("herder.serving")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


def load_metadata(config: ServeConfig) -> ArtifactMetadata | None:
    if not config.metadata_uri:
        return None
    raw = read_small(
        config.metadata_uri, expected_sha256=config.metadata_sha256, storage_options=config.storage_options()
    )
    return parse_metadata(raw, config.metadata_uri)


def load_served_model(config: ServeConfig) -> ServedModel:
    """Fetch, verify and load the configured model; raise StorageError/ConfigError naming the problem."""
    metadata = load_metadata(config)
    artifact = fetch_verified(
        config.model_uri,
        config.cache_dir,
        config.sha256,
        allow_unpinned_local=config.allow_unverified_local,
        storage_options=config.storage_options(),
    )
    if not artifact.pinned:
        log.warning("serving UNVERIFIED local artifact %s (sha256 %s): development only", artifact.uri, artifact.sha256)
    if config.format is ArtifactFormat.ONNX:
        return _onnx_model(config, artifact, metadata)
    if metadata is not None:
        if metadata.sha256 != artifact.sha256:
            raise MetadataError(
                f"metadata.json describes artifact sha256 {metadata.sha256}, but {config.model_uri} "
                f"has sha256 {artifact.sha256}"
            )
        if metadata.format != config.format.value:
            raise MetadataError(
                f"metadata.json says format {metadata.format!r} but --format is {config.format.value!r}"
            )
    from herder.storage.loader import load_artifact

    estimator = load_artifact(
        artifact, config.format, trusted_types=config.trusted_types, allow_unsafe_pickle=config.allow_unsafe_pickle
    )
    if not hasattr(estimator, "predict"):
        raise MetadataError(f"{config.model_uri} does not contain an estimator with predict()")
    if metadata is not None:
        signature = signature_from_metadata(metadata, estimator, artifact.sha256)
    else:
        signature = signature_from_estimator(estimator)
    name, version = _names(config, metadata)
    return ServedModel(
        name=name,
        version=version,
        sha256=artifact.sha256,
        format=config.format.value,
        estimator=estimator,
        signature=signature,
        baseline=metadata.baseline if metadata else None,
        use_fast_path=config.linear_fast_path,
    )


def _names(config: ServeConfig, metadata: ArtifactMetadata | None) -> tuple[str, str]:
    name = config.model_name or (metadata.name if metadata else "model")
    version = config.model_version or (metadata.version if metadata else "1")
    if not NAME_RE.match(name):
        raise ConfigError(f"model name {name!r} must match {NAME_RE.pattern} (it appears in URL paths)")
    if not NAME_RE.match(version):
        raise ConfigError(f"model version {version!r} must match {NAME_RE.pattern}")
    return name, version


def _onnx_model(config: ServeConfig, artifact: FetchedArtifact, metadata: ArtifactMetadata | None) -> ServedModel:
    """The verified ONNX file as a ServedModel, after checking metadata.json names this very file."""
    from herder.serving.onnx_model import OnnxPredictor

    if metadata is None:
        raise ConfigError("--format onnx requires --metadata-uri")
    if metadata.onnx is None:
        raise MetadataError(f"metadata.json has no 'onnx' section, so {config.model_uri} is not its compiled twin")
    if metadata.onnx.sha256 != artifact.sha256:
        raise MetadataError(f"metadata.json describes an ONNX artifact with sha256 {metadata.onnx.sha256}, but "
                            f"{config.model_uri} has sha256 {artifact.sha256}")
    predictor = OnnxPredictor(artifact.path.read_bytes(), metadata.features, metadata.task, metadata.classes,
                              probabilities=metadata.onnx.probabilities)
    # the metadata's own digest is the skops artifact's; the ONNX file was matched against metadata.onnx above
    signature = signature_from_metadata(metadata, predictor, metadata.sha256)
    name, version = _names(config, metadata)
    return ServedModel(name=name, version=version, sha256=artifact.sha256, format=ArtifactFormat.ONNX.value,
                       estimator=predictor, signature=signature, baseline=metadata.baseline)
