"""The embedded in-memory DynamoDB: moto's server on a free loopback port.

moto's threaded server has no lock around its backend: it applies a
transaction item by item and cancels one by restoring a copy of the table, so
concurrent requests can undo or leak into each other. DynamoDB isolates every
request; so does this server, by handling one request at a time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server


class EmbeddedDynamo:
    def __init__(self) -> None:
        # moto's server logs every request through werkzeug; keep it quiet.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto needs some credentials in the environment to sign against.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        moto_app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def isolated(
            environ: dict[str, Any], start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            with lock:
                # moto answers with a complete body, so nothing runs after the lock.
                return list(moto_app(environ, start_response))

        self._server = make_server(
            "127.0.0.1", 0, isolated, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
