"""Validation of a large parquet source against a bare pandas read of the same file (not a test; no network).

    .venv/bin/python tests/bench/data/bench_validation.py [--rows 1000000] [--repeats 7] [--cpu N] [--profile]

The file (``--rows`` rows, 20 columns: 12 float, 4 int with bounds, 3 categorical, 1 bool; nulls in five
columns; seeded, so the same bytes every time) is generated once into ~/.cache/herder/bench-data (outside the
repository) and reused. Each measurement runs in a fresh Python process, the work timed after the imports, and
the child reports its own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

- ``pandas``: ``pandas.read_parquet(path)``, nothing else;
- ``validate``: ``herder validate``'s work -- ``run_validation`` on the ValidateRequest the Dataset controller
  builds (``resources.trainer_requests.validate_request`` from a Dataset spec whose schema declares the 20
  columns, with null, row-count and duplicate rules and 10 profile bins), i.e. read the bytes, sha256 them, parse,
  coerce to the declared types, check, profile, snapshot into a fresh directory, then write the result JSON.

The repeats alternate the two; the table shows medians, the ratio of the medians (target <= 1.5) and peak RSS.
``--profile`` runs the validation once more under cProfile and prints where the time goes.

Writes bench-results/data-validation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "herder" / "bench-data"
FORMAT_VERSION = 1  # bump when the generator changes, so a stale cached file is never measured
COLUMNS = 20
CATEGORIES = {"region": ["north", "south", "east", "west", "central"],
              "channel": ["web", "store", "phone", "partner"],
              "segment": [f"s{i:02d}" for i in range(12)]}
NULLABLE = ("f0", "f1", "f2", "f3", "segment")
NULL_FRACTION = 0.02


def data_path(rows: int) -> Path:
    return CACHE / f"validation-{rows}x{COLUMNS}-v{FORMAT_VERSION}.parquet"


def generate(rows: int) -> Path:
    """The benchmark's parquet file, written once (atomically) and reused."""
    path = data_path(rows)
    if path.exists():
        return path
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(20261203)
    cols: dict[str, Any] = {}
    for i in range(12):
        values = rng.normal(loc=i * 10.0, scale=1.0 + i, size=rows).round(3)
        if f"f{i}" in NULLABLE:
            values[rng.random(rows) < NULL_FRACTION] = np.nan
        cols[f"f{i}"] = values
    for i in range(4):
        cols[f"i{i}"] = rng.integers(0, 10 ** (i + 1), size=rows, dtype=np.int64)
    for name, cats in CATEGORIES.items():
        picked = np.asarray(cats, dtype=object)[rng.integers(0, len(cats), size=rows)]
        if name in NULLABLE:
            picked[rng.random(rows) < NULL_FRACTION] = None
        cols[name] = picked
    cols["active"] = rng.random(rows) < 0.3
    frame = pd.DataFrame(cols)
    assert len(frame.columns) == COLUMNS
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def dataset_spec(uri: str) -> dict[str, Any]:
    """A Dataset's spec (the CRD's vocabulary) declaring the file's 20 columns."""
    columns: list[dict[str, Any]] = []
    for i in range(12):
        columns.append({"name": f"f{i}", "type": "float", "nullable": f"f{i}" in NULLABLE})
    for i in range(4):
        columns.append({"name": f"i{i}", "type": "integer", "min": "0", "max": str(10 ** (i + 1))})
    for name, cats in CATEGORIES.items():
        columns.append({"name": name, "type": "categorical", "categories": cats, "nullable": name in NULLABLE})
    columns.append({"name": "active", "type": "boolean"})
    return {"source": {"uri": uri, "format": "parquet"},
            "schema": {"target": "active", "columns": columns},
            "validation": {"maxNullFraction": "0.05", "minRows": 1000, "maxDuplicateFraction": "0.01"},
            "profile": {"bins": 10}}


def validate_request_json(path: Path, out_dir: Path) -> str:
    """The request exactly as the Dataset controller builds it (uri, schema, rules, bins, output, snapshots)."""
    sys.path.insert(0, str(ROOT / "operator"))
    from herder.api.dataset import DatasetSpec
    from herder.resources.trainer_requests import validate_request

    spec = DatasetSpec.model_validate(dataset_spec(f"file://{path}"))
    return json.dumps(validate_request(spec, str(out_dir / "profile.json"), snapshot_dir=str(out_dir / "snapshots")))


# ------------------------------------------------------------------------------------------------ children
def _maxrss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_pandas(path: str) -> dict[str, Any]:
    import pandas as pd
    import pyarrow  # noqa: F401  (imported before the clock, as the validator's imports are)

    rss0 = _maxrss_mib()
    t0 = time.perf_counter()
    frame = pd.read_parquet(path)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(frame), "columns": len(frame.columns), "rss_after_imports_mib": rss0}


