"""An engine as a child process: started on a free loopback port, tied to its parent.

The child gets `PR_SET_PDEATHSIG`, so the kernel sends it SIGTERM when the
process that started it dies, SIGKILL included: an engine never outlives the
server (or test run) it belongs to. It runs in a session of its own, so a
Ctrl-C in the terminal reaches only the parent, which stops the engine after
it has stopped serving.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1


class EngineStartError(RuntimeError):
    """The engine could not be started; the message says why, in one sentence."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that ties the child to this process, where the kernel allows it."""
    if not sys.platform.startswith("linux"):
        return None
    # The running program already links libc; find_library would spawn ldconfig.
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        # The parent may have died between fork and prctl: then no signal comes.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


# DynamoDB Local checks that a SigV4-shaped Authorization header is there and
# that its access key is alphanumeric; neither engine checks the signature.
_LIST_TABLES_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "X-Amz-Date": "20000101T000000Z",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
    ),
}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def answers(endpoint_url: str, timeout: float = 2.0) -> bool:
    """Whether a DynamoDB engine answers ListTables at endpoint_url."""
    request = urllib.request.Request(
        endpoint_url, data=b"{}", headers=_LIST_TABLES_HEADERS, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return "TableNames" in json.load(response)
    except (OSError, ValueError):
        return False


@dataclass
class EngineProcess:
    """A running engine: what it is, where it answers, and how to stop it."""

    name: str
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    details: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not gone within timeout seconds."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(read_log(path).splitlines()[-lines:])


def start_process(
    name: str,
    command_for_port: Callable[[int], Sequence[str]],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    attempts: int = 3,
    port: int | None = None,
) -> EngineProcess:
    """Starts `command_for_port(port)` on a free port (or the one given) and
    waits until it answers.

    A port picked free may be taken before the child binds it: then it is tried
    again on another port, up to `attempts` times.
    """
    last_error = ""
    for _ in range(1 if port else attempts):
        port = port or free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, kept on disk
            prefix=f"shopgraph-{name}-", suffix=".log", delete=False
        )
        log_path = Path(log_file.name)
        process = subprocess.Popen(
            list(command_for_port(port)),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        log_file.close()
        engine = EngineProcess(name, endpoint, process, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if answers(endpoint, timeout=1.0):
                return engine
            time.sleep(0.05)
        tail = log_tail(log_path)
        if process.poll() is None:
            engine.stop()
            raise EngineStartError(
                f"{name} did not answer on {endpoint} within {timeout:.0f} s" + _indent(tail)
            )
        last_error = f"{name} exited with status {process.returncode}" + _indent(tail)
        engine.stop()
    raise EngineStartError(last_error)


def _indent(text: str) -> str:
    return "".join(f"\n    {line}" for line in text.splitlines()) if text else ""
