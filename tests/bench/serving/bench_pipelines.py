"""What users get served: the Pipelines Herder trains, by herder (ONNX and skops), MLServer 1.7.1 and KServe 0.21.

Not a test: prints a table and writes bench-results/serving-pipelines.json. Three Pipelines are trained by
`herder train` itself (the artifacts users get):

- iris: the example's FeatureSet (median impute + standard scale) and LogisticRegression(C=1, max_iter=500);
- rf: RandomForestClassifier(100 trees) on 20 generated numeric features (default groups: passthrough);
- hgb: HistGradientBoostingClassifier behind median impute + standard scale of 10 numeric features (with missing
  values) and most-frequent impute + one-hot of 2 string features.

MLServer (mlserver-sklearn) and KServe (sklearnserver's predict path, kserve_sklearn_model.py) load the SAME
fitted Pipeline: the skops artifact is loaded here and written with joblib, as those servers expect. Next to
them, the bare LogisticRegression of bench_serving.py as the ceiling, and the iris Pipeline with the same
array-row body as the bare model (like for like). Every server runs on CPU 0 (`taskset -c 0`), wrk (1 thread,
32 connections, 1-row bodies) on CPU 1, everything on 127.0.0.1, each run bounded in time. Rows are interleaved
per Pipeline, so background load hits all servers of a Pipeline alike; read ratios, not absolutes.

Bodies (named columns, what users of these Pipelines send): herder gets V1 ``{"instances": [{column: value}]}``;
KServe V1 ``{"instances": [{column: [value]}]}`` (its DataFrame form); MLServer, which has no V1, gets V2 with
one input per column and ``content_type: pd``.

    .venv/bin/python -m tests.bench.serving.bench_pipelines            # ~8 minutes (make bench-pipelines)
    .venv/bin/python -m tests.bench.serving.bench_pipelines --quick    # ~4 minutes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.bench.serving.bench_serving import (
    HERE,
    HOST,
    KSERVE_PACKAGES,
    KSERVE_VENV,
    MLSERVER_PACKAGES,
    MLSERVER_VENV,
    REPO,
    SERVER_CPU,
    check_once,
    ensure_models,
    ensure_venv,
    free_port,
    launch,
    mlserver_command,
    run_wrk,
    sklearn_version,
    stop_server,
    tree_rss_mib,
)
from tests.unit.training.conftest import IRIS, iris_request

RF_FEATURES = 20
HGB_NUMERIC = 10
BATCH = ["--max-batch-size", "32", "--max-batch-wait-ms", "2"]


@dataclass(frozen=True)
class Trained:
    """One Pipeline as herder trained it, plus the joblib copy for the other servers and a 1-row example."""

    name: str
    out: Path
    row: dict[str, Any]

    @property
    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / "metadata.json").read_text())
        return data


@dataclass(frozen=True)
class Run:
    """One server variant for one Pipeline."""

    label: str
    kind: str  # herder | mlserver | kserve
    args: list[str] = field(default_factory=list)
    batching: bool = False


def _train(request: dict[str, Any], root: Path) -> Path:
    from herder.training.cli import train_main

    path = root / f"{request['modelName']}-request.json"
    path.write_text(json.dumps(request))
    if train_main(["--request-file", str(path)]) != 0:
        raise RuntimeError(f"training failed for {request['modelName']}")
    return Path(request["outputDir"])


def _csv_request(name: str, frame: pd.DataFrame, columns: list[dict[str, Any]], target: str, estimator: dict[str, Any],
                 root: Path, features: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = root / f"{name}.csv"
    frame.to_csv(data, index=False)
    request: dict[str, Any] = {
        "modelName": name, "version": 1, "task": "classification",
        "dataset": {"uri": str(data), "format": "csv", "expectedDigest": hashlib.sha256(data.read_bytes()).hexdigest()},
        "schema": {"columns": columns, "target": target}, "estimator": estimator,
        "evaluation": {"testFraction": "0.2", "folds": 0, "metrics": ["accuracy"], "seed": 0},
        "outputDir": str(root / f"{name}-out"),
    }
    if features is not None:
        request["features"] = features
    return request


def rf_request(root: Path) -> dict[str, Any]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=5000, n_features=RF_FEATURES, n_informative=10, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(RF_FEATURES)])
    frame["label"] = y
    columns = [{"name": f"f{i}", "type": "float"} for i in range(RF_FEATURES)] + [{"name": "label", "type": "int"}]
    return _csv_request("rf", frame, columns, "label", {"className": "sklearn.ensemble.RandomForestClassifier",
                                                        "params": {"n_estimators": 100}}, root)


def hgb_request(root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    rows = 5000
    frame = pd.DataFrame({f"n{i}": rng.normal(size=rows) for i in range(HGB_NUMERIC)})
    for i in range(0, HGB_NUMERIC, 3):
        frame.loc[rng.random(rows) < 0.05, f"n{i}"] = np.nan
    frame["plan"] = rng.choice(["basic", "pro", "team", "enterprise"], rows)
    frame["region"] = rng.choice(["eu", "us", "apac"], rows)
    score = frame["n0"].fillna(0) + frame["n1"] - frame["n2"] + (frame["plan"] == "pro") + 0.5 * rng.normal(size=rows)
    frame["churned"] = (score > 0.5).astype(int)
    numeric = [f"n{i}" for i in range(HGB_NUMERIC)]
    columns = [{"name": n, "type": "float", "nullable": True} for n in numeric] + [
        {"name": "plan", "type": "string"}, {"name": "region", "type": "string"}, {"name": "churned", "type": "int"}]
    features = [
        {"name": "numeric", "columns": numeric,
         "transforms": {"impute": {"strategy": "median"}, "scale": {"method": "standard"}}},
        {"name": "categorical", "columns": ["plan", "region"],
         "transforms": {"impute": {"strategy": "most_frequent"}, "oneHot": {"handleUnknown": "ignore"}}},
    ]
    return _csv_request("hgb", frame, columns, "churned",
                        {"className": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {}}, root, features)


def write_joblib(trained: Trained) -> Path:
    """The same fitted Pipeline for MLServer and KServe (they load joblib)."""
    import joblib
    import skops.io as sio

    meta = trained.metadata
    pipeline = sio.load(trained.out / "model.skops", trusted=meta["lineage"].get("trustedTypes") or None)
    path = trained.out / "model.joblib"
    joblib.dump(pipeline, path)
    return path


def herder_args(trained: Trained, fmt: str) -> list[str]:
    meta = trained.metadata
    common = ["--metadata-uri", str(trained.out / "metadata.json")]
    if fmt == "onnx":
        if not meta.get("onnx"):
            raise RuntimeError(f"{trained.name}: no ONNX twin: {meta.get('onnx_failure')}")
        return ["--model-uri", str(trained.out / meta["onnx"]["file"]), "--sha256", meta["onnx"]["sha256"],
                "--format", "onnx", *common]
    trusted = [a for t in meta["lineage"].get("trustedTypes") or [] for a in ("--trusted-type", t)]
    return ["--model-uri", str(trained.out / "model.skops"), "--sha256", meta["sha256"], *trusted, *common]


def start(run: Run, model: str, joblib_path: Path | None, workdir: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    if run.kind == "herder":
        cmd = [str(REPO / ".venv" / "bin" / "herder"), "serve", "--host", HOST, "--port", str(port),
               "--cache-dir", str(workdir / "cache"), "--drain-seconds", "0", "--log-level", "warning",
               "--model-name", model, *run.args]
        ready_path = "/v2/health/ready"
    elif run.kind == "mlserver":
        cmd = mlserver_command(workdir, model, str(joblib_path), port, run.batching)
        ready_path = f"/v2/models/{model}/ready"
    else:
        cmd = [str(KSERVE_VENV / "bin" / "python"), str(HERE / "kserve_sklearn_model.py"), "--model_name", model,
               "--model_path", str(joblib_path), "--http_port", str(port)]
        ready_path = f"/v2/models/{model}/ready"
    process, ready = launch(cmd, workdir, f"http://{HOST}:{port}{ready_path}")
    return process, port, ready


def _v2_datatype(value: Any) -> str:
    return "BYTES" if isinstance(value, str) else "FP64"


def request_for(run: Run, model: str, row: dict[str, Any], *, array_rows: bool = False) -> tuple[str, dict[str, Any]]:
    if run.kind == "mlserver":
        body = {"parameters": {"content_type": "pd"},
                "inputs": [{"name": k, "shape": [1], "datatype": _v2_datatype(v), "data": [v]} for k, v in row.items()]}
        return f"/v2/models/{model}/infer", body
    if run.kind == "kserve":  # KServe builds a DataFrame per instance from {column: [values]}
        return f"/v1/models/{model}:predict", {"instances": [{k: [v] for k, v in row.items()}]}
    instances = [list(row.values())] if array_rows else [row]
    return f"/v1/models/{model}:predict", {"instances": instances}


def measure(pipeline: str, run: Run, model: str, row: dict[str, Any], joblib_path: Path | None, root: Path,
            args: argparse.Namespace, *, array_rows: bool = False) -> dict[str, Any]:
    process, port, ready = start(run, model, joblib_path, root / f"{pipeline}-{run.label}".replace(" ", "_"))
    try:
        path, body = request_for(run, model, row, array_rows=array_rows)
        url = f"http://{HOST}:{port}{path}"
        check_once(url, body)
        rss_loaded = tree_rss_mib(process.pid)
        run_wrk(url, body, args.warmup, args.connections, root)
        load = run_wrk(url, body, args.duration, args.connections, root)
        rss = tree_rss_mib(process.pid)
    finally:
        stop_server(process)
    result = {"pipeline": pipeline, "server": run.label, "rps": round(load.rps), "p50_ms": load.p50_ms,
              "p99_ms": load.p99_ms, "non_2xx": load.non_2xx + load.socket_errors,
              "rss_mib_loaded": round(rss_loaded, 1),
              "rss_mib_after_load": round(rss, 1), "ready_seconds": round(ready, 3)}
    print(f"  {pipeline:<6} {run.label:<34} {result['rps']:>7} req/s  p50 {load.p50_ms:>8.2f} ms  "
          f"p99 {load.p99_ms:>8.2f} ms  rss {rss:5.0f} MiB  ready {ready:5.2f} s  non-2xx {result['non_2xx']}",
          flush=True)
    return result


def median_row(same: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per server from several rounds: medians of the figures, sums of the failures."""
    out = dict(same[0])
    for key in ("rps", "p50_ms", "p99_ms", "rss_mib_after_load", "ready_seconds"):
        out[key] = statistics.median(r[key] for r in same)
    out["non_2xx"] = sum(r["non_2xx"] for r in same)
    out["rounds"] = len(same)
    return out


