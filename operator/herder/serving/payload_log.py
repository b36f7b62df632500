"""Sampled payload logging to a JSONL file: inputs, outputs and request id, joinable with feedback records.

Writes happen on the event loop with a small buffered file and a flush per record: a sampled log is for
debugging and offline analysis, not an audit trail, and an unbuffered writer thread would cost more than it
saves at the sample rates this is meant for.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson


@dataclass
class PayloadLog:
    """Append-only JSONL sink with a sample rate; ``maybe_write`` is a no-op for unsampled requests."""

    path: Path
    sample_rate: float
    rng: random.Random = field(default_factory=random.Random)
    _handle: IO[bytes] | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def sampled(self) -> bool:
        return self.sample_rate >= 1.0 or self.rng.random() < self.sample_rate

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            return
        record.setdefault("ts", time.time())
        self._handle.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        self._handle.flush()
