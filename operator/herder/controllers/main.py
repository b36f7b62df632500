"""``herder operator``: run the kopf operator with Herder's controllers."""

from __future__ import annotations

import argparse
import logging
import os

import kopf

from herder.controllers.config import OperatorConfig
from herder.controllers.context import Clients, OperatorContext
from herder.controllers.metrics import OperatorMetrics
from herder.controllers.registry import build_registry, configure


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="herder operator", description=__doc__)
    ap.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, then $KUBECONFIG)")
    ap.add_argument("--namespace", "-n", action="append", default=[],
                    help="watch only this namespace (repeatable); default: cluster-wide")
    ap.add_argument("--resync-seconds", type=float)
    ap.add_argument("--max-workers", type=int)
    ap.add_argument("--herder-image")
    ap.add_argument("--storage-uri")
    ap.add_argument("--metrics-address")
    ap.add_argument("--metrics-port", type=int)
    ap.add_argument("--prometheus-url",
                    help="Prometheus HTTP API base URL for analysis checks with provider Prometheus "
                         "(default: $HERDER_PROMETHEUS_URL)")
    ap.add_argument("--liveness", default="http://127.0.0.1:8082/healthz",
                    help="kopf liveness endpoint URL (the chart sets http://0.0.0.0:8082/healthz)")
    ap.add_argument("--peering", help="enable kopf peering under this name (default: standalone)")
    ap.add_argument("--verbose", "-v", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # kopf logs every handler success at INFO; our own lines say what changed
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it too
    cfg = OperatorConfig.from_env(
        namespaces=tuple(args.namespace) or None, kubeconfig=args.kubeconfig, resync_seconds=args.resync_seconds,
        max_workers=args.max_workers, herder_image=args.herder_image, storage_uri=args.storage_uri,
        metrics_address=args.metrics_address, metrics_port=args.metrics_port, liveness_endpoint=args.liveness,
        prometheus_url=args.prometheus_url,
        standalone=args.peering is None, peering_name=args.peering,
    )
    from herder.controllers.kinds import all_controllers

    ctx = OperatorContext(config=cfg, clients=Clients(cfg), metrics=OperatorMetrics())
    settings = configure(kopf.OperatorSettings(), ctx)
    registry = build_registry(ctx, all_controllers())
    kopf.run(
        registry=registry, settings=settings, memo=kopf.Memo(herder=ctx),
        standalone=cfg.standalone, peering_name=cfg.peering_name,
        liveness_endpoint=cfg.liveness_endpoint,
        clusterwide=not cfg.namespaces, namespaces=cfg.namespaces,
    )
    return 0
