"""The benches' load generator: a GraphQL client over aiohttp that times and checks each answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
import uvloop
from multidict import CIMultiDictProxy

T = TypeVar("T")

LOG_IN = (
    "mutation LogIn($email: String!, $password: String!) {"
    " logIn(email: $email, password: $password) { token } }"
)


# Error answers a server under load may honestly give: shed, past its deadline,
# throttled by the engine. Any other error code is a wrong answer.
LOAD_ERRORS = frozenset({"OVERLOADED", "UNAVAILABLE", "THROTTLED"})


def describe_error(body: Any, status: int) -> str | None:
    """A GraphQL answer's first error in one line (code, path, message), or None."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code", "-")
        path = ".".join(map(str, first.get("path") or [])) or "-"
        return f"HTTP {status} {code} at {path}: {first.get('message')}"
    if status != 200 or not isinstance(body, dict):
        return f"HTTP {status}: {str(body)[:200]}"
    return None


def error_code(body: Any, status: int) -> str | None:
    """A short name for what went wrong: the first error's code, else HTTP <status>; None if ok."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        return str((first.get("extensions") or {}).get("code") or f"HTTP {status}")
    if status != 200 or not isinstance(body, dict):
        return f"HTTP {status}"
    return None


def field_of(body: Any, name: str) -> dict[str, Any] | None:
    """data.<name> of an answer when it is an object, else None."""
    data = body.get("data") if isinstance(body, dict) else None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else None


@dataclass
class Sample:
    """One request: how long it took, what it cost (extensions.cost), what was wrong."""

    latency_ms: float
    error: str | None = None
    # What kind of error (the GraphQL code, HTTP status or exception name), for tallies.
    code: str | None = None
    answered: bool = True  # False: no answer came (a timeout, a closed connection)
    calls: dict[str, int] | None = None
    read_units: float | None = None
    write_units: float | None = None
    requested_cost: float | None = None  # extensions.cost.requestedQueryCost

    @classmethod
    def of(cls, body: Any, status: int, latency_ms: float) -> Sample:
        extensions = body.get("extensions") if isinstance(body, dict) else None
        cost = (extensions or {}).get("cost") or {}
        calls = cost.get("calls")
        return cls(
            latency_ms=latency_ms,
            error=describe_error(body, status),
            code=error_code(body, status),
            calls=dict(calls) if isinstance(calls, dict) else None,
            read_units=cost.get("readCapacityUnits"),
            write_units=cost.get("writeCapacityUnits"),
            requested_cost=cost.get("requestedQueryCost"),
        )


@asynccontextmanager
async def open_session(
    connections: int, request_timeout: float
) -> AsyncIterator[aiohttp.ClientSession]:
    """One keep-alive pool of `connections`, never through a proxy."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        yield session


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any  # the parsed JSON; None for an empty body


class GraphQLClient:
    def __init__(
        self, session: aiohttp.ClientSession, url: str, request_timeout: float = 30.0
    ) -> None:
        self.session = session
        self.url = url
        self.request_timeout = request_timeout

    async def exchange(
        self, document: str, variables: dict[str, Any], token: str | None = None
    ) -> Reply:
        """One request; the answer with its headers (a 503's Retry-After, say)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # orjson: under load this client shares the CPUs with the server it measures.
        payload = orjson.dumps({"query": document, "variables": variables})
        async with self.session.post(self.url, data=payload, headers=headers) as response:
            raw = await response.read()
            body = orjson.loads(raw) if raw.strip() else None
            return Reply(response.status, response.headers, body)

    async def post(
        self, document: str, variables: dict[str, Any], token: str | None = None
    ) -> tuple[int, Any]:
        reply = await self.exchange(document, variables, token)
        return reply.status, reply.body

    async def send(
        self,
        document: str,
        variables: dict[str, Any],
        token: str | None = None,
        expect: str | None = None,
    ) -> tuple[Sample, Any]:
        """A timed request and its answer; with `expect`, data.<expect> must be an object."""
        began = time.perf_counter()
        try:
            status, body = await self.post(document, variables, token)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            ms = (time.perf_counter() - began) * 1000
            detail = str(exc) or f"no answer within {self.request_timeout:.0f} s"
            name = type(exc).__name__
            return Sample(ms, f"{name}: {detail}", code=name, answered=False), None
        sample = Sample.of(body, status, (time.perf_counter() - began) * 1000)
        if sample.error is None and expect is not None and field_of(body, expect) is None:
            sample.error = f"no {expect} in the answer: {str(body)[:200]}"
            sample.code = "BAD_ANSWER"
        return sample, body

    async def call(
        self, document: str, variables: dict[str, Any], name: str, token: str | None = None
    ) -> dict[str, Any]:
        """data.<name> of a request that must succeed (setup, not measured)."""
        status, body = await self.post(document, variables, token)
        value = field_of(body, name)
        if (error := describe_error(body, status)) or value is None:
            raise SystemExit(f"error: {name} failed: {error or body}")
        return value

    async def log_in(self, email: str, password: str) -> str:
        """A session token for the account."""
        status, body = await self.post(LOG_IN, {"email": email, "password": password})
        value = field_of(body, "logIn")
        if (error := describe_error(body, status)) or value is None:
            raise SystemExit(f"error: logIn as {email} failed: {error or body}")
        return str(value["token"])


async def run_workers(concurrency: int, worker: Callable[[], Awaitable[None]]) -> float:
    """`concurrency` copies of worker at once; the wall time in seconds until all are done."""
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop, the loop the server runs on: less of the CPUs for the client."""
    return uvloop.run(main)
