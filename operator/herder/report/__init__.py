"""``herder report MODEL``: an HTML report of one Model -- its versions and their offline metrics over time, drift
per feature, and the timeline of retrains, promotions and rollbacks -- written as ``index.html`` plus PNGs.

A pure part turns the objects into files (:mod:`herder.report.data`, :mod:`herder.report.figures`,
:mod:`herder.report.page`, :mod:`herder.report.render`), so it is tested without a cluster; a thin part reads the
objects through the Kubernetes API (:mod:`herder.report.fetch`). matplotlib (the ``report`` extra) is imported
only when a report is rendered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="herder report",
        description="Write an HTML report of a Model: its versions and their offline metrics over time, drift per "
                    "feature, and the timeline of retrains, promotions and rollbacks (index.html plus PNGs).")
    ap.add_argument("model", metavar="MODEL", help="name of the Model")
    ap.add_argument("-n", "--namespace",
                    help="namespace of the Model (default: the kubeconfig context's, else default)")
    ap.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, then $KUBECONFIG or ~/.kube/config)")
    ap.add_argument("--output", "-o", type=Path, default=None,
                    help="directory to write index.html and the PNGs to (default: ./report-MODEL)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from herder.report.fetch import ReportError, default_namespace, fetch

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("herder report: matplotlib is not installed; install it with: pip install 'herder[report]'",
              file=sys.stderr)
        return 2
    from herder.report.data import report_data
    from herder.report.render import render, write

    try:
        objects = fetch(args.model, args.namespace or default_namespace(args.kubeconfig), args.kubeconfig)
    except ReportError as e:
        print(f"herder report: {e}", file=sys.stderr)
        return 1
    out_dir: Path = args.output or Path(f"report-{args.model}")
    paths = write(render(report_data(objects.model, objects.versions, objects.deployments,
                                           datasets=objects.datasets)), out_dir)
    print(f"wrote {paths[0]} ({len(paths) - 1} images)")
    return 0
