"""Adaptive micro-batching: concurrent requests share one model call.

A single worker coroutine takes the first queued request, adds whatever else is already queued (up to
``max_rows``), and only then -- if the recent arrival rate says another request is likely to arrive within
``max_wait`` -- waits for more. So an idle server adds no latency, and a busy one fills batches naturally
while the previous batch runs on the model thread. A batch that fails is retried request by request, so one
bad row cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from herder.serving.model import Prediction

PredictFn = Callable[[np.ndarray, bool], Prediction]


@dataclass
class _Item:
    matrix: np.ndarray
    want_proba: bool
    future: asyncio.Future[tuple[Prediction, int]]


@dataclass
class MicroBatcher:
    """Queue + worker; ``submit`` returns this request's slice of the batch prediction and the batch size."""

    predict: PredictFn
    executor: Executor
    max_rows: int
    max_wait_s: float
    _queue: asyncio.Queue[_Item] = field(default_factory=asyncio.Queue)
    _carry: _Item | None = None
    _task: asyncio.Task[None] | None = None
    _gap_ewma: float = 1.0
    _last_arrival: float = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="herder-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, matrix: np.ndarray, want_proba: bool) -> tuple[Prediction, int]:
        now = time.perf_counter()
        if self._last_arrival:
            self._gap_ewma = 0.8 * self._gap_ewma + 0.2 * (now - self._last_arrival)
        self._last_arrival = now
        future: asyncio.Future[tuple[Prediction, int]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(matrix, want_proba, future))
        return await future

    def should_wait(self) -> bool:
        """Wait for more rows only when another request is expected within the wait window."""
        return self.max_wait_s > 0 and self._gap_ewma < self.max_wait_s

    def _take(self, batch: list[_Item], rows: int) -> int:
        while rows < self.max_rows and not self._queue.empty():
            item = self._queue.get_nowait()
            if rows + item.matrix.shape[0] > self.max_rows:
                self._carry = item
                break
            batch.append(item)
            rows += item.matrix.shape[0]
        return rows

    async def _next(self) -> _Item:
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        return await self._queue.get()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next()
            batch = [first]
            rows = self._take(batch, first.matrix.shape[0])
            if rows < self.max_rows and self._carry is None and self.should_wait():
                deadline = loop.time() + self.max_wait_s
                while rows < self.max_rows and self._carry is None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                    if rows + item.matrix.shape[0] > self.max_rows:
                        self._carry = item
                        break
                    batch.append(item)
                    rows = self._take(batch, rows + item.matrix.shape[0])
            await self._dispatch(loop, batch)

    async def _dispatch(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]
        if not live:
            return
        want_proba = any(item.want_proba for item in live)
        matrix = live[0].matrix if len(live) == 1 else np.concatenate([item.matrix for item in live])
        try:
            prediction = await loop.run_in_executor(self.executor, self.predict, matrix, want_proba)
        except Exception as exc:
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
                return
            for item in live:  # isolate the failing request(s)
                await self._dispatch(loop, [item])
            return
        start = 0
        for item in live:
            stop = start + item.matrix.shape[0]
            if not item.future.done():
                item.future.set_result((prediction.rows(start, stop), matrix.shape[0]))
            start = stop
