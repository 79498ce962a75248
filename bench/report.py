"""How the benches print figures: percentiles, medians, fixed-width tables, the machine, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[min(len(ordered), int(rank)) - 1]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values that are there; None when none is."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def number(value: float | None, digits: int = 2) -> str:
    """Whole numbers without decimals, others with `digits`; '-' for none."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value - round(value)) < 0.005 else f"{value:.{digits}f}"


def fixed(value: float | None, digits: int = 1) -> str:
    """value with `digits` decimals; '-' for none."""
    return "-" if value is None else f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    """How a target came out: met, missed, or n/a when it was not measured."""
    return "n/a" if ok is None else ("met" if ok else "missed")


def rounded(value: Any) -> Any:
    """Floats to 3 decimals, also inside dicts and lists, for the JSON summary."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def print_json(summary: Any) -> None:
    print(json.dumps(rounded(summary), indent=2))


class Table:
    """Fixed-width columns: (title, width, '<' or '>') each, two spaces apart."""

    def __init__(self, columns: Sequence[tuple[str, int, str]]) -> None:
        self.columns = columns

    def line(self, cells: Sequence[str]) -> str:
        padded = (
            f"{cell:{align}{width}}"
            for cell, (_, width, align) in zip(cells, self.columns, strict=True)
        )
        return "  ".join(padded).rstrip()

    def print_header(self) -> None:
        line = self.line([title for title, _, _ in self.columns])
        print(line)
        print("-" * len(line))

    def print_row(self, cells: Sequence[str]) -> None:
        print(self.line(cells), flush=True)


def machine() -> dict[str, Any]:
    """Where and when the figures were taken."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def print_machine(info: dict[str, Any]) -> None:
    print(f"  python   {info['python']} on {info['platform']}, {info['cpus']} CPUs")
    print(f"  date     {info['date']}", flush=True)
