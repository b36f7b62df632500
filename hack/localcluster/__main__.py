"""``python -m localcluster up|down|status|env`` (run with PYTHONPATH=hack; the Makefile does)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .cluster import ClusterState, LocalCluster, stop_run_dir


def main() -> int:
    ap = argparse.ArgumentParser(prog="localcluster")
    ap.add_argument("command", choices=["up", "down", "status", "env"])
    ap.add_argument("--run-dir", default=os.environ.get("HERDER_RUN_DIR", ".run/cluster"))
    ap.add_argument("--no-kwok", action="store_true")
    ap.add_argument("--no-node-agent", action="store_true")
    args = ap.parse_args()
    run_dir = Path(args.run_dir).resolve()
    if args.command == "up":
        t0 = time.monotonic()
        cluster = LocalCluster(run_dir, kwok=not args.no_kwok, node_agent=not args.no_node_agent)
        state = cluster.start()
        print(f"local cluster up in {time.monotonic() - t0:.1f}s: {state.server}", file=sys.stderr)
        print(f"export KUBECONFIG={state.kubeconfig}")
        return 0
    if args.command == "down":
        stop_run_dir(run_dir)
        print("local cluster stopped", file=sys.stderr)
        return 0
    if not (run_dir / "state.json").exists():
        print(f"no cluster in {run_dir}", file=sys.stderr)
        return 1
    state = ClusterState.load(run_dir)
    if args.command == "env":
        print(f"export KUBECONFIG={state.kubeconfig}")
        print(f"export PATH={state.bin_dir}:$PATH")
        return 0
    for p in state.processes:
        print(f"{p.name:<24} pid {p.pid:<8} log {p.log}")
    print(f"server {state.server}\nkubeconfig {state.kubeconfig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
