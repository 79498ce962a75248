"""A fault-injecting HTTP proxy between a DynamoDB client and a local engine.

Tests and benches point a client at `FaultProxy.url` instead of the engine and
add `Rule`s that make chosen requests fail the way DynamoDB, or the network in
front of it, fails: throttling, 500s, resets, answers lost after the write,
latency, partial batches, transaction conflicts. Whatever no rule claims goes
to the engine and back byte for byte, signing headers included (local engines
do not check signatures, so a body changed here still goes through).
On request (`recording()`, off by default) it lists the calls it handles with
their times, so that a bench can see which calls one request made and when.

    async with FaultProxy(engine_url) as proxy:
        proxy.add(Rule(Fault.THROTTLE, operations=frozenset({"GetItem"}), count=2))
        async with open_client(settings, endpoint_url=proxy.url) as client:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import struct
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

log = logging.getLogger(__name__)

__all__ = ["NO_OPERATION", "Call", "Fault", "FaultProxy", "Rule"]

JSON_TYPE = "application/x-amz-json-1.0"
_DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
# The key `forwarded` counts requests without X-Amz-Target under (a GET /, say).
NO_OPERATION = ""
# Not forwarded as received: they describe one hop, or the body as it was read
# here (aiohttp sets Content-Length for what it sends, and the body is already in).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
# Headers aiohttp's client adds unless told not to: only what the client sent goes on.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# SO_LINGER on with a zero timeout: close() sends RST instead of FIN.
_LINGER_ZERO = struct.pack("ii", 1, 0)


class Fault(StrEnum):
    THROTTLE = "throttle"  # 400 ProvisionedThroughputExceededException
    THROTTLING = "throttling"  # 400 ThrottlingException
    SERVER_ERROR = "server_error"  # 500 InternalServerError
    RESET = "reset"  # the connection is reset; the engine never sees the request
    LATENCY = "latency"  # a delay, then the request goes on
    UNPROCESSED = "unprocessed"  # BatchGetItem / BatchWriteItem: part comes back unprocessed
    CONFLICT = "conflict"  # TransactWriteItems: TransactionCanceledException
    LOST_RESPONSE = "lost_response"  # the engine applies it, the answer is replaced by a reset
    CORRUPT = "corrupt"  # the engine's answer, with an x-amz-crc32 its body does not match


# Operations each fault can change; the rest pass such a rule by.
_APPLIES_TO: dict[Fault, frozenset[str]] = {
    Fault.UNPROCESSED: frozenset({"BatchGetItem", "BatchWriteItem"}),
    Fault.CONFLICT: frozenset({"TransactWriteItems"}),
}


@dataclass(eq=False)  # identity: remove() takes out this rule, not an equal one
class Rule:
    """Which requests get a fault, how often and how many times.

    UNPROCESSED and CONFLICT rules let pass, without firing, operations they
    cannot change (anything but the batches, anything but TransactWriteItems).
    """

    fault: Fault
    # Operation names (BatchGetItem, GetRecords, ...); None: every operation.
    operations: frozenset[str] | None = None
    probability: float = 1.0
    # Fires on at most this many matching requests, then stays inert.
    count: int | None = None
    # LATENCY: sleeps latency + uniform(0, jitter) seconds.
    latency: float = 0.0
    jitter: float = 0.0
    # UNPROCESSED: the share of each table's entries held back, rounded down,
    # but at least one of two or more (1.0 holds back everything).
    fraction: float = 0.5
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.fault = Fault(self.fault)
        if isinstance(self.operations, str):
            raise TypeError("operations is a set of names, e.g. frozenset({'GetItem'})")
        if self.operations is not None:
            self.operations = frozenset(self.operations)
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {self.fraction}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count must not be negative, got {self.count}")
        if self.latency < 0 or self.jitter < 0:
            raise ValueError("latency and jitter must not be negative")

    def matches(self, operation: str) -> bool:
        """Whether this rule may fire for operation (before its probability)."""
        if self.operations is not None and operation not in self.operations:
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        applies = _APPLIES_TO.get(self.fault)
        return applies is None or operation in applies


@dataclass(frozen=True)
class Call:
    """A request the proxy handled while recording: its operation (NO_OPERATION
    without X-Amz-Target) and when it came in and was answered, in
    time.perf_counter() seconds."""

    operation: str
    started: float
    ended: float


@dataclass
class _Answer:
    status: int
    reason: str | None
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class _Fate:
    """What one request gets: a delay, then the deciding rule (None: forwarded)."""

    delay: float = 0.0
    rule: Rule | None = None
    # UNPROCESSED: the request to forward (None: nothing left to forward) and
    # the entries held back; CONFLICT: how many TransactItems there are.
    forward: dict[str, Any] | None = None
    held: dict[str, Any] = field(default_factory=dict)
    transact_items: int = 0


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that injects DynamoDB faults by rule.

    Rules are tried in the order added: every LATENCY rule that fires adds its
    delay; of the others, the first that matches and fires decides the
    request's fate; with none, the request is forwarded unchanged.
    """

    def __init__(self, upstream: str, *, seed: int = 0, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.injected: Counter[str] = Counter()
        # Requests the engine answered, by operation (NO_OPERATION without X-Amz-Target).
        self.forwarded: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._rules: list[Rule] = []
        self._port = port
        self._server: web.Server | None = None
        self._listener: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # None: not recording (the default); see recording().
        self._recording: list[Call] | None = None

    # -- rules

    def add(self, rule: Rule) -> Rule:
        self._rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        self._rules.remove(rule)

    def clear(self) -> None:
        self._rules.clear()

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    # -- recording: off unless asked for (a bench counts one request's calls)

    def recording(self) -> list[Call]:
        """Records from now on: each request handled is appended, once answered,
        to the list returned, until stop_recording() or the next recording()."""
        self._recording = []
        return self._recording

    def stop_recording(self) -> None:
        self._recording = None

    # -- life cycle

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the proxy has not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the proxy has started already")
        self._session = aiohttp.ClientSession(
            # No pool limit: the client's own pool bounds concurrency, and
            # queueing here would add latency no rule asked for.
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        )
        # auto_decompress off: a request body is forwarded as it came.
        self._server = web.Server(self._handle, access_log=None, auto_decompress=False)
        await self._listen()

    async def go_down(self) -> None:
        """The engine is gone: connections are refused, open ones are reset,
        and requests in flight are dropped before or after the engine saw them."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        await self._drop_connections()

    async def come_back(self) -> None:
        """Listens again, on the same port."""
        if self._server is None:
            raise RuntimeError("the proxy has not started")
        if self._listener is None:
            await self._listen()

    async def stop(self) -> None:
        await self.go_down()
        if self._server is not None:
            # Let the aborted connections' connection_lost run, then end any left.
            await asyncio.sleep(0)
            await self._server.shutdown(timeout=1.0)
            self._server = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _listen(self) -> None:
        assert self._server is not None
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            self._server, "127.0.0.1", self._port, backlog=1024, reuse_address=True
        )
        self._port = self._listener.sockets[0].getsockname()[1]

    async def _drop_connections(self) -> None:
        if self._server is not None:
            for connection in self._server.connections:
                if connection.transport is not None:
                    _abort(connection.transport)
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- requests

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        # Read once: a request that came in while recording goes to that list.
        recording = self._recording
        started = time.perf_counter() if recording is not None else 0.0
        try:
            return await self._respond(request)
        finally:
            self._tasks.discard(task)
            if recording is not None:
                operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
                recording.append(Call(operation, started, time.perf_counter()))

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            # Not request.read(): it stops at 1 MB, and a batch may be 16.
            body = await request.content.read()
        except ConnectionError:
            return _reset(request)
        target = request.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        if not operation:
            return await self._forward(request, body, NO_OPERATION)
        fate = self._decide(operation, request, body)
        if fate.delay:
            await asyncio.sleep(fate.delay)
        fault = fate.rule.fault if fate.rule is not None else None
        match fault:
            case None:
                return await self._forward(request, body, operation)
            case Fault.THROTTLE:
                return _error(
                    400,
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was "
                    "exceeded. Consider increasing your provisioning level with the "
                    "UpdateTable API.",
                )
            case Fault.THROTTLING:
                return _error(
                    400,
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                    prefix="com.amazon.coral.availability#",
                )
            case Fault.SERVER_ERROR:
                return _error(500, "InternalServerError", "Internal server error")
            case Fault.RESET:
                return _reset(request)
            case Fault.LOST_RESPONSE:
                await self._send(request, body, operation)
                return _reset(request)
            case Fault.CORRUPT:
                return await self._corrupted(request, body, operation)
            case Fault.CONFLICT:
                return _conflict(fate.transact_items)
            case Fault.UNPROCESSED:
                return await self._unprocessed(request, operation, fate)
        raise AssertionError(fault)

    def _decide(self, operation: str, request: web.BaseRequest, body: bytes) -> _Fate:
        # Synchronous on purpose: rules added or removed while requests are in
        # flight take effect between two decisions, never during one.
        fate = _Fate()
        parsed: dict[str, Any] | None = None
        for rule in tuple(self._rules):
            is_latency = rule.fault is Fault.LATENCY
            if (fate.rule is not None and not is_latency) or not rule.matches(operation):
                continue
            if is_latency:
                if self._fires(rule):
                    jitter = self._random.uniform(0, rule.jitter) if rule.jitter else 0.0
                    fate.delay += rule.latency + jitter
                continue
            split: tuple[dict[str, Any] | None, dict[str, Any]] | None = None
            transact_items = 0
            if rule.fault in _APPLIES_TO:
                # Only a body that can be changed as the fault says lets the rule fire.
                if parsed is None:
                    parsed = _json_request(request, body)
                if parsed is None:
                    continue
                if rule.fault is Fault.UNPROCESSED:
                    split = _split(operation, parsed, rule.fraction)
                    if split is None:
                        continue
                else:
                    transact_items = len(parsed.get("TransactItems") or [])
                    if not transact_items:
                        continue
            if self._fires(rule):
                fate.rule = rule
                fate.transact_items = transact_items
                if split is not None:
                    fate.forward, fate.held = split
        return fate

    def _fires(self, rule: Rule) -> bool:
        if rule.probability < 1.0 and self._random.random() >= rule.probability:
            return False
        rule.fired += 1
        self.injected[rule.fault.value] += 1
        return True

    async def _forward(
        self, request: web.BaseRequest, body: bytes, operation: str
    ) -> web.StreamResponse:
        answer = await self._send(request, body, operation)
        if answer is None:
            # An engine that cannot be reached looks like a dead node behind a
            # load balancer: the connection goes, no 502 page comes.
            return _reset(request)
        return _as_received(answer)

    async def _send(self, request: web.BaseRequest, body: bytes, operation: str) -> _Answer | None:
        """The engine's answer, read whole; None when it cannot be reached."""
        assert self._session is not None
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if _end_to_end(k))
        skip = [h for h in _AUTO_HEADERS if h not in headers]
        try:
            async with self._session.request(
                request.method,
                URL(self.upstream + request.raw_path, encoded=True),
                headers=headers,
                data=body or None,
                skip_auto_headers=skip,
                allow_redirects=False,
            ) as response:
                answer = _Answer(
                    response.status,
                    response.reason,
                    CIMultiDict(response.headers),
                    await response.read(),
                )
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            log.debug("the engine at %s cannot be reached: %r", self.upstream, exc)
            return None
        self.forwarded[operation] += 1
        return answer

    async def _unprocessed(
        self, request: web.BaseRequest, operation: str, fate: _Fate
    ) -> web.StreamResponse:
        if fate.forward is None:
            # Everything was held back: nothing for the engine to do.
            return _json_response(200, _nothing_processed(operation, fate.held))
        body = json.dumps(fate.forward, separators=(",", ":")).encode()
        answer = await self._send(request, body, operation)
        if answer is None:
            return _reset(request)
        parsed = _json_answer(answer) if answer.status == 200 else None
        if parsed is None:
            # An engine's error (or a body this cannot read) goes back as it came.
            return _as_received(answer)
        _merge_held(operation, parsed, fate.held)
        return _json_response(200, parsed, answer.headers)

    async def _corrupted(
        self, request: web.BaseRequest, body: bytes, operation: str
    ) -> web.StreamResponse:
        """The engine's answer as if damaged on the way: its checksum no longer fits."""
        response = await self._forward(request, body, operation)
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            response.headers["x-amz-crc32"] = str((zlib.crc32(response.body) + 1) & 0xFFFFFFFF)
        return response


