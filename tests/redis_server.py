"""A real redis-server for the tests: on a free loopback port, with a throwaway
config and data folder, stopped (and started again) by the test that owns it.

Its data is kept in an append-only file written on every command, as a
deployment that must not lose change events would configure it; `durable=False`
keeps nothing across a restart.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from shopgraph.engine.process import die_with_parent, free_port

REDIS_SERVER = "redis-server"


def available() -> str | None:
    return shutil.which(REDIS_SERVER)


class RedisServer:
    def __init__(self, *, durable: bool = True) -> None:
        binary = available()
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: apt-get install redis-server "
                "(make test installs it where it can)"
            )
        self.binary = binary
        self.durable = durable
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="shopgraph-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        config = self.folder / "redis.conf"
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            f"dir {self.folder}",
            'save ""',
            "protected-mode yes",
            f"appendonly {'yes' if self.durable else 'no'}",
            "appendfsync always",
            "logfile redis.log",
        ]
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [self.binary, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log()}")
            if self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=10)

    def close(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.folder / "redis.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False
