"""moto's DynamoDB server, one request at a time, as a process of its own.

moto's threaded server has no lock around its backend: it applies a
transaction item by item and cancels one by restoring a copy of the table, so
concurrent requests can undo or leak into each other. DynamoDB isolates every
request; so does this server, by handling one request at a time.

moto also ignores a TransactWriteItems' ClientRequestToken, so a call sent
again after its answer was lost would apply twice. DynamoDB answers a repeated
token (within 10 minutes) with the first success and writes nothing; with
other parameters, IdempotentParameterMismatchException. So does this server.

And moto cancels a transaction by putting a copy of the table in its place,
stream included: a reader's shard iterator is left on the old stream, which
holds the cancelled writes' records and never another. Here a transaction
keeps its table's stream (not copied, nor rolled back with it) and a
cancelled one takes back the records it added: readers see what committed,
and go on seeing it.

moto also keeps every model object it ever made (`BaseModel.__new__` adds it
to a class-wide list, for its own debugging endpoint), copies included: each
transaction's copy of the table stayed in memory for good. Here nothing is
kept that the tables themselves do not hold.

It runs as a child process (`python -m shopgraph.engine.moto_server --port N`)
so that its memory, which grows with every transaction it copies, is its own
and is given back whole when it stops.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.core.common_models import BaseModel
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress.server import create_server

TOKEN_SECONDS = 600  # how long DynamoDB remembers a ClientRequestToken
TOKENS_KEPT = 10_000
_TRANSACT_WRITE = "DynamoDB_20120810.TransactWriteItems"


@dataclass(frozen=True)
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Remembered:
    request: bytes  # the parameters, without the token
    answer: Answer
    at: float


class RequestTokens:
    """Successful TransactWriteItems answers by ClientRequestToken, for 10 minutes."""

    def __init__(self) -> None:
        self._answers: OrderedDict[str, Remembered] = OrderedDict()

    def find(self, token: str) -> Remembered | None:
        now = time.monotonic()
        while self._answers:
            oldest = next(iter(self._answers.values()))
            if now - oldest.at < TOKEN_SECONDS:
                break
            self._answers.popitem(last=False)
        return self._answers.get(token)

    def keep(self, token: str, request: bytes, answer: Answer) -> None:
        self._answers[token] = Remembered(request, answer, time.monotonic())
        while len(self._answers) > TOKENS_KEPT:
            self._answers.popitem(last=False)


def _mismatch() -> Answer:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "message": "The request uses the same client token as a previous, but different, "
            "request.",
        }
    ).encode()
    return Answer("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], body)


def _stream_shards(tables: dict[str, Table]) -> dict[str, tuple[StreamShard, int]]:
    return {
        name: (table.stream_shard, len(table.stream_shard.items))
        for name, table in tables.items()
        if table.stream_shard is not None
    }


def _untracked(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
    return object.__new__(cls)


def stop_tracking_instances() -> None:
    """Patches moto's BaseModel as the module docstring says."""
    BaseModel.__new__ = _untracked  # type: ignore[method-assign, assignment]


def keep_streams_through_transactions() -> None:
    """Patches moto's transact_write_items as the module docstring says; it
    also copies each table once per transaction, not once per item in it."""
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        before = _stream_shards(self.tables)
        copies: dict[int, Table] = {}

        def copy_once(table: Table, memo: dict[int, Any]) -> Table:
            # moto takes every copy before the first write: they are all alike.
            if id(table) not in copies:
                del Table.__deepcopy__  # type: ignore[attr-defined]
                try:
                    copies[id(table)] = copy.deepcopy(table, memo)
                finally:
                    Table.__deepcopy__ = copy_once  # type: ignore[attr-defined]
            return copies[id(table)]

        # The copy moto takes to roll back with shares the stream instead.
        StreamShard.__deepcopy__ = lambda shard, memo: shard  # type: ignore[attr-defined]
        Table.__deepcopy__ = copy_once  # type: ignore[attr-defined]
        try:
            transact(self, transact_items)
        except Exception:
            for name, (shard, length) in before.items():
                del shard.items[length:]
                table = self.tables.get(name)
                if table is not None:
                    shard.table = table
            raise
        finally:
            del StreamShard.__deepcopy__  # type: ignore[attr-defined]
            del Table.__deepcopy__  # type: ignore[attr-defined]

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.update(status=status, headers=headers)

    body = b"".join(app(environ, start_response))
    return Answer(seen["status"], list(seen["headers"]), body)


def isolated_app() -> Callable[..., Iterable[bytes]]:
    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    tokens = RequestTokens()

    def isolated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            # moto answers with a complete body, so nothing runs after the lock.
            answer = (
                _idempotent(environ)
                if environ.get("HTTP_X_AMZ_TARGET") == _TRANSACT_WRITE
                else _call(moto_app, environ)
            )
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _idempotent(environ: dict[str, Any]) -> Answer:
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            params = json.loads(raw)
        except ValueError:
            return _call(moto_app, environ)
        token = params.pop("ClientRequestToken", None)
        if not token:
            return _call(moto_app, environ)
        request = json.dumps(params, sort_keys=True).encode()
        remembered = tokens.find(token)
        if remembered is not None:
            return remembered.answer if remembered.request == request else _mismatch()
        answer = _call(moto_app, environ)
        if answer.status.startswith("200"):
            tokens.keep(token, request, answer)
        return answer

    return isolated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's DynamoDB, one request at a time")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    stop_tracking_instances()
    keep_streams_through_transactions()
    # Only problems are worth a line (waitress announces where it listens).
    logging.basicConfig(level=logging.WARNING)
    # Requests wait their turn at the lock by design: not worth a warning each.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # waitress keeps connections alive; werkzeug's server, moto's own, closes
    # each after one answer, so every DynamoDB call paid a new connection and a
    # new thread: twice the wall time and a third more CPU per call.
    server = create_server(
        isolated_app(), host="127.0.0.1", port=args.port, ident=None, asyncore_use_poll=True
    )
    server.run()


if __name__ == "__main__":
    main()
