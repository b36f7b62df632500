"""``herder crds generate [--out-dir DIR]`` and ``herder crds check [--out-dir DIR]``.

generate writes ``<plural>.herder.dev.yaml`` for every kind into ``crds/`` and ``charts/herder/crds/`` (or only
into the given directories); check exits 1 with a diff summary when the committed files drift from the models.
Paths are relative to the repository root (found from the current directory upwards).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from herder.crdgen.docs import DOC_PATH, render_api_docs
from herder.crdgen.render import OUTPUT_DIRS, drift, rendered, write


def repo_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding pyproject.toml (else ``start``)."""
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return start


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="herder crds", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name, help_ in (("generate", "write the CRD YAML files"), ("check", "fail when committed CRDs drift")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--out-dir", action="append", type=Path, default=None,
                       help="directory to write/check (repeatable; default: crds/ and charts/herder/crds/)")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    root = repo_root(Path.cwd())
    dirs = args.out_dir or [root / d for d in OUTPUT_DIRS]
    files = rendered()
    docs = root / DOC_PATH
    if args.command == "generate":
        for d in dirs:
            for path in write(d, files):
                print(path)
        if not args.out_dir:
            docs.parent.mkdir(parents=True, exist_ok=True)
            docs.write_text(render_api_docs())
            print(docs)
        return 0
    problems = [p for d in dirs for p in drift(d, files)]
    if not args.out_dir and (not docs.exists() or docs.read_text() != render_api_docs()):
        problems.append(f"{docs}: the API reference is out of date")
    if problems:
        print("CRDs drift from operator/herder/api (run `herder crds generate`):", file=sys.stderr)
        for p in problems:
            print(f"- {p}", file=sys.stderr)
        return 1
    print(f"CRDs up to date ({len(files)} kinds in {len(dirs)} directories)")
    return 0
