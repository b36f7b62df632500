"""``operator/`` is a source root, not a package: ``import operator`` must still be the standard library (numpy,
pandas and many others import it), while ``herder`` is importable from it."""

from __future__ import annotations

import operator
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_operator_is_the_standard_library() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert operator.__file__ is not None
    assert Path(operator.__file__).resolve().is_relative_to(stdlib)
    assert operator.itemgetter(1)([0, 1]) == 1


def test_no_package_marker_in_the_source_root() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_herder_is_importable_from_the_source_root() -> None:
    import herder

    assert herder.__file__ is not None
    assert Path(herder.__file__).resolve().is_relative_to(ROOT / "operator" / "herder")


def test_fresh_interpreter_from_repo_root_still_gets_stdlib_operator() -> None:
    """Run from the repository root, where ``operator/`` is a directory on the current path."""
    code = ("import operator, herder, sysconfig, pathlib; "
            "assert pathlib.Path(operator.__file__).resolve().is_relative_to("
            "pathlib.Path(sysconfig.get_paths()['stdlib']).resolve()); print(operator.itemgetter)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "itemgetter" in r.stdout
