"""The server's own view of its load: gauges read from its /metrics page."""

from __future__ import annotations

import re
from collections.abc import Iterable

import aiohttp

# The admission's gauges (shopgraph/server/metrics.py).
ADMISSION = (
    "shopgraph_concurrency_limit",
    "shopgraph_in_flight",
    "shopgraph_queued",
    "shopgraph_shed",
)


def gauges(text: str, names: Iterable[str]) -> dict[str, float]:
    """The unlabelled samples of these names in Prometheus's text format."""
    found: dict[str, float] = {}
    for name in names:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    return found


async def scrape(
    session: aiohttp.ClientSession, base_url: str, names: Iterable[str] = ADMISSION
) -> dict[str, float]:
    """The gauges now; empty when /metrics did not answer (a saturated server, say)."""
    try:
        async with session.get(f"{base_url}/metrics") as response:
            return gauges(await response.text(), names) if response.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError):
        return {}
