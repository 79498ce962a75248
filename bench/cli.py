"""Command-line plumbing every bench entry shares: argument types, SIGTERM, limits."""

from __future__ import annotations

import argparse
import re
import resource
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

Summary = TypeVar("Summary")


def bench_parser(doc: str | None, module: str) -> argparse.ArgumentParser:
    """A bench's parser: named as it is run, described by its docstring's first paragraph."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}", description=(doc or "").split("\n\n")[0]
    )


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


def non_negative_float(text: str) -> float:
    value = float(text)
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


def fraction(text: str) -> float:
    """A share above 0 and at most 1, such as a load of 0.8 of the maximum."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {value}")
    return value


def env_assignment(text: str) -> tuple[str, str]:
    """NAME=VALUE, an environment variable for the server."""
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def raise_open_files_limit() -> int:
    """The soft limit on open files up to the hard one, for this process and the
    servers it starts (they inherit it): a thousand connections need as many."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard if hard != resource.RLIM_INFINITY else soft


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` and ExitStack stops what it started."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def exit_with(status: int, message: str) -> NoReturn:
    """Ends the bench with this status and message (2: it cannot run here, as usage errors)."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(status)


def run_bench(
    argv: Sequence[str] | None,
    parse_args: Callable[[Any], argparse.Namespace],
    run: Callable[[argparse.Namespace], Summary],
    finish: Callable[[argparse.Namespace, Summary], int],
    *,
    stopped: str,
) -> int:
    """A bench's main: its arguments, SIGTERM as Ctrl-C, the run, then `finish`
    (report, exit status); Ctrl-C says what it stopped and exits 130."""
    args = parse_args(argv)
    exit_on_sigterm()
    try:
        summary = run(args)
    except KeyboardInterrupt:
        print(f"interrupted: stopped {stopped}", file=sys.stderr)
        return 130
    return finish(args, summary)