def _end_to_end(header: str) -> bool:
    return header.lower() not in _HOP_BY_HOP


def _as_received(answer: _Answer) -> web.Response:
    """The engine's answer, its body (and so its x-amz-crc32) untouched."""
    headers = CIMultiDict((k, v) for k, v in answer.headers.items() if _end_to_end(k))
    return web.Response(
        status=answer.status, reason=answer.reason, headers=headers, body=answer.body
    )


def _abort(transport: asyncio.BaseTransport) -> None:
    """Closes a connection with RST, as a crashed node or a middlebox does."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


def _reset(request: web.BaseRequest) -> web.StreamResponse:
    if request.transport is not None:
        _abort(request.transport)
    # aiohttp fails to write this to the aborted transport, takes that as the
    # client gone and ends the connection quietly.
    return web.Response()


def _json_response(
    status: int, payload: Mapping[str, Any], upstream: CIMultiDict[str] | None = None
) -> web.Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers: CIMultiDict[str] = CIMultiDict()
    if upstream is not None:
        # The engine's headers, less those that describe the body it sent.
        skip = _HOP_BY_HOP | {"content-encoding", "x-amz-crc32", "content-type"}
        headers.extend((k, v) for k, v in upstream.items() if k.lower() not in skip)
    headers.setdefault("x-amzn-RequestId", uuid.uuid4().hex.upper())
    headers["Content-Type"] = JSON_TYPE
    # botocore checks every DynamoDB answer against this.
    headers["x-amz-crc32"] = str(zlib.crc32(body))
    return web.Response(status=status, headers=headers, body=body)


def _error(
    status: int, code: str, message: str, prefix: str = _DYNAMODB, **extra: Any
) -> web.Response:
    return _json_response(status, {"__type": prefix + code, "message": message, **extra})


def _conflict(items: int) -> web.Response:
    """TransactionCanceledException with the last of `items` in conflict."""
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in range(items - 1)]
    reasons.append(
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    )
    listed = ", ".join(r["Code"] for r in reasons)
    return _error(
        400,
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{listed}]",
        CancellationReasons=reasons,
    )


def _json_request(request: web.BaseRequest, body: bytes) -> dict[str, Any] | None:
    if request.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _json_answer(answer: _Answer) -> dict[str, Any] | None:
    body = answer.body
    encoding = answer.headers.get("Content-Encoding", "identity").lower()
    try:
        if encoding in ("gzip", "deflate"):
            body = zlib.decompress(body, zlib.MAX_WBITS | 32)
        elif encoding != "identity":
            return None
        parsed = json.loads(body)
    except (ValueError, zlib.error):
        return None
    return parsed if isinstance(parsed, dict) else None


def _held_count(entries: int, fraction: float) -> int:
    if entries < 2:
        return int(entries * fraction)
    return min(entries, max(1, int(entries * fraction)))


def _split(
    operation: str, request: dict[str, Any], fraction: float
) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
    """The request with each table's last entries taken out, and those entries
    in the shape of UnprocessedKeys / UnprocessedItems; None if none are."""
    tables = request.get("RequestItems")
    if not isinstance(tables, dict):
        return None
    keys = operation == "BatchGetItem"
    kept: dict[str, Any] = {}
    held: dict[str, Any] = {}
    for table, entry in tables.items():
        entries = entry.get("Keys") if keys and isinstance(entry, dict) else entry
        if not isinstance(entries, list):
            return None
        cut = len(entries) - _held_count(len(entries), fraction)
        if cut:
            kept[table] = {**entry, "Keys": entries[:cut]} if keys else entries[:cut]
        if cut < len(entries):
            held[table] = {**entry, "Keys": entries[cut:]} if keys else entries[cut:]
    if not held:
        return None
    return ({**request, "RequestItems": kept} if kept else None), held


def _merge_held(operation: str, answer: dict[str, Any], held: dict[str, Any]) -> None:
    """Adds the held-back entries to what the engine left unprocessed itself."""
    if operation == "BatchGetItem":
        unprocessed = answer.get("UnprocessedKeys") or {}
        for table, entry in held.items():
            if table in unprocessed:
                unprocessed[table]["Keys"].extend(entry["Keys"])
            else:
                unprocessed[table] = entry
        answer["UnprocessedKeys"] = unprocessed
        responses = answer.setdefault("Responses", {})
        for table in held:
            responses.setdefault(table, [])
    else:
        unprocessed = answer.get("UnprocessedItems") or {}
        for table, entries in held.items():
            unprocessed.setdefault(table, []).extend(entries)
        answer["UnprocessedItems"] = unprocessed


def _nothing_processed(operation: str, held: dict[str, Any]) -> dict[str, Any]:
    if operation == "BatchGetItem":
        return {"Responses": {table: [] for table in held}, "UnprocessedKeys": held}
    return {"UnprocessedItems": held}
