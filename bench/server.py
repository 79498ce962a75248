"""`python -m shopgraph serve` as a subprocess on 127.0.0.1: start, wait ready, stop by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The engine launcher's own helpers: one way to pick a port and read a log.
from shopgraph.engine.process import free_port, log_tail, read_log

__all__ = [
    "HOST",
    "ROOT",
    "Server",
    "embedded_env",
    "endpoint_env",
    "free_port",
    "log_tail",
    "read_log",
    "served",
    "start_serve",
    "stop_process",
    "wait_ready",
]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BENCH_SECRET = "bench"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"


def endpoint_env(table: str) -> dict[str, str]:
    """This environment plus the bench's table and a fixed secret (cursors stay valid)."""
    env = dict(os.environ, SHOPGRAPH_TABLE=table, SHOPGRAPH_SECRET=BENCH_SECRET)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def embedded_env() -> dict[str, str]:
    """This environment without an endpoint, so that serve starts its embedded engine.

    No data folder (the demo data lives in memory and is fresh) and no AWS
    credentials or profile (the server then uses dummy ones for the local engine).
    """
    dropped = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_ENDPOINT_URL") and name not in dropped
    }
    env.pop("SHOPGRAPH_DATA_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_serve(arguments: list[str], env: dict[str, str], log_name: str) -> Server:
    """Starts serve on a free port with these extra arguments; the caller stops it."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"shopgraph-{log_name}-server-{port}.log"
    command = [sys.executable, "-m", "shopgraph", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("w") as log:
        # Its own session: a Ctrl-C reaches only us, and we stop it by its PID.
        process = subprocess.Popen(
            [*command, *arguments],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(process, log_path, f"http://{HOST}:{port}")


def _status(url: str, timeout: float) -> int | None:
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_ready(server: Server, timeout: float, on_poll: Callable[[], None] | None = None) -> None:
    """Until /readyz answers 200; SystemExit with the log's tail if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_poll is not None:
            on_poll()
        if server.process.poll() is not None:
            raise SystemExit(
                f"error: the server exited with status {server.process.returncode}:\n"
                + log_tail(server.log_path)
            )
        if _status(f"{server.base_url}/readyz", timeout=2) == 200:
            return
        time.sleep(0.1)
    raise SystemExit(
        f"error: /readyz did not answer 200 within {timeout:.0f} s:\n" + log_tail(server.log_path)
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM by PID (serve then stops its engine), SIGKILL if it does not go."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


@contextmanager
def served(endpoint: str, env: dict[str, str], timeout: float, log_name: str) -> Iterator[Server]:
    """serve on a given endpoint (so it starts no engine of its own), ready; stopped on exit."""
    server = start_serve(["--endpoint-url", endpoint], env, log_name)
    try:
        started = time.perf_counter()
        wait_ready(server, timeout)
        elapsed = time.perf_counter() - started
        print(
            f"server PID {server.pid} ready at {server.base_url} in {elapsed:.1f} s "
            f"(log {server.log_path})"
        )
        yield server
    finally:
        stop_process(server.process)
