"""The sampled payload log and the feedback labels, persisted to the store in rotated parquet parts.

Why parts in the store: a serving pod's disk dies with the pod, and production traffic is training data (a join
Job turns a window of these parts, predictions joined with feedback by request id, into a labeled Dataset
revision). Each pod writes its own parts, so replicas never contend for a file:

    <root>/<model>/v<version>/dt=YYYY-MM-DD/hour=HH/<pod>-<first record ms>-<seq>.parquet

Records are buffered in memory and written every ``flush_seconds`` (and when the buffer holds
``part_records``) by a worker thread, so the event loop never waits for the store; SIGTERM's drain calls
:meth:`PayloadLog.close`, which writes what is left. A SIGKILL loses at most the records of the last flush
interval. Both predictions and feedback go through the same buffer.

Bounded on both sides: at most ``max_buffer_records`` wait in memory (more are dropped and counted,
``memory_cap``), and a pod writes at most ``max_bytes_per_hour`` per hour: from half of that budget on, the
sample rate falls linearly to zero at the budget (dropped records counted as ``disk_cap``). A store that refuses
a write keeps the records for the next flush, within the memory cap (beyond it: ``store_error``).
``herder_payload_log_dropped_total{reason}`` exposes the drops.

Columns: ``kind`` (prediction | feedback), ``id`` (request id), ``ts`` (epoch seconds), ``model``, ``version``,
``protocol``, and JSON text for ``inputs``, ``outputs``, ``probabilities`` and ``labels`` (one value per row of
the request; the join reads them against the version's signature).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("herder.serving")
MiB = 1024 * 1024
JSON_COLUMNS = ("inputs", "outputs", "probabilities", "labels")
TEXT_COLUMNS = ("kind", "id", "model", "version", "protocol")


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def part_bytes(records: list[dict[str, Any]]) -> bytes:
    """One parquet part (zstd) holding *records*."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {name: pa.array([r.get(name) for r in records], pa.string()) for name in TEXT_COLUMNS}
    columns["ts"] = pa.array([float(r["ts"]) for r in records], pa.float64())
    for name in JSON_COLUMNS:
        columns[name] = pa.array([_json(r.get(name)) for r in records], pa.string())
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


@dataclass
class PayloadLog:
    """Buffered, sampled, capped writer of prediction and feedback records to parquet parts under *root*."""

    root: str
    sample_rate: float
    model: str = "model"
    version: str = "1"
    pod: str = field(default_factory=lambda: os.environ.get("POD_NAME") or os.uname().nodename)
    flush_seconds: float = 5.0
    part_records: int = 50_000
    max_buffer_records: int = 100_000
    max_bytes_per_hour: int = 256 * MiB
    storage_options: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    written: int = 0
    parts: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    _buffer: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards the buffer (the event loop appends, a flush takes it)."""
    _flushing: threading.Lock = field(default_factory=threading.Lock)
    """One flush at a time (the timer's and a full buffer's): part names and the hour's byte count stay exact."""
    _hour: int = -1
    """The hour (epoch seconds // 3600) that ``_hour_bytes`` counts."""
    _hour_bytes: int = 0
    _seq: int = 0
    _task: asyncio.Task[None] | None = None
    _last_error_log: float = 0.0

    # ---------------------------------------------------------------- event-loop side
    def open(self) -> None:
        """Start the periodic flush on the running loop (no loop: flushes happen on size and on close)."""
        with contextlib.suppress(RuntimeError):
            self._task = asyncio.get_running_loop().create_task(self._flush_periodically())

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await asyncio.to_thread(self.flush)

    def close(self) -> None:
        """Stop the timer and write everything still buffered (the SIGTERM path)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.flush()

    def _budget_factor(self) -> float:
        """1 until half the hour's byte budget is used, then falling linearly to 0 at the budget."""
        if self._hour != int(self.clock() // 3600):
            return 1.0
        used = self._hour_bytes / self.max_bytes_per_hour
        return 1.0 if used <= 0.5 else max(0.0, 2.0 * (1.0 - used))

    def sampled(self) -> bool:
        """Whether this request is logged: the configured rate, lowered near the hour's byte budget."""
        if self.sample_rate <= 0.0:
            return False
        if not (self.sample_rate >= 1.0 or self.rng.random() < self.sample_rate):
            return False
        factor = self._budget_factor()
        if factor >= 1.0 or self.rng.random() < factor:
            return True
        self.dropped["disk_cap"] += 1
        return False

    def write(self, record: dict[str, Any]) -> None:
        """Buffer one record (stamped with the time); flushed in a worker thread, never on the event loop."""
        record.setdefault("ts", self.clock())
        record.setdefault("model", self.model)
        record.setdefault("version", self.version)
        with self._lock:
            if len(self._buffer) >= self.max_buffer_records:
                self.dropped["memory_cap"] += 1
                return
            self._buffer.append(record)
            full = len(self._buffer) >= self.part_records
        if full and self._task is not None:
            asyncio.get_running_loop().run_in_executor(None, self.flush)

    # ---------------------------------------------------------------- writer side (any thread)
    @staticmethod
    def _hour_dir(hour: int) -> str:
        return time.strftime("dt=%Y-%m-%d/hour=%H", time.gmtime(hour * 3600))

    def flush(self) -> int:
        """Write the buffered records as parts (one per hour they fall in); returns how many were written."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            records, self._buffer = self._buffer, []
        if not records:
            return 0
        by_hour: dict[int, list[dict[str, Any]]] = {}
        for record in records:
            by_hour.setdefault(int(float(record["ts"]) // 3600), []).append(record)
        done = 0
        for hour, batch in sorted(by_hour.items()):
            try:
                data = part_bytes(batch)
                self._put(hour, batch, data)
            except Exception as exc:  # the store failing must not fail requests: keep the records, count
                self._requeue(batch, exc)
                continue
            if hour != self._hour:
                self._hour, self._hour_bytes = hour, 0
            self._hour_bytes += len(data)
            self.written += len(batch)
            self.parts += 1
            done += len(batch)
        return done

    def _put(self, hour: int, batch: list[dict[str, Any]], data: bytes) -> None:
        self._seq += 1
        name = f"{self.pod}-{int(float(batch[0]['ts']) * 1000)}-{self._seq:06d}.parquet"
        uri = "/".join([self.root.rstrip("/"), self.model, f"v{self.version}", self._hour_dir(hour), name])
        if "://" not in uri or uri.startswith("file://"):
            path = Path(uri.removeprefix("file://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)  # readers never see half a part
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return
        import fsspec

        fs, key = fsspec.core.url_to_fs(uri, **self.storage_options)
        with fs.open(key, "wb") as handle:  # an S3 PUT is atomic
            handle.write(data)

    def _requeue(self, batch: list[dict[str, Any]], exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 60:
            self._last_error_log = now
            log.warning("payload log: writing %d records under %s failed (%s: %s); kept for the next flush",
                        len(batch), self.root, type(exc).__name__, exc)
        with self._lock:
            room = max(0, self.max_buffer_records - len(self._buffer))
            self._buffer[:0] = batch[:room]
            if len(batch) > room:
                self.dropped["store_error"] += len(batch) - room
