"""What /proc says about a process (CPU time, RSS, children); stopping one not our child."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on; the name before it may hold spaces."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): tells a reused PID apart."""
    fields = _stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else int(fields[19])


def cpu_ticks(pid: int) -> int:
    """utime + stime of the process, all its threads; 0 once it is gone."""
    fields = _stat_fields(pid)
    return 0 if fields is None else int(fields[11]) + int(fields[12])


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def with_descendants(pids: Iterable[int]) -> list[int]:
    """The PIDs and every live process below them."""
    found: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(child_pids(pid))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time of these processes and their live children, in seconds."""
    return sum(cpu_ticks(pid) for pid in with_descendants(pids)) / CLOCK_TICKS_PER_SECOND


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def socket_count(pid: int) -> int | None:
    """Open sockets of the process: its /proc/PID/fd entries that link to socket:[...]."""
    folder = Path(f"/proc/{pid}/fd")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return None
    count = 0
    for entry in entries:
        with contextlib.suppress(OSError):  # closed since the listing
            count += os.readlink(entry).startswith("socket:")
    return count


def mem_available_mb() -> float | None:
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


@dataclass(frozen=True)
class Process:
    """A process that is not our child (a server's engine): its PID and start time."""

    pid: int
    ticks: int

    def alive(self) -> bool:
        return start_ticks(self.pid) == self.ticks

    def stop(self, timeout: float = 15.0) -> None:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive():
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)


def children(pid: int) -> list[Process]:
    found = [(child, start_ticks(child)) for child in child_pids(pid)]
    return [Process(child, ticks) for child, ticks in found if ticks is not None]
