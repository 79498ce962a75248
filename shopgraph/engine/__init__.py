"""The embedded engine: the DynamoDB that `shopgraph serve` starts when none is configured.

`start_embedded` is the one launcher: `serve`, the tests and the benchmarks
all start their engine through it. `auto` is DynamoDB Local (AWS's own
engine) where java and its jar can be had, else moto's server with a warning.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shopgraph.engine import dynamodb_local
from shopgraph.engine.process import EngineProcess, EngineStartError, answers, start_process
from shopgraph.settings import EMBEDDED_ENGINES, EmbeddedEngine

__all__ = ["EMBEDDED_ENGINES", "EngineProcess", "EngineStartError", "answers", "start_embedded"]

MOTO_WARNING = (
    "warning: DynamoDB Local cannot start here: {missing}. Falling back to moto's "
    "in-memory server, on which every transaction copies the whole table: writes get "
    "slower and memory grows as data grows. Fine for a quick look; install java for "
    "the real engine."
)


def start_moto(timeout: float = 60.0, port: int | None = None) -> EngineProcess:
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "shopgraph.engine.moto_server", "--port", str(port)]

    engine = start_process("moto", command, timeout=timeout, port=port)
    engine.details = f"moto's DynamoDB server (PID {engine.pid}), data in memory"
    return engine


def start_embedded(
    choice: EmbeddedEngine = "auto", data_dir: Path | None = None, port: int | None = None
) -> EngineProcess:
    """Starts the chosen engine (on a free port, or `port`); raises
    EngineStartError naming the cause."""
    if choice == "moto":
        if data_dir is not None:
            raise EngineStartError("moto keeps no data on disk: a data folder needs DynamoDB Local")
        return start_moto(port=port)
    if choice == "dynamodb-local":
        return dynamodb_local.start(data_dir, port=port)
    available = dynamodb_local.availability()
    if available.ok:
        return dynamodb_local.start(data_dir, port=port)
    if data_dir is not None:
        # Falling back would silently lose what the data folder promises to keep.
        raise EngineStartError(f"a data folder needs DynamoDB Local, and {available.missing}")
    print(MOTO_WARNING.format(missing=available.missing), file=sys.stderr, flush=True)
    return start_moto(port=port)
