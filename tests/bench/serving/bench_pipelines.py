"""What users get served: the Pipelines Herder trains, through skops (scikit-learn) and through their ONNX twin.

Not a test: prints a table and writes bench-results/serving-pipelines.json. The iris Pipeline is trained by
`herder train` itself with the example's FeatureSet (median impute + standard scale, LogisticRegression C=1,
max_iter 500); a 20-feature RandomForest(100) Pipeline is trained the same way on generated data. Next to them,
the bare LogisticRegression of bench_serving.py, as the ceiling. Same run, same machine: the server on CPU 0,
wrk (1 thread, 32 connections, 1-row V1 requests) on CPU 1, everything on 127.0.0.1, each run bounded in time.

    .venv/bin/python tests/bench/serving/bench_pipelines.py            # ~2 minutes
    .venv/bin/python tests/bench/serving/bench_pipelines.py --quick    # ~1 minute

MLServer 1.7.1 and KServe 0.21 serving these same Pipelines are not in this script yet (bench_serving.py runs
them on the bare models).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.bench.serving.bench_serving import (
    HOST,
    REPO,
    SERVER_CPU,
    _wait_ready,
    ensure_models,
    free_port,
    run_wrk,
    stop_server,
    tree_rss_mib,
)
from tests.unit.training.conftest import IRIS, iris_request

RF_FEATURES = 20


def _train(request: dict[str, Any], root: Path) -> Path:
    from herder.training.cli import train_main

    (root / "request.json").write_text(json.dumps(request))
    if train_main(["--request-file", str(root / "request.json")]) != 0:
        raise RuntimeError(f"training failed for {request['modelName']}")
    return Path(request["outputDir"])


def rf_request(root: Path) -> dict[str, Any]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=5000, n_features=RF_FEATURES, n_informative=10, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(RF_FEATURES)])
    frame["label"] = y
    data = root / "rf.csv"
    frame.to_csv(data, index=False)
    import hashlib

    columns = [{"name": f"f{i}", "type": "float"} for i in range(RF_FEATURES)] + [{"name": "label", "type": "int"}]
    return {"modelName": "rf", "version": 1, "task": "classification",
            "dataset": {"uri": str(data), "format": "csv",
                        "expectedDigest": hashlib.sha256(data.read_bytes()).hexdigest()},
            "schema": {"columns": columns, "target": "label"},
            "estimator": {"className": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 100}},
            "evaluation": {"testFraction": "0.2", "folds": 0, "metrics": ["accuracy"], "seed": 0},
            "outputDir": str(root / "rf-out")}


def serve(args: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    cmd = ["taskset", "-c", SERVER_CPU, str(REPO / ".venv" / "bin" / "herder"), "serve", "--host", HOST,
           "--port", str(port), "--cache-dir", str(workdir / "cache"), "--drain-seconds", "0",
           "--log-level", "warning", *args]
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    ready = _wait_ready(f"http://{HOST}:{port}/v2/health/ready", process, timeout=60)
    return process, port, ready


def artifact_args(out: Path, fmt: str) -> list[str]:
    meta = json.loads((out / "metadata.json").read_text())
    common = ["--metadata-uri", str(out / "metadata.json")]
    if fmt == "onnx":
        return ["--model-uri", str(out / meta["onnx"]["file"]), "--sha256", meta["onnx"]["sha256"],
                "--format", "onnx", *common]
    trusted = [a for t in meta["lineage"].get("trustedTypes") or [] for a in ("--trusted-type", t)]
    return ["--model-uri", str(out / "model.skops"), "--sha256", meta["sha256"], *trusted, *common]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 s runs after 1 s warm-up")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "serving-pipelines.json"))
    args = parser.parse_args()
    duration, warmup = (4.0, 1.0) if args.quick else (10.0, 2.0)
    if shutil.which("wrk") is None:
        print("wrk not found: install it with `apt-get update && apt-get install -y wrk`", file=sys.stderr)
        return 2
    bare = ensure_models()["lr"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="herder-bench-pipelines-") as tmp:
        root = Path(tmp)
        iris = _train(iris_request(IRIS, root / "iris-out"), root)
        rf = _train(rf_request(root), root)
        iris_row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
        rf_row = {f"f{i}": round(0.1 * (i + 1), 3) for i in range(RF_FEATURES)}
        plan = [
            ("bare LogisticRegression (numpy fast path)", "lr",
             ["--model-uri", bare["skops"], "--sha256", bare["sha256"], "--metadata-uri", bare["metadata"],
              "--model-name", "lr"], {"instances": [[round(0.1 * (i + 1), 3) for i in range(20)]]}),
            ("iris Pipeline, skops", "iris", artifact_args(iris, "skops"), {"instances": [iris_row]}),
            ("iris Pipeline, ONNX", "iris", artifact_args(iris, "onnx"), {"instances": [iris_row]}),
            ("RF-100 20-feature Pipeline, skops", "rf", artifact_args(rf, "skops"), {"instances": [rf_row]}),
            ("RF-100 20-feature Pipeline, ONNX", "rf", artifact_args(rf, "onnx"), {"instances": [rf_row]}),
        ]
        for label, model, server_args, body in plan:
            process, port, ready = serve(server_args, root / label.replace(" ", "_").replace(",", ""))
            try:
                url = f"http://{HOST}:{port}/v1/models/{model}:predict"
                run_wrk(url, body, warmup, args.connections, root)
                load = run_wrk(url, body, duration, args.connections, root)
                rss = tree_rss_mib(process.pid)
            finally:
                stop_server(process)
            row = {"server": label, "rps": round(load.rps), "p50_ms": load.p50_ms, "p99_ms": load.p99_ms,
                   "non_2xx": load.non_2xx + load.socket_errors, "rss_mib": round(rss, 1),
                   "ready_seconds": round(ready, 3)}
            rows.append(row)
            print(f"  {label:<44} {row['rps']:>7} req/s  p50 {load.p50_ms:>7.2f} ms  p99 {load.p99_ms:>7.2f} ms  "
                  f"rss {rss:5.0f} MiB  ready {ready:.2f} s  non-2xx {row['non_2xx']}", flush=True)
    by = {r["server"]: r for r in rows}
    ratios = {
        "iris ONNX / skops": by["iris Pipeline, ONNX"]["rps"] / max(1, by["iris Pipeline, skops"]["rps"]),
        "iris ONNX / bare LR": by["iris Pipeline, ONNX"]["rps"] / max(1, by[plan[0][0]]["rps"]),
        "RF ONNX / skops": by["RF-100 20-feature Pipeline, ONNX"]["rps"]
        / max(1, by["RF-100 20-feature Pipeline, skops"]["rps"]),
    }
    print()
    for name, value in ratios.items():
        print(f"  {name:<24} {value:6.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "serving-pipelines", "command": " ".join(["python", *sys.argv]),
                               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "settings": {"duration_s": duration, "warmup_s": warmup,
                                            "connections": args.connections, "server_cpu": SERVER_CPU},
                               "rows": rows, "ratios": {k: round(v, 3) for k, v in ratios.items()},
                               "numpy": np.__version__}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
