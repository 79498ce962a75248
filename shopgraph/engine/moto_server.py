"""moto's DynamoDB server, one request at a time, as a process of its own.

moto's threaded server has no lock around its backend: it applies a
transaction item by item and cancels one by restoring a copy of the table, so
concurrent requests can undo or leak into each other. DynamoDB isolates every
request; so does this server, by handling one request at a time.

moto also ignores a TransactWriteItems' ClientRequestToken, so a call sent
again after its answer was lost would apply twice. DynamoDB answers a repeated
token (within 10 minutes) with the first success and writes nothing; with
other parameters, IdempotentParameterMismatchException. So does this server.

It runs as a child process (`python -m shopgraph.engine.moto_server --port N`)
so that its memory, which grows with every transaction it copies, is its own
and is given back whole when it stops.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

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
    # werkzeug logs every request; only problems are worth a line.
    logging.basicConfig(level=logging.WARNING)
    server = make_server(
        "127.0.0.1", args.port, isolated_app(), threaded=True, request_handler=MotoRequestHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
