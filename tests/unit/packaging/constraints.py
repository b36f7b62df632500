"""``constraints.txt``: the image's runtime dependencies, exported from the one lock (``uv.lock``) with hashes.

    .venv/bin/python -m tests.unit.packaging.constraints          # rewrite constraints.txt (``make lock`` does it)
    .venv/bin/python -m tests.unit.packaging.constraints --check  # exit 1 if it is stale

Why a second file at all: the image installs with plain pip (``--require-hashes``, binary wheels only), so it needs
no uv in the build; the file is generated from ``uv.lock`` and checked against it, so there is still one lock.
Dev extras are left out; markers stay, so pip picks the same wheels the lock chose for CPython 3.11 on Linux.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[3]
CONSTRAINTS = ROOT / "constraints.txt"
HEADER = """\
# Pinned, hashed runtime dependencies of herder, used by the Dockerfile (pip install --require-hashes -r).
# GENERATED from uv.lock (uv export --frozen --no-dev --no-emit-project); do not edit. Regenerate: make lock
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def uv() -> str:
    """The uv the dev environment pins (``uv`` is in the dev extra, beside this interpreter)."""
    return str(Path(sys.executable).parent / "uv")


def render() -> str:
    out = subprocess.run(
        [uv(), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", "--format", "requirements.txt",
         "--python", f"{sys.version_info.major}.{sys.version_info.minor}"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return HEADER + out


def pins(text: str | None = None) -> dict[str, str]:
    """Canonical name -> version of every pin in constraints.txt whose marker holds for this interpreter."""
    result: dict[str, str] = {}
    for line in (CONSTRAINTS.read_text() if text is None else text).splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;([^\\]*))?", line)
        if match and (not match.group(3) or Marker(match.group(3).strip()).evaluate()):
            result[canonical(match.group(1))] = match.group(2)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        return 0 if CONSTRAINTS.read_text() == text else 1
    CONSTRAINTS.write_text(text)
    print(f"wrote {CONSTRAINTS} ({len(pins(text))} pins)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
