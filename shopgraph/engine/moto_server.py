"""moto's DynamoDB server, one request at a time, as a process of its own.

moto's threaded server has no lock around its backend: it applies a
transaction item by item and cancels one by restoring a copy of the table, so
concurrent requests can undo or leak into each other. DynamoDB isolates every
request; so does this server, by handling one request at a time.

It runs as a child process (`python -m shopgraph.engine.moto_server --port N`)
so that its memory, which grows with every transaction it copies, is its own
and is given back whole when it stops.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def isolated_app() -> Callable[..., Iterable[bytes]]:
    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def isolated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            # moto answers with a complete body, so nothing runs after the lock.
            return list(moto_app(environ, start_response))

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
