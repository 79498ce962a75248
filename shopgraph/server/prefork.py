"""`shopgraph serve --workers N`: N serve processes on one port, supervised.

The parent starts no server of its own. It starts N children, each a plain
`shopgraph serve` with its own event loop and DynamoDB client, all listening
on the same port with SO_REUSEPORT, so the kernel spreads connections over
them. Subscriptions work on every child because each reads change events from
Redis; the parent runs a stream worker that publishes them (unless told not
to, where stream workers run elsewhere). A child that dies is started again;
SIGTERM or Ctrl-C stops the children, then the parent. Every child dies with
the parent, SIGKILL included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shopgraph.engine.process import die_with_parent
from shopgraph.settings import Settings
from shopgraph.stream.worker import run_stream_worker

log = logging.getLogger("shopgraph")

STOP_SECONDS = 30.0
# A child that dies sooner than this after starting is started again after a
# growing pause, so a child that cannot start does not spin.
STEADY_SECONDS = 10.0
MAX_RESTART_PAUSE = 30.0


@dataclass
class Child:
    slot: int
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    failures: int = 0  # quick deaths in a row


def child_environment(settings: Settings) -> dict[str, str]:
    """What every child shares: the endpoint, and one secret, so that a cursor
    one child signed is good at another."""
    env = dict(os.environ)
    if settings.endpoint_url:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = settings.endpoint_url
    if not settings.secret_configured:
        env["SHOPGRAPH_SECRET"] = secrets.token_urlsafe(32)
    return env


def run(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    child_args: Callable[[int], list[str]],
    stream_worker: bool,
) -> int:
    env = child_environment(settings)
    return asyncio.run(_supervise(settings, host, port, workers, child_args, env, stream_worker))


async def _supervise(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    child_args: Callable[[int], list[str]],
    env: dict[str, str],
    stream_worker: bool,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def start(slot: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "shopgraph", "serve", *child_args(slot)],
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),
        )

    children = [Child(slot, start(slot)) for slot in range(workers)]
    print(
        f"serving on http://{host}:{port} with {workers} processes (PIDs "
        f"{', '.join(str(c.process.pid) for c in children)}); parent PID {os.getpid()}",
        flush=True,
    )
    worker = (
        asyncio.create_task(run_stream_worker(settings, stop, lambda line: print(line, flush=True)))
        if stream_worker
        else None
    )
    try:
        while not stop.is_set():
            for child in children:
                if child.process.poll() is not None:
                    await _restart(child, start, stop)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        stop.set()
        await asyncio.to_thread(_stop_all, children)
        if worker is not None:
            await asyncio.gather(worker, return_exceptions=True)
    print("stopped", flush=True)
    return 0


async def _restart(
    child: Child, start: Callable[[int], subprocess.Popen[bytes]], stop: asyncio.Event
) -> None:
    code = child.process.returncode
    quick = time.monotonic() - child.started < STEADY_SECONDS
    child.failures = child.failures + 1 if quick else 0
    pause = min(MAX_RESTART_PAUSE, 2.0 ** (child.failures - 1)) if child.failures else 0.0
    log.warning(
        "serve process %d (PID %d) exited with %s; starting it again%s",
        child.slot,
        child.process.pid,
        code,
        f" in {pause:.0f} s" if pause else "",
    )
    if pause:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        if stop.is_set():
            return
    child.process = start(child.slot)
    child.started = time.monotonic()


def _stop_all(children: list[Child]) -> None:
    """SIGTERM to every child (each closes its subscriptions and ends its
    requests), then SIGKILL to any still there after STOP_SECONDS."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
