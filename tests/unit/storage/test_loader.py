"""Safe loading: skops trusted types from configuration, pickle/joblib only when allowed and pinned."""

from __future__ import annotations

import builtins
import hashlib
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from herder.storage.errors import DigestMismatchError, StorageError, UnsafeFormatError, UntrustedTypesError
from herder.storage.fetch import fetch_verified
from herder.storage.loader import ArtifactFormat, load_artifact


def double(x: np.ndarray) -> np.ndarray:
    """A function skops does not trust by default (it is not part of numpy/scikit-learn)."""
    return x * 2


UNTRUSTED = f"{__name__}.double"


class Trap:
    """Unpickling this creates a marker file: proof that pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (builtins.open, (str(self.marker), "w"))


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fitted() -> LogisticRegression:
    x = np.random.default_rng(0).normal(size=(50, 3))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))


def test_skops_round_trip(tmp_path: Path, fitted: LogisticRegression) -> None:
    sio.dump(fitted, tmp_path / "m.skops")
    digest = hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    artifact = fetch_verified(str(tmp_path / "m.skops"), tmp_path / "cache", digest)
    loaded = load_artifact(artifact, ArtifactFormat.SKOPS)
    assert isinstance(loaded, LogisticRegression)


def test_skops_untrusted_types_come_from_configuration_only(tmp_path: Path) -> None:
    x = np.abs(np.random.default_rng(0).normal(size=(50, 3)))
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(x, (x[:, 0] > 1).astype(int))
    sio.dump(model, tmp_path / "m.skops")
    digest = hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    artifact = fetch_verified(str(tmp_path / "m.skops"), tmp_path / "cache", digest)
    with pytest.raises(UntrustedTypesError, match=re.escape(UNTRUSTED)):
        load_artifact(artifact, ArtifactFormat.SKOPS)
    loaded = load_artifact(artifact, ArtifactFormat.SKOPS, trusted_types=[UNTRUSTED])
    assert loaded.predict(x[:2]).shape == (2,)


def test_booby_trapped_pickle_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    digest = _write(tmp_path / "m.pkl", pickle.dumps(Trap(marker)))
    artifact = fetch_verified(str(tmp_path / "m.pkl"), tmp_path / "cache", digest)
    with pytest.raises(UnsafeFormatError, match="--allow-unsafe-pickle"):
        load_artifact(artifact, ArtifactFormat.PICKLE)
    with pytest.raises(UnsafeFormatError, match="--allow-unsafe-pickle"):
        load_artifact(artifact, ArtifactFormat.JOBLIB)
    with pytest.raises(StorageError, match="not a readable skops file"):
        load_artifact(artifact, ArtifactFormat.SKOPS)  # the default format does not unpickle either
    unpinned = fetch_verified(str(tmp_path / "m.pkl"), tmp_path / "cache", None, allow_unpinned_local=True)
    with pytest.raises(UnsafeFormatError, match="pinned --sha256"):
        load_artifact(unpinned, ArtifactFormat.PICKLE, allow_unsafe_pickle=True)
    with pytest.raises(DigestMismatchError):
        fetch_verified(str(tmp_path / "m.pkl"), tmp_path / "cache2", "3" * 64)
    assert not marker.exists()
    # The control: allowed and pinned, the payload really does run -- so the refusals above were meaningful.
    load_artifact(artifact, ArtifactFormat.PICKLE, allow_unsafe_pickle=True)
    assert marker.exists()


def test_joblib_allowed_and_pinned(tmp_path: Path, fitted: LogisticRegression) -> None:
    import joblib

    joblib.dump(fitted, tmp_path / "m.joblib")
    digest = hashlib.sha256((tmp_path / "m.joblib").read_bytes()).hexdigest()
    artifact = fetch_verified(str(tmp_path / "m.joblib"), tmp_path / "cache", digest)
    assert isinstance(load_artifact(artifact, ArtifactFormat.JOBLIB, allow_unsafe_pickle=True), LogisticRegression)


def test_skops_is_read_once_when_it_loads(
    tmp_path: Path, fitted: LogisticRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The success path is one skops.load (which audits before constructing); the file is only read a second
    time, to name the refused types, when loading fails."""
    sio.dump(fitted, tmp_path / "m.skops")
    digest = hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    artifact = fetch_verified(str(tmp_path / "m.skops"), tmp_path / "cache", digest)

    def not_expected(**_: object) -> list[str]:
        raise AssertionError("get_untrusted_types called on the success path")

    monkeypatch.setattr(sio, "get_untrusted_types", not_expected)
    assert isinstance(load_artifact(artifact, ArtifactFormat.SKOPS), LogisticRegression)
