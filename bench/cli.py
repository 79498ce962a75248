"""Command-line plumbing every bench entry shares: argument types and SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, NoReturn


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def positive_int_list(text: str) -> list[int]:
    """A comma list of whole numbers of at least 1, such as concurrency levels: 1,16."""
    try:
        values = [positive_int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,16, got {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` and ExitStack stops what it started."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def exit_with(status: int, message: str) -> NoReturn:
    """Ends the bench with this status and message (2: it cannot run here, as usage errors)."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(status)
