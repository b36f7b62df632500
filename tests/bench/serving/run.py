"""`make bench-serving` entry point: runs bench_serving.py with the same arguments."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serving import main

if __name__ == "__main__":
    raise SystemExit(main())