def child_validate(request_text: str) -> dict[str, Any]:
    import pyarrow  # noqa: F401

    from herder.training.requests import ValidateRequest
    from herder.training.validate import run_validation

    rss0 = _maxrss_mib()
    t0 = time.perf_counter()
    request = ValidateRequest.model_validate_json(request_text)
    result = run_validation(request, log=lambda line: None)
    assert request.output_path is not None
    Path(request.output_path).write_text(result.model_dump_json(by_alias=True, indent=2))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": result.rows, "columns": result.columns, "valid": result.valid,
            "problems": [p.message for p in result.problems], "rss_after_imports_mib": rss0}


def run_child(kind: str, arg: str, source: Path, cpu: int | None) -> dict[str, Any]:
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    proc = subprocess.run([sys.executable, __file__, "--child", kind, arg], capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONPATH": str(source)}, preexec_fn=pin)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def profile_once(request_text: str, top: int) -> None:
    """The validation under cProfile, in this process (after one warm-up import), by cumulative time."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT / "operator"))
    from herder.training.requests import ValidateRequest
    from herder.training.validate import run_validation

    request = ValidateRequest.model_validate_json(request_text)
    prof = cProfile.Profile()
    prof.enable()
    run_validation(request, log=lambda line: None)
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of one validation")
    ap.add_argument("--source", type=Path, default=ROOT / "operator",
                    help="directory holding the herder package to measure (default: this checkout's; give an "
                         "older checkout's operator/ for a before/after)")
    ap.add_argument("--cpu", type=int, help="pin both sides to this one CPU (as a pod with a 1-CPU limit); "
                                            "default: all CPUs, pyarrow's read and the profiles use threads")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "data-validation.json")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, arg = args.child
        result = child_pandas(arg) if kind == "pandas" else child_validate(arg)
        print(json.dumps({**result, "peak_rss_mib": _maxrss_mib()}))
        return 0

    t0 = time.monotonic()
    cached = data_path(args.rows).exists()
    path = generate(args.rows)
    print(f"herder from {args.source}", flush=True)
    print(f"data: {path} ({path.stat().st_size / 2**20:.1f} MiB, "
          f"{'cached' if cached else f'generated in {time.monotonic() - t0:.1f}s'})", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"pandas": [], "validate": []}
    for i in range(args.repeats):
        for kind in ("pandas", "validate") if i % 2 == 0 else ("validate", "pandas"):
            out = Path(tempfile.mkdtemp(prefix="herder-bench-validate-"))
            try:
                r = run_child(kind, str(path) if kind == "pandas" else validate_request_json(path, out), args.source,
                              args.cpu)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            runs[kind].append(r)
            print(f"  {i + 1}/{args.repeats} {kind:<8} {r['seconds']:.3f} s, peak RSS {r['peak_rss_mib']:.0f} MiB",
                  flush=True)
    checked = runs["validate"][0]
    if not checked["valid"] or checked["rows"] != args.rows:
        raise RuntimeError(f"the validation did not pass: {checked}")

    def med(kind: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[kind]))

    results = {kind: {"median_s": round(med(kind, "seconds"), 3), "min_s": round(min(r["seconds"] for r in rs), 3),
                      "max_s": round(max(r["seconds"] for r in rs), 3),
                      "peak_rss_mib": round(med(kind, "peak_rss_mib"), 1),
                      "rss_after_imports_mib": round(med(kind, "rss_after_imports_mib"), 1), "n": len(rs)}
               for kind, rs in runs.items()}
    ratio = results["validate"]["median_s"] / results["pandas"]["median_s"]
    rss_ratio = results["validate"]["peak_rss_mib"] / results["pandas"]["peak_rss_mib"]
    print()
    print(f"{args.rows:,} rows x {COLUMNS} columns parquet ({path.stat().st_size / 2**20:.1f} MiB), "
          f"{args.repeats} repeats, fresh process each, " + (f"CPU {args.cpu}" if args.cpu is not None else
                                                             f"{len(os.sched_getaffinity(0))} CPUs"))
    print(f"{'':<32} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13} {'after imports':>14}")
    for kind, label in (("pandas", "pandas.read_parquet"), ("validate", "herder validate (run_validation)")):
        r = results[kind]
        print(f"{label:<32} {r['median_s']:>9} {r['min_s']:>7} {r['max_s']:>7} {r['peak_rss_mib']:>13} "
              f"{r['rss_after_imports_mib']:>14}")
    print(f"{'ratio validate / pandas':<32} {ratio:>9.2f}x  (target <= 1.5x); peak RSS {rss_ratio:.2f}x")
    out_file = args.out
    out_file.parent.mkdir(exist_ok=True)
    out_file.write_text(json.dumps({"rows": args.rows, "columns": COLUMNS, "file_bytes": path.stat().st_size,
                                    "results": results, "ratio": round(ratio, 3), "rss_ratio": round(rss_ratio, 3),
                                    "source": str(args.source), "cpu": args.cpu, "runs": runs,
                                    "machine": f"{os.cpu_count()} cores", "at": time.time()}, indent=2))
    print(f"wrote {out_file}")
    if args.profile:
        out = Path(tempfile.mkdtemp(prefix="herder-bench-validate-"))
        try:
            profile_once(validate_request_json(path, out), 30)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
