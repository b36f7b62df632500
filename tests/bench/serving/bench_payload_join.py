"""The payload join's throughput: 1,000,000 logged requests (plus a label for 60% of them) written as parts by the
server's own PayloadLog, then joined. Not a test: prints a table and writes bench-results/payload-join.json.

    .venv/bin/python -m tests.bench.serving.bench_payload_join            # 1,000,000 requests
    .venv/bin/python -m tests.bench.serving.bench_payload_join --requests 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import fsspec

from herder.serving.payload_log import PayloadLog
from herder.storage.metadata_reader import FeatureSpec
from herder.training.payload_join import join

REPO = Path(__file__).resolve().parents[3]
FEATURES = [FeatureSpec(name=f"f{i}", dtype="float64") for i in range(4)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "payload-join.json"))
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="herder-bench-join-") as tmp:
        log = PayloadLog(tmp, sample_rate=1.0, model="iris", version="1", pod="bench", clock=lambda: now,
                         max_buffer_records=args.requests * 2, max_bytes_per_hour=1 << 40)
        started = time.perf_counter()
        for i in range(args.requests):
            log.write({"kind": "prediction", "id": f"r{i}", "inputs": [[5.1, 3.5, 1.4, 0.2]],
                       "outputs": ["setosa"], "protocol": "v1"})
            if i % 5 < 3:
                log.write({"kind": "feedback", "id": f"r{i}", "labels": ["setosa"]})
            if (i + 1) % 50_000 == 0:
                log.flush()
        log.flush()
        written = time.perf_counter() - started
        fs = fsspec.filesystem("file")
        paths = fs.glob(f"{tmp}/iris/v*/dt=*/hour=*/*.parquet")
        size = sum(Path(p).stat().st_size for p in paths)
        started = time.perf_counter()
        rows, stats = join(paths, fs, start=now - 1, end=now + 1, features=FEATURES, target="species",
                           classes=["setosa", "versicolor", "virginica"])
        joined = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"benchmark": "payload-join", "requests": args.requests, "parts": len(paths),
              "part_bytes": size, "write_seconds": round(written, 2), "join_seconds": round(joined, 2),
              "join_requests_per_second": round(args.requests / joined), "rows": stats.rows,
              "label_coverage": round(stats.label_coverage, 4), "peak_rss_mib": round(peak)}
    for key, value in result.items():
        print(f"  {key:<26} {value}")
    assert len(rows) == stats.rows
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
