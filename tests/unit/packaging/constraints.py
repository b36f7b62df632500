"""``constraints.txt``: the exact versions the image installs, taken from the development virtual environment
(where the test suite proved them) and filtered to what ``herder`` needs at run time (no dev extras).

    .venv/bin/python -m tests.unit.packaging.constraints          # rewrite constraints.txt
    .venv/bin/python -m tests.unit.packaging.constraints --check  # exit 1 if it is stale

Markers are evaluated for this interpreter (CPython 3.11 on Linux), which is what the image runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
CONSTRAINTS = ROOT / "constraints.txt"
HEADER = """\
# Pinned runtime dependencies of herder, used by the Dockerfile (pip install -c constraints.txt).
# GENERATED from the development venv (pip freeze --exclude-editable), filtered to herder's runtime closure:
#   .venv/bin/python -m tests.unit.packaging.constraints
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = "herder") -> set[str]:
    """Canonical names of every distribution *root* pulls in at run time (its extras excluded)."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        name = stack.pop()
        if canonical(name) in seen:
            continue
        seen.add(canonical(name))
        for line in md.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    seen.discard(canonical(root))
    return seen


def render() -> str:
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    wanted = runtime_closure()
    pins = sorted((line for line in freeze if "==" in line and canonical(line.split("==")[0]) in wanted),
                  key=lambda line: canonical(line.split("==")[0]))
    missing = wanted - {canonical(p.split("==")[0]) for p in pins}
    if missing:
        raise SystemExit(f"not installed in this venv (cannot pin): {sorted(missing)}")
    return HEADER + "\n".join(pins) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        return 0 if CONSTRAINTS.read_text() == text else 1
    CONSTRAINTS.write_text(text)
    print(f"wrote {CONSTRAINTS} ({text.count(chr(10)) - HEADER.count(chr(10))} pins)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
