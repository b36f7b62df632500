"""Training benchmark: `herder train` wall time against a bare scikit-learn script doing the same fit.

Not a test: it prints a table and writes bench-results/training.json. Data: 100,000 rows x 20 float features
(``make_classification``, seed 0) as CSV. Both sides run as fresh processes (interpreter start-up and imports
included), pinned to the same CPU with one BLAS/OpenMP thread, interleaved (trainer, bare, trainer, bare...)
so background load hits both alike; the figure is the median over the repeats. The trainer does everything a
TrainingJob does -- sha256 of the bytes against the pin, schema validation, profile and drift bins, holdout
metrics, reproducible skops artifact, metadata.json, termination message -- with CV off (folds 0) so the fit
itself is the same single fit the bare script does. Target: trainer <= 1.15x bare.

    .venv/bin/python tests/bench/training/bench_training.py             # 3 estimators x 3 repeats (~3 min)
    .venv/bin/python tests/bench/training/bench_training.py --quick     # 1 repeat
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
ROWS, FEATURES = 100_000, 20
TARGET_RATIO = 1.15
ESTIMATORS: list[tuple[str, dict[str, Any]]] = [
    ("sklearn.linear_model.LogisticRegression", {"max_iter": 200}),
    ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 100, "random_state": 0}),
    ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 20, "max_depth": 12, "random_state": 0}),
]


def make_data(path: Path) -> str:
    """The synthetic CSV (written once per run); returns its sha256."""
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=ROWS, n_features=FEATURES, n_informative=10, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
    frame["label"] = y
    frame.to_csv(path, index=False)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trainer_request(data: Path, digest: str, out: Path, class_name: str, params: dict[str, Any]) -> dict[str, Any]:
    features = [f"f{i}" for i in range(FEATURES)]
    return {
        "modelName": "bench",
        "version": 1,
        "task": "classification",
        "dataset": {"uri": str(data), "format": "csv", "expectedDigest": digest},
        "schema": {
            "columns": [{"name": n, "type": "float"} for n in features] + [{"name": "label", "type": "int"}],
            "target": "label",
        },
        "features": [{"name": "num", "columns": features, "transforms": {"scale": {"method": "standard"}}}],
        "estimator": {"className": class_name, "params": {k: v for k, v in params.items() if k != "random_state"}},
        "evaluation": {"testFraction": "0.2", "folds": 0, "metrics": ["accuracy", "f1", "roc_auc"], "seed": 0},
        "outputDir": str(out),
    }


def pinned(command: list[str], cpu: str) -> list[str]:
    return ["taskset", "-c", cpu, *command] if shutil.which("taskset") else command


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(command: list[str], env: dict[str, str], cpu: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, stdout) of one fresh process."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(pinned(command, cpu), env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, _children_cpu() - cpu_before, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    parser.add_argument("--cpu", default="0", help="CPU to pin both sides to (taskset -c)")
    parser.add_argument("--out", default=str(REPO / "bench-results" / "training.json"))
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "operator"),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="herder-bench-training-") as tmp:
        work = Path(tmp)
        data = work / "data.csv"
        digest = make_data(data)
        print(f"data: {ROWS} x {FEATURES} floats + label, {data.stat().st_size / 1e6:.1f} MB CSV, sha256 {digest[:12]}")
        for class_name, params in ESTIMATORS:
            trainer_times: list[float] = []
            bare_times: list[float] = []
            trainer_cpu: list[float] = []
            bare_cpu: list[float] = []
            fit_times: list[float] = []
            metrics: dict[str, Any] = {}
            for i in range(repeats):
                out = work / f"out-{class_name.rsplit('.', 1)[1]}-{i}"
                request = work / "request.json"
                request.write_text(json.dumps(trainer_request(data, digest, out, class_name, params)))
                command = [sys.executable, "-m", "herder.cli", "train", "--request-file", str(request)]
                elapsed, cpu, stdout = run_timed([*command, "--termination-log", str(work / "term.log")], env, args.cpu)
                trainer_times.append(elapsed)
                trainer_cpu.append(cpu)
                if match := re.search(r"fitted on \d+ rows in ([0-9.]+)s", stdout):
                    fit_times.append(float(match.group(1)))
                metrics["trainer"] = json.loads((work / "term.log").read_text())["metrics"]
                bare = [sys.executable, str(HERE / "bare_sklearn.py"), str(data), str(work / "bare.skops")]
                elapsed, cpu, stdout = run_timed([*bare, class_name, json.dumps(params)], env, args.cpu)
                bare_times.append(elapsed)
                bare_cpu.append(cpu)
                metrics["bare"] = json.loads(stdout.strip().splitlines()[-1])
            trainer, bare_median = statistics.median(trainer_times), statistics.median(bare_times)
            paired = [t / b for t, b in zip(trainer_times, bare_times, strict=True)]
            same = all(abs(metrics["trainer"][k] - metrics["bare"][k]) < 1e-9 for k in metrics["bare"])
            rows.append(
                {
                    "estimator": class_name,
                    "params": params,
                    "trainer_s": round(trainer, 3),
                    "bare_s": round(bare_median, 3),
                    "ratio": round(trainer / bare_median, 3),
                    "ratio_min": round(min(trainer_times) / min(bare_times), 3),
                    "ratio_paired_median": round(statistics.median(paired), 3),
                    "trainer_cpu_s": round(statistics.median(trainer_cpu), 3),
                    "bare_cpu_s": round(statistics.median(bare_cpu), 3),
                    "ratio_cpu": round(statistics.median(trainer_cpu) / statistics.median(bare_cpu), 3),
                    "trainer_fit_s": round(statistics.median(fit_times), 3) if fit_times else None,
                    "trainer_runs_s": [round(t, 3) for t in trainer_times],
                    "bare_runs_s": [round(t, 3) for t in bare_times],
                    "same_holdout_metrics": same,
                    "holdout_accuracy": round(metrics["trainer"]["accuracy"], 5),
                }
            )
    width = max(len(r["estimator"]) for r in rows)
    header = f"{'estimator':<{width}}  {'trainer s':>9}  {'bare s':>7}  {'ratio':>6}  {'min-ratio':>9}  "
    print("\n" + header + f"{'cpu-ratio':>9}  {'fit s':>6}  same metrics")
    for r in rows:
        print(
            f"{r['estimator']:<{width}}  {r['trainer_s']:>9.2f}  {r['bare_s']:>7.2f}  {r['ratio']:>6.3f}  "
            f"{r['ratio_min']:>9.3f}  {r['ratio_cpu']:>9.3f}  {r['trainer_fit_s'] or 0:>6.2f}  "
            f"{r['same_holdout_metrics']}"
        )
    print("(trainer s / bare s: median wall over the repeats; ratio = their quotient; min-ratio = best run of each)")
    worst = max(r["ratio"] for r in rows)
    load = os.getloadavg()
    print(f"\nworst ratio {worst:.3f} (target <= {TARGET_RATIO})")
    result = {
        "benchmark": "training",
        "rows": ROWS,
        "features": FEATURES,
        "repeats": repeats,
        "pinned_cpu": args.cpu if shutil.which("taskset") else None,
        "threads": 1,
        "target_ratio": TARGET_RATIO,
        "worst_ratio": worst,
        "meets_target": worst <= TARGET_RATIO,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in load],
        "results": rows,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
