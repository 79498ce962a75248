"""tests/faultproxy.py's FaultProxy in this process, on an event loop of its own thread.

Its own thread, so that it answers the server while this process blocks (the
server's start waits on /readyz, which asks the engine through the proxy), and
so that the bench's synchronous ExitStack stops it like everything else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvloop

from tests.faultproxy import Call, Fault, FaultProxy, Rule

__all__ = ["Call", "Fault", "ProxyThread", "Rule", "proxy_thread"]

T = TypeVar("T")
TIMEOUT_S = 15.0


class ProxyThread:
    """The proxy, and its rules and recordings changed on its own loop."""

    def __init__(self, proxy: FaultProxy, loop: asyncio.AbstractEventLoop) -> None:
        self.proxy = proxy
        self.loop = loop

    @property
    def url(self) -> str:
        return self.proxy.url

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT_S)

    def call(self, function: Callable[[], T]) -> T:
        """function() on the proxy's loop: between two of its requests, never during one."""

        async def on_loop() -> T:
            return function()

        return self.run(on_loop())

    def add(self, rule: Rule) -> Rule:
        return self.call(lambda: self.proxy.add(rule))

    def remove(self, rule: Rule) -> None:
        self.call(lambda: self.proxy.remove(rule))

    def recording(self) -> list[Call]:
        return self.call(self.proxy.recording)

    def stop_recording(self) -> None:
        self.call(self.proxy.stop_recording)


@contextmanager
def proxy_thread(upstream: str) -> Iterator[ProxyThread]:
    """A started FaultProxy in front of `upstream`; stopped, and its thread ended, on exit."""
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="faultproxy", daemon=True)
    thread.start()
    proxy = FaultProxy(upstream)
    running = ProxyThread(proxy, loop)
    try:
        running.run(proxy.start())
        print(f"fault proxy at {proxy.url} in front of {upstream}", flush=True)
        yield running
    finally:
        try:
            running.run(proxy.stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(TIMEOUT_S)
            if not thread.is_alive():
                loop.close()
