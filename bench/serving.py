"""What the benches share about the server they run: a port, its log, its errors, stopping it."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

# The engine launcher's own helpers, re-exported for the benches.
from shopgraph.engine.process import free_port, log_tail, read_log

__all__ = ["describe_error", "free_port", "log_tail", "read_log", "stop_server"]


def stop_server(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM by PID (serve then stops its engine), SIGKILL if it does not go."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


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
