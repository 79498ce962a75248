"""What the scale-out tests and the subscriber bench share: shopgraph processes
(serve, stream-worker) started and stopped by PID, and subscribers that follow
`orderStatusChanged` over graphql-transport-ws, moving to another server (and
resuming after their last cursor) when theirs goes away."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import websockets

from shopgraph.engine.process import free_port

SUBSCRIPTION = """
subscription($order: ID, $after: String) {
  orderStatusChanged(orderId: $order, after: $after) {
    eventId cursor status changedAt order { id }
  }
}
"""
WORKER_LINE = re.compile(r"stream worker (?P<id>[0-9a-f]+) reading")


def shopgraph_env(**extra: str) -> dict[str, str]:
    """This process's environment for a `shopgraph` child, without any endpoint
    that would point it elsewhere than its arguments say."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_ENDPOINT_URL") and k != "SHOPGRAPH_TEST_ENDPOINT"
    }
    return {**env, **extra}


class Process:
    """One `shopgraph` command as a child process, its output kept line by line."""

    def __init__(self, process: asyncio.subprocess.Process, name: str, port: int = 0) -> None:
        self.process = process
        self.name = name
        self.port = port
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, *args: str, env: dict[str, str], port: int = 0) -> Any:
        if port:
            env = {**env, "PORT": str(port), "HOST": "127.0.0.1"}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shopgraph",
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process, name, port)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def wait_for_line(self, pattern: re.Pattern[str], within: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                match = pattern.search(line)
                if match:
                    return match
            assert self.alive, f"{self.name} exited:\n{self.output}"
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} never printed {pattern.pattern}:\n{self.output}")

    async def stop(self, signum: int = signal.SIGTERM, within: float = 30) -> int:
        if self.alive:
            self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), within)
        await asyncio.wait_for(self._reader, 5)
        return code


class Server(Process):
    """`shopgraph serve` on its own port."""

    @classmethod
    async def serve(cls, name: str, *args: str, env: dict[str, str]) -> Server:
        server: Server = await cls.start(name, "serve", *args, env=env, port=free_port())
        return server

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def ready(self, session: aiohttp.ClientSession, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.alive, f"{self.name} exited:\n{self.output}"
            try:
                async with session.get(f"{self.base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} did not become ready:\n{self.output}")


async def graphql(
    session: aiohttp.ClientSession,
    base: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    ) as response:
        body = await response.json()
    assert not body.get("errors"), body
    return body["data"]


@dataclass(frozen=True)
class Event:
    event_id: str
    order_id: str
    status: str
    changed_at: str
    arrived: float  # time.time() when it arrived
    # The feed position (a Redis Streams entry id, <ms>-<n>): when it was published.
    cursor: str = ""


@dataclass
class LiveSubscriber:
    """Follows orderStatusChanged on one of `servers`; when its server goes
    away it moves to the next one that is up and resumes after its cursor."""

    name: str
    token: str
    servers: list[Server]
    home: int
    order_id: str | None = None
    events: list[Event] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    cursor: str | None = None
    moves: int = 0
    connections: int = 0  # acknowledged connections: more than 1 means it reconnected
    completed: bool = False  # the server ended the subscription
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    # Cleared, it holds a subscriber back from connecting again (a test makes
    # changes while it is away).
    may_reconnect: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.may_reconnect.set()

    async def run(self) -> None:
        while True:
            server = self.servers[self.home]
            try:
                await self._follow(server)
                return  # the server ended the subscription
            except (OSError, websockets.ConnectionClosed, TimeoutError):
                pass
            alive = [i for i, s in enumerate(self.servers) if s.alive and i != self.home]
            if not server.alive and alive:
                self.home = alive[self.moves % len(alive)]
                self.moves += 1
            await asyncio.sleep(0.2)
            await self.may_reconnect.wait()

    async def _follow(self, server: Server) -> None:
        async with websockets.connect(
            server.ws,
            subprotocols=["graphql-transport-ws"],
            open_timeout=5,  # type: ignore[list-item]
        ) as ws:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            self.connections += 1
            variables = {"order": self.order_id, "after": self.cursor}
            payload = {"query": SUBSCRIPTION, "variables": variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            self.subscribed.set()
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "next":
                    body = message["payload"]
                    if body.get("errors"):
                        self.errors.append(body["errors"])
                        continue
                    change = body["data"]["orderStatusChanged"]
                    self.events.append(
                        Event(
                            change["eventId"],
                            change["order"]["id"],
                            change["status"],
                            change["changedAt"],
                            time.time(),
                            change["cursor"],
                        )
                    )
                    self.cursor = change["cursor"]
                elif message["type"] == "error":
                    self.errors.append(message["payload"])
                    return
                elif message["type"] == "complete":
                    self.completed = True
                    return
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))


async def eventually(check: Any, within: float, step: float = 0.1) -> bool:
    """Polls `check()` (sync or async) until it is true or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result or time.monotonic() >= deadline:
            return bool(result)
        await asyncio.sleep(step)


async def all_subscribed(subscribers: list[LiveSubscriber], settle: float = 1.5) -> None:
    """Every subscriber has sent its subscribe message, and the servers have
    had `settle` seconds to take them in (the protocol does not acknowledge it)."""
    await asyncio.gather(*(asyncio.wait_for(s.subscribed.wait(), 30) for s in subscribers))
    await asyncio.sleep(settle)
