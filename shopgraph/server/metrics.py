"""Prometheus metrics of one server: requests, latency, DynamoDB calls and capacity."""

from __future__ import annotations

import gc
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.exposition import generate_latest

_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_OPERATION_NAMES = 200  # operation names are client-chosen: bound the label values


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._names: set[str] = set()
        self.requests = Counter(
            "shopgraph_graphql_requests",
            "GraphQL operations by name and outcome (ok, error).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shopgraph_graphql_duration_seconds",
            "Time to answer a GraphQL operation.",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.dynamodb_calls = Counter(
            "shopgraph_dynamodb_calls",
            "DynamoDB calls by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.capacity = Counter(
            "shopgraph_dynamodb_capacity_units",
            "Capacity units consumed.",
            ["kind"],
            registry=self.registry,
        )
        # Each label set's child, looked up once: labels() costs microseconds
        # a call, five times a request. Both are bounded as the labels are.
        self._outcomes: dict[tuple[str, bool], tuple[Any, Any]] = {}
        self._calls: dict[str, Any] = {}
        self._read_units = self.capacity.labels("read")
        self._write_units = self.capacity.labels("write")
        self.retries = Counter(
            "shopgraph_dynamodb_retries", "Retries botocore made.", registry=self.registry
        )
        self.throttles = Counter(
            "shopgraph_dynamodb_throttles",
            "Calls still throttled after botocore's retries.",
            registry=self.registry,
        )
        # The collector's work per generation (prometheus_client's own), and
        # the heap frozen at startup that it no longer walks (server/heap.py).
        self.registry.register(GC_COLLECTOR)
        Gauge(
            "shopgraph_gc_frozen_objects",
            "Objects frozen at startup, outside every collection.",
            registry=self.registry,
        ).set_function(gc.get_freeze_count)

    def track_admission(self, admission: Any) -> None:
        """The admission's limit, load and shed count, read as each scrape happens."""
        for name, help_text, read in (
            (
                "shopgraph_concurrency_limit",
                "GraphQL requests allowed to run at once.",
                lambda: admission.limit.current,
            ),
            ("shopgraph_in_flight", "GraphQL requests running.", lambda: admission.in_flight),
            ("shopgraph_queued", "GraphQL requests waiting for a slot.", lambda: admission.queued),
            ("shopgraph_shed", "GraphQL requests answered 503 OVERLOADED.", lambda: admission.shed),
        ):
            Gauge(name, help_text, registry=self.registry).set_function(read)

    def operation_label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if not _OPERATION_NAME.match(name):
            return "other"
        if name not in self._names and len(self._names) >= MAX_OPERATION_NAMES:
            return "other"
        self._names.add(name)
        return name

    def observe(self, operation: str, ok: bool, seconds: float, cost: Any) -> None:
        outcome = self._outcomes.get((operation, ok))
        if outcome is None:
            outcome = self._outcomes[(operation, ok)] = (
                self.requests.labels(operation, "ok" if ok else "error"),
                self.latency.labels(operation),
            )
        count, latency = outcome
        count.inc()
        latency.observe(seconds)
        if cost is None:
            return
        for name, calls in cost.calls.items():
            counter = self._calls.get(name)
            if counter is None:
                counter = self._calls[name] = self.dynamodb_calls.labels(name)
            counter.inc(calls)
        self._read_units.inc(cost.read_units)
        self._write_units.inc(cost.write_units)
        self.retries.inc(cost.retries)
        self.throttles.inc(cost.throttles)

    def render(self) -> bytes:
        return generate_latest(self.registry)
