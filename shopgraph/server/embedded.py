"""The embedded in-memory DynamoDB: moto's server on a free loopback port."""

from __future__ import annotations

import logging
import os

from moto.server import ThreadedMotoServer


class EmbeddedDynamo:
    def __init__(self) -> None:
        # moto's server logs every request through werkzeug; keep it quiet.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto needs some credentials in the environment to sign against.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        self._server.stop()