def plan(have_mlserver: bool, have_kserve: bool) -> list[Run]:
    runs = [Run("herder ONNX", "herder", ["onnx"]), Run("herder skops", "herder", ["skops"])]
    if have_mlserver:
        runs.append(Run("mlserver", "mlserver"))
    if have_kserve:
        runs.append(Run("kserve", "kserve"))
    runs.append(Run("herder ONNX batched", "herder", ["onnx", *BATCH], batching=True))
    if have_mlserver:
        runs.append(Run("mlserver adaptive batching", "mlserver", batching=True))
    return runs


def _find(rows: list[dict[str, Any]], pipeline: str, server: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["pipeline"] == pipeline and r["server"] == server), None)


def evaluate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it was met."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        out.append({"target": name, "value": None if value is None else round(value, 3), "goal": goal, "met": ok})

    def rps(pipeline: str, server: str) -> float | None:
        row = _find(rows, pipeline, server)
        return None if row is None else float(row["rps"])

    iris = rps("iris", "herder ONNX")
    add("iris ONNX req/s, 1 row unbatched", iris, ">= 5000", None if iris is None else iris >= 5000)
    like = _find(rows, "iris", "herder ONNX, array rows")
    share = statistics.median(like["ratio_to_bare_per_round"]) if like else None
    add("iris ONNX / bare LR (same body, median of rounds)", share, ">= 0.70", None if share is None else share >= 0.70)
    forest = rps("rf", "herder ONNX")
    add("rf ONNX req/s, 1 row unbatched", forest, ">= 2000", None if forest is None else forest >= 2000)
    for pipeline in ("iris", "rf", "hgb"):
        for other, ours in (("mlserver", "herder ONNX"), ("kserve", "herder ONNX"),
                            ("mlserver adaptive batching", "herder ONNX batched")):
            a, b = _find(rows, pipeline, ours), _find(rows, pipeline, other)
            if a is None or b is None:
                continue
            ratio = a["rps"] / max(1, b["rps"])
            add(f"{pipeline}: {ours} vs {other}", ratio, ">= 10x", ratio >= 10)
            add(f"{pipeline}: {ours} p99 / {other} p99", a["p99_ms"] / b["p99_ms"], "<= 1.0",
                a["p99_ms"] <= b["p99_ms"])
    onnx_rows = [r for r in rows if r["server"].startswith("herder ONNX")]
    if onnx_rows:
        rss = max(r["rss_mib_after_load"] for r in onnx_rows if r["pipeline"] == "iris")
        add("herder RSS with one ONNX model (iris, MiB)", rss, "<= 90", rss <= 90)
        ready = max(r["ready_seconds"] for r in onnx_rows)
        add("herder ONNX ready after start (s, max)", ready, "<= 1.0", ready <= 1.0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 s runs after 1 s warm-up")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pair-rounds", type=int, default=5,
                        help="alternating runs of the bare LR and the iris ONNX Pipeline (same body) for their ratio")
    parser.add_argument("--skip-mlserver", action="store_true")
    parser.add_argument("--skip-kserve", action="store_true")
    parser.add_argument("--out", default=str(REPO / "bench-results" / "serving-pipelines.json"))
    args = parser.parse_args()
    args.duration, args.warmup = (4.0, 1.0) if args.quick else (10.0, 2.0)
    if shutil.which("wrk") is None:
        print("wrk not found: install it with `apt-get update && apt-get install -y wrk`", file=sys.stderr)
        return 2
    have_mlserver, have_kserve = not args.skip_mlserver, not args.skip_kserve
    if have_mlserver:
        ensure_venv(MLSERVER_VENV, MLSERVER_PACKAGES)
    if have_kserve:
        ensure_venv(KSERVE_VENV, KSERVE_PACKAGES)
    bare = ensure_models()["lr"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="herder-bench-pipelines-") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(1)
        pipelines = [
            Trained("iris", _train(iris_request(IRIS, root / "iris-out"), root),
                    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}),
            Trained("rf", _train(rf_request(root), root),
                    {f"f{i}": round(0.1 * (i + 1), 3) for i in range(RF_FEATURES)}),
            Trained("hgb", _train(hgb_request(root), root),
                    {**{f"n{i}": round(float(rng.normal()), 3) for i in range(HGB_NUMERIC)}, "plan": "pro",
                     "region": "eu"}),
        ]
        bare_run = Run("herder bare LR, array rows", "herder",
                       ["--model-uri", bare["skops"], "--sha256", bare["sha256"], "--metadata-uri", bare["metadata"]])
        iris = pipelines[0]
        iris_run = Run("herder ONNX, array rows", "herder", herder_args(iris, "onnx"))
        bare_row = {f"f{i}": round(0.1 * (i + 1), 3) for i in range(20)}
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for index in range(args.pair_rounds):  # alternate the order: background load hits both alike
            first = index % 2 == 0
            a = measure("bare", bare_run, "lr", bare_row, None, root, args, array_rows=True) if first else None
            b = measure("iris", iris_run, "iris", iris.row, None, root, args, array_rows=True)
            a = a or measure("bare", bare_run, "lr", bare_row, None, root, args, array_rows=True)
            pairs.append((a, b))
        rows.extend(median_row([p[k] for p in pairs]) for k in (0, 1))
        ratios = [b["rps"] / a["rps"] for a, b in pairs]
        rows[-1]["ratio_to_bare_per_round"] = [round(r, 3) for r in ratios]
        for trained in pipelines:
            joblib_path = write_joblib(trained)
            for variant in plan(have_mlserver, have_kserve):
                run = variant
                if variant.kind == "herder":
                    fmt, *extra = variant.args
                    run = Run(variant.label, "herder", [*herder_args(trained, fmt), *extra], variant.batching)
                rows.append(measure(trained.name, run, trained.name, trained.row, joblib_path, root, args))
    targets = evaluate(rows)
    print()
    print(f"{'pipeline':<8} {'server':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>9} {'RSS MiB':>8} {'ready s':>8}")
    for r in rows:
        print(f"{r['pipeline']:<8} {r['server']:<34} {r['rps']:>8} {r['p50_ms']:>8.2f} {r['p99_ms']:>9.2f} "
              f"{r['rss_mib_after_load']:>8.0f} {r['ready_seconds']:>8.2f}")
    print()
    for t in targets:
        mark = {True: "MET", False: "MISSED", None: "n/a"}[t["met"]]
        print(f"{t['target']:<52} {t['value']!s:>10}  goal {t['goal']:<8} {mark}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "serving-pipelines", "command": " ".join(["python -m tests.bench.serving.bench_pipelines",
                                                               *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                     "server_cpu": SERVER_CPU, "scikit_learn": sklearn_version()},
        "rows": rows, "targets": targets}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
