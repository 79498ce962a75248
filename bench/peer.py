"""The Node reference peer (apollo-ddb): installed into the project's cache, started, stopped.

The peer's folder is read, never written: its files are copied into
~/.cache/shopgraph/peer-apollo-ddb/<hash of its package-lock.json> and
`npm ci` runs there, once per lock file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cli import exit_with
from bench.server import HOST, ROOT, free_port, log_tail, read_log, stop_process
from shopgraph.engine.dynamodb_local import cache_root

DEFAULT_PEER_DIR = ROOT.parent / "shared" / "peers" / "apollo-ddb"
# What the copy leaves out: the peer's own installs and version control.
IGNORED_PARTS = frozenset({"node_modules", ".git"})
READY = re.compile(r"apollo-ddb peer: (http://\S+) pid=(\d+)")


def check_peer_dir(peer_dir: Path) -> None:
    needed = ("package.json", "package-lock.json", "server.mjs", "bench/queries")
    missing = [name for name in needed if not (peer_dir / name).exists()]
    if not peer_dir.is_dir() or missing:
        what = "is missing" if not peer_dir.is_dir() else f"lacks {', '.join(missing)}"
        exit_with(
            2,
            f"error: the reference peer folder {peer_dir} {what}. Point at a checkout of "
            "apollo-ddb with --peer-dir PATH (make bench-compare BENCH_ARGS='--peer-dir PATH').",
        )


def install(peer_dir: Path) -> Path:
    """The peer with its node_modules in the cache; `npm ci` only for a new lock file."""
    check_peer_dir(peer_dir)
    if shutil.which("node") is None or shutil.which("npm") is None:
        exit_with(2, "error: the peer needs node (>= 20) and npm on the PATH")
    lock = (peer_dir / "package-lock.json").read_bytes()
    target = cache_root() / "peer-apollo-ddb" / hashlib.sha256(lock).hexdigest()[:16]
    if (target / "node_modules" / ".package-lock.json").exists():
        # The same lock: only the sources are copied again, so edits to the peer count.
        _copy(peer_dir, target)
        print(f"peer: {peer_dir} -> {target} (installed already)", flush=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed: a failed npm ci leaves no half install behind.
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=target.parent))
    started = time.perf_counter()
    try:
        _copy(peer_dir, staging)
        print(f"peer: npm ci in {staging} ...", flush=True)
        done = subprocess.run(
            ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"error: npm ci for the peer failed:\n{done.stdout}{done.stderr}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"peer: installed in {target} in {time.perf_counter() - started:.1f} s", flush=True)
    return target


def _copy(source: Path, target: Path) -> None:
    """The peer's files, without its installs; copied as new writable files.

    Not copytree: it copies modes too, and the peer's read-only folders would
    then keep npm (and the next refresh) from writing into the copy.
    """
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if IGNORED_PARTS.intersection(relative.parts) or not path.is_file():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


@dataclass
class Peer:
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)


def start(install_dir: Path, table: str, endpoint: str, timeout: float) -> Peer:
    """`node server.mjs` on a free loopback port over `table`; ready when it says so."""
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"shopgraph-compare-peer-{port}.log"
    env = dict(
        os.environ,
        PORT=str(port),
        TABLE=table,
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        AWS_REGION=os.environ.get("AWS_REGION", "us-east-1"),
        NODE_ENV="production",
    )
    with log_path.open("w") as log:
        # Its own session: a Ctrl-C reaches only us, and we stop it by its PID.
        process = subprocess.Popen(
            ["node", "server.mjs"],
            cwd=install_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    peer = Peer(process, log_path, "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"error: the peer exited with status {process.returncode}:\n{log_tail(log_path)}"
            )
        if match := READY.search(read_log(log_path)):
            url, pid = match.group(1), int(match.group(2))
            if pid != process.pid or not url.startswith(f"http://{HOST}:{port}/"):
                peer.stop()
                raise SystemExit(f"error: the peer announced {url} pid={pid}, not ours")
            peer.url = url
            return peer
        time.sleep(0.1)
    peer.stop()
    raise SystemExit(f"error: the peer did not start within {timeout:.0f} s:\n{log_tail(log_path)}")
