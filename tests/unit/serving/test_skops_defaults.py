"""The snapshot of skops' default trusted-type names must be exactly what skops computes (see skops_defaults.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from herder.serving import skops_defaults
from herder.serving.skops_defaults import MODULE, install_snapshot, installed_versions, render, snapshot_module
from herder.serving.skops_defaults_snapshot import SNAPSHOT
from tests.unit.storage.test_loader import double

REPO = Path(__file__).resolve().parents[3]


def _real_module_dump() -> dict[str, list[str]]:
    """Every public list of skops.io._trusted_types, imported for real in a fresh interpreter, as names."""
    code = (
        "import json, skops.io._trusted_types as t\n"
        "print(json.dumps({k: [x if isinstance(x, str) else x.__module__ + '.' + x.__qualname__ for x in v]"
        " for k, v in vars(t).items() if not k.startswith('_') and isinstance(v, list)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    result: dict[str, list[str]] = json.loads(out)
    return result


def test_snapshot_file_is_up_to_date() -> None:
    """Fails after an upgrade of skops/scikit-learn/scipy/numpy: regenerate with `--write` (the server would
    otherwise fall back to importing the real module, correct but slower)."""
    assert SNAPSHOT["versions"] == installed_versions()
    text = render(installed_versions(), skops_defaults.real_lists())
    assert (Path(skops_defaults.__file__).with_name("skops_defaults_snapshot.py")).read_text() == text


def test_snapshot_module_equals_the_real_module() -> None:
    real = _real_module_dump()
    stand_in = snapshot_module(SNAPSHOT)
    mine = {
        k: [x if isinstance(x, str) else f"{x.__module__}.{x.__qualname__}" for x in v]
        for k, v in vars(stand_in).items()
        if not k.startswith("_") and isinstance(v, list)
    }
    assert mine == real
    assert len(real["SKLEARN_ESTIMATOR_TYPE_NAMES"]) > 100


def test_installed_only_for_matching_versions_and_before_skops() -> None:
    modules: dict[str, Any] = {}
    other = {**SNAPSHOT, "versions": {**SNAPSHOT["versions"], "skops": "0.0.1"}}
    assert not install_snapshot(modules, other)
    assert modules == {}
    assert install_snapshot(modules, SNAPSHOT)
    assert modules[MODULE].HERDER_SNAPSHOT
    assert not install_snapshot({"skops.io": object()}, SNAPSHOT)  # too late: skops already computed its lists
    assert not install_snapshot()  # this test process has imported skops.io already


def _dump(model: Any, path: Path) -> str:
    sio.dump(model, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_serve_imports_load_and_refuse_as_before(tmp_path: Path) -> None:
    """In a fresh interpreter set up like `herder serve`: the snapshot is used, scikit-learn's ensemble module
    is not imported until a forest is loaded, a forest loads with Tree configured, and untrusted types (and
    Tree when not configured) are still refused."""
    x = np.random.default_rng(0).normal(size=(60, 4))
    y = (x[:, 0] > 0).astype(int)
    digests = {
        "lr": _dump(LogisticRegression().fit(x, y), tmp_path / "lr.skops"),
        "rf": _dump(RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y), tmp_path / "rf.skops"),
        "fn": _dump(make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(x, y), tmp_path / "fn.skops"),
    }
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from herder.serving.lean_imports import pandas_deferred
        from herder.serving.skops_defaults import install_snapshot
        with pandas_deferred():
            import sklearn
            assert install_snapshot()
            import skops.io
        assert "sklearn.ensemble" not in sys.modules
        from herder.storage.errors import UntrustedTypesError
        from herder.storage.fetch import fetch_verified
        from herder.storage.loader import ArtifactFormat, load_artifact
        tmp, digests = Path({str(tmp_path)!r}), {digests!r}
        def load(name, trusted=()):
            artifact = fetch_verified(str(tmp / (name + ".skops")), tmp / "cache", digests[name])
            return load_artifact(artifact, ArtifactFormat.SKOPS, trusted_types=trusted)
        print(type(load("lr")).__name__)
        for name, trusted in (("rf", ()), ("fn", ())):
            try:
                load(name, trusted)
            except UntrustedTypesError as exc:
                print("refused", exc)
        print(type(load("rf", ["sklearn.tree._tree.Tree"])).__name__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=REPO
    ).stdout.splitlines()
    assert out[0] == "LogisticRegression"
    assert out[1].startswith("refused") and out[1].endswith(
        "references types not trusted by configuration: sklearn.tree._tree.Tree "
        "(add them with --trusted-type if you mean it)"
    )
    assert out[2].startswith("refused") and "tests.unit.storage.test_loader.double" in out[2]
    assert out[3] == "RandomForestClassifier"
