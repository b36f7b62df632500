"""The node agent's termination sequence on real processes: preStop first (the process keeps running through it),
then SIGTERM, then SIGKILL only for a process still there at the end of the grace period."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from localcluster.nodeagent import deletion_grace
from localcluster.termination import Deadline, Target, run_pre_stop, stop_process

# A stand-in container: says it is up once its SIGTERM handler is installed; on SIGTERM writes what it saw (the
# preStop marker file, if any) and exits 0, or, with IGNORE_TERM, notes the signal and keeps running.
CHILD = r"""
import os, signal, sys, time
out = sys.argv[1]
def on_term(*_):
    marker = os.environ.get("MARKER", "")
    with open(out, "a") as f:
        f.write(f"TERM at={time.monotonic()} marker={bool(marker) and os.path.exists(marker)}\n")
    if not os.environ.get("IGNORE_TERM"):
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(out, "a") as f:
    f.write("UP\n")
while True:
    time.sleep(0.05)
"""


def start(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp_path / "child.out"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], env={"PATH": "/usr/bin:/bin", **env},
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and "UP" in out.read_text()):
        assert proc.poll() is None, "the stand-in container died at start"
        assert time.monotonic() < deadline, "the stand-in container did not come up"
        time.sleep(0.05)
    return proc, out


@pytest.fixture
def http_hook() -> Iterator[tuple[int, list[str]]]:
    """A real HTTP server on 127.0.0.1 recording the paths it was asked for."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def test_exec_pre_stop_runs_with_the_container_env_before_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "prestop-ran"
    env = {"PATH": "/usr/bin:/bin", "MARKER": str(marker)}
    proc, out = start(tmp_path, MARKER=str(marker))
    hook = {"exec": {"command": [sys.executable, "-c", "import os; open(os.environ['MARKER'], 'w').close()"]}}
    code = stop_process(proc, hook, Target("127.0.0.1", env=env, cwd=tmp_path), Deadline(60))
    assert code == 0  # a clean exit on SIGTERM, no SIGKILL
    assert "marker=True" in out.read_text()  # the hook had finished when SIGTERM arrived


def test_sleep_pre_stop_keeps_the_process_running_that_long(tmp_path: Path) -> None:
    proc, out = start(tmp_path)
    begun = time.monotonic()
    code = stop_process(proc, {"sleep": {"seconds": 1}}, Target("127.0.0.1"), Deadline(60))
    assert code == 0
    term_at = float(out.read_text().split("TERM at=")[1].split()[0])
    assert term_at - begun >= 1.0  # SIGTERM never comes before the preStop sleep is over


def test_http_get_pre_stop_calls_the_named_port(tmp_path: Path, http_hook: tuple[int, list[str]]) -> None:
    port, seen = http_hook
    proc, out = start(tmp_path)
    hook = {"httpGet": {"path": "/prestop", "port": "http"}}
    code = stop_process(proc, hook, Target("127.0.0.1", ports={"http": port}), Deadline(60))
    assert (code, seen) == (0, ["/prestop"])
    assert "TERM" in out.read_text()


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    proc, out = start(tmp_path, IGNORE_TERM="1")
    code = stop_process(proc, None, Target("127.0.0.1"), Deadline(0.5))
    assert code == -9
    assert "TERM" in out.read_text()  # it was asked first


def test_a_force_delete_cuts_a_long_pre_stop_short(tmp_path: Path) -> None:
    proc, _ = start(tmp_path, IGNORE_TERM="1")
    deadline = Deadline(600)
    codes: list[int] = []
    t = threading.Thread(target=lambda: codes.append(
        stop_process(proc, {"sleep": {"seconds": 600}}, Target("127.0.0.1"), deadline)))
    t.start()
    deadline.shorten(0)
    t.join(timeout=60)
    assert not t.is_alive(), "a forced deletion still waited for the 600 s preStop"
    assert codes == [-9]


def test_a_failing_or_unsupported_hook_does_not_stop_the_termination(tmp_path: Path) -> None:
    proc, out = start(tmp_path)
    code = stop_process(proc, {"tcpSocket": {"port": 1}}, Target("127.0.0.1"), Deadline(60))
    assert code == 0 and "TERM" in out.read_text()
    assert run_pre_stop({"tcpSocket": {"port": 1}}, Target("127.0.0.1"), Deadline(1)) == (
        "preStop handler ['tcpSocket'] is not supported by the local node agent (exec, httpGet, sleep are)")
    assert run_pre_stop({"exec": {"command": [sys.executable, "-c", "raise SystemExit(3)"]}},
                        Target("127.0.0.1"), Deadline(60)) == (
        f"preStop exec {[sys.executable, '-c', 'raise SystemExit(3)']}: exit code 3")


def test_http_get_hooks_stay_on_loopback() -> None:
    failure = run_pre_stop({"httpGet": {"host": "10.0.0.1", "port": 80, "path": "/x"}}, Target("127.0.0.1"),
                           Deadline(60))
    assert failure == ("preStop httpGet http://10.0.0.1:80/x: not a loopback address "
                       "(the local node agent only calls 127.0.0.0/8)")
    assert run_pre_stop({"httpGet": {"port": "admin"}}, Target("127.0.0.1"), Deadline(60)) == (
        "preStop httpGet: named port 'admin' is not declared by the container")


def test_grace_period_comes_from_the_deletion() -> None:
    pod = {"metadata": {"deletionGracePeriodSeconds": 7}, "spec": {"terminationGracePeriodSeconds": 30}}
    assert deletion_grace(pod) == 7.0
    assert deletion_grace({"metadata": {}, "spec": {"terminationGracePeriodSeconds": 12}}) == 12.0
    assert deletion_grace({"metadata": {}, "spec": {}}) == 30.0
    assert deletion_grace({"metadata": {"deletionGracePeriodSeconds": 0}, "spec": {}}) == 0.0
