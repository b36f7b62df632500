"""uvicorn with Herder's lifecycle: drain on SIGTERM, then stop accepting and finish in-flight requests.

On the first SIGTERM (or SIGINT) the app reports not-ready and asks every client to close its connection
after the reply (``Connection: close``), while still answering for ``drain_seconds`` -- long enough for
Kubernetes to take the pod out of its Service endpoints. Then uvicorn's graceful shutdown closes the listener
and waits for in-flight requests. The process exits 0; uvicorn's habit of re-raising the signal (which would
make the exit status 143) is deliberately not inherited.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Generator
from types import FrameType

import uvicorn

from herder.serving.app import HerderApp
from herder.serving.dataplane import DataPlane

log = logging.getLogger("herder.serving")


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose signal handling starts a drain instead of an immediate shutdown."""

    def __init__(self, config: uvicorn.Config, app: HerderApp, dataplane: DataPlane, drain_seconds: float) -> None:
        super().__init__(config)
        self.herder_app = app
        self.dataplane = dataplane
        self.drain_seconds = drain_seconds
        self.drain_deadline: float | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_deadline is None:
            self.drain_deadline = time.monotonic() + self.drain_seconds
            self.herder_app.draining = True
            self.herder_app.metrics.ready = False
            log.info("received %s: not ready, draining for %.1fs", signal.Signals(sig).name, self.drain_seconds)
        elif sig == signal.SIGINT and self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            return True
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.dataplane.start()
        await super().startup(sockets=sockets)
        if self.started:
            self.herder_app.metrics.ready = True
            model = self.herder_app.model
            bound = [s.getsockname() for server in self.servers for s in (server.sockets or [])]
            where = ", ".join(f"http://{addr[0]}:{addr[1]}" for addr in bound)
            print(
                f"herder serve: model {model.name!r} version {model.version!r} "
                f"(sha256 {model.sha256}) ready on {where}",
                file=sys.stderr,
                flush=True,
            )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        await self.dataplane.stop()
        log.info("drained; exiting")
