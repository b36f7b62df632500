"""Line coverage of some source files under a pytest run, with nothing but the standard library (``coverage`` is not
in the lock, and a measurement should not need it): ``sys.settrace`` / ``threading.settrace`` record the lines
executed in the files under the given prefixes; the executable lines are those the compiler attributes code to
(``co_lines`` of every code object, the docstring-only lines included as the compiler reports them).

    python hack/linecov.py operator/herder/controllers -- tests/unit -q

prints one line per file (executed/executable lines, percent) and the total per prefix. The figures are this
script's own (close to, not identical with, coverage.py's: it counts no branches and excludes nothing).
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any


def code_lines(code: types.CodeType) -> Iterator[int]:
    """Every line a code object (and the ones nested in it) has instructions on."""
    for _, _, line in code.co_lines():
        if line is not None and line > 0:
            yield line
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from code_lines(const)


def executable(path: str) -> set[int]:
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    return set(code_lines(code))


def sources(prefixes: list[str]) -> list[str]:
    out = []
    for given in prefixes:
        prefix = os.path.abspath(given)
        if os.path.isfile(prefix):
            out.append(prefix)
            continue
        for root, _, files in os.walk(prefix):
            out += [os.path.join(root, f) for f in files if f.endswith(".py")]
    return sorted(set(out))


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__)
        return 2
    split = argv.index("--")
    prefixes, pytest_args = argv[:split], argv[split + 1:]
    files = set(sources(prefixes))
    hits: dict[str, set[int]] = {f: set() for f in files}

    def local(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            hits[frame.f_code.co_filename].add(frame.f_lineno)
        return local

    def global_(frame: types.FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename in files:
            hits[frame.f_code.co_filename].add(frame.f_lineno)
            return local
        return None

    import pytest

    threading.settrace(global_)
    sys.settrace(global_)
    try:
        rc = pytest.main(pytest_args)
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    for prefix in prefixes:
        root = os.path.abspath(prefix)
        total_hit = total_all = 0
        for f in sorted(x for x in files if x == root or x.startswith(root + os.sep)):
            lines = executable(f)
            hit = len(hits[f] & lines)
            total_hit, total_all = total_hit + hit, total_all + len(lines)
            print(f"{os.path.relpath(f):70s} {hit:5d}/{len(lines):5d} {100 * hit / max(1, len(lines)):5.1f}%")
        print(f"{'TOTAL ' + prefix:70s} {total_hit:5d}/{total_all:5d} {100 * total_hit / max(1, total_all):5.1f}%")
    return int(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
