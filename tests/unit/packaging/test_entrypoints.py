"""The image's install steps, replayed without a container engine: a clean virtual environment (no system site
packages, not the dev venv), the build tools pinned in the Dockerfile, the dependencies from constraints.txt
(binary wheels only, as in the image), the herder wheel built from a copy of exactly what the Dockerfile copies,
then every entrypoint the image offers answers ``--help``.

Slow (it installs numpy, pandas, scikit-learn, pyarrow ... from the pip cache or PyPI), hence ``slow``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "operator" / "herder"

pytestmark = pytest.mark.slow

# subcommand -> module that implements it (as in herder/cli.py's SUBCOMMANDS)
ENTRYPOINTS = {
    "operator": "herder.controllers.main",
    "serve": "herder.serving.cli",
    "train": "herder.training.cli",
    "validate": "herder.training.cli",
}


def _module_file(module: str) -> Path:
    return ROOT / "operator" / (module.replace(".", "/") + ".py")


def _param(sub: str) -> object:
    assert _module_file(ENTRYPOINTS[sub]).exists(), f"{ENTRYPOINTS[sub]} is missing"
    return pytest.param(sub, id=sub)


def _run(*argv: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _dockerfile_tool_pins() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"pip install --no-cache-dir (pip==\S+ setuptools==\S+ wheel==\S+)", text)
    assert match, "the Dockerfile's pinned build tools"
    return match.group(1).split()


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("image")
    # The build context, as .dockerignore lets it through.
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "operator", src / "operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    env_dir = work / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _ok(_run(base_python, "-m", "venv", env_dir, cwd=work))
    py = env_dir / "bin" / "python"
    _ok(_run(py, "-m", "pip", "install", "-q", *_dockerfile_tool_pins(), cwd=work))
    _ok(_run(py, "-m", "pip", "install", "-q", "--require-hashes", "--only-binary=:all:", "-r",
             "constraints.txt", cwd=src))
    _ok(_run(py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", work / "wheels",
             ".", cwd=src))
    _ok(_run(py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--find-links", work / "wheels",
             "herder==0.1.0", cwd=src))
    _ok(_run(py, "-m", "pip", "check", cwd=work))
    yield env_dir
    shutil.rmtree(work, ignore_errors=True)  # ~1 GB of wheels: do not leave it in pytest's kept tmp dirs


def test_the_clean_venv_uses_the_wheel_not_the_source_tree(venv: Path) -> None:
    out = _ok(_run(venv / "bin" / "python", "-c", "import herder, sys; print(herder.__file__); print(sys.prefix)",
                   cwd=venv.parent)).stdout.split()
    assert out[0].startswith(str(venv)), out
    assert str(ROOT) not in out[0]
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg


def test_herder_help_lists_every_role(venv: Path) -> None:
    out = _ok(_run(venv / "bin" / "herder", "--help", cwd=venv.parent)).stdout
    for sub in ENTRYPOINTS:
        assert sub in out
    assert _ok(_run(venv / "bin" / "herder", "--version", cwd=venv.parent)).stdout.strip() == "0.1.0"


@pytest.mark.parametrize("sub", [_param(s) for s in ENTRYPOINTS])
def test_entrypoint_help(venv: Path, sub: str) -> None:
    result = _run(venv / "bin" / "herder", sub, "--help", cwd=venv.parent, timeout=120)
    assert result.returncode == 0, f"herder {sub} --help failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert "usage" in result.stdout.lower()
