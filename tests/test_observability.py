"""Metrics for Prometheus, and one JSON log line per request."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api, put_items
from tests.factories import product


async def test_metrics_count_operations_latency_and_dynamodb(api: Api, db) -> None:
    await put_items(db, [product(1).to_item()])
    for _ in range(3):
        await api.data('query ProductPage { product(id: "prod-1") { name viewCount } }')
    await api.gql("query Broken { nope }")

    response = await api.http.get("/metrics")
    assert response.status == 200
    assert response.content_type.startswith("text/plain")
    text = await response.text()
    assert 'shopgraph_graphql_requests_total{operation="ProductPage",outcome="ok"} 3.0' in text
    assert 'shopgraph_graphql_requests_total{operation="Broken",outcome="error"} 1.0' in text
    assert 'shopgraph_graphql_duration_seconds_count{operation="ProductPage"} 3.0' in text
    # The product and its view counters: one BatchGetItem a request.
    assert 'shopgraph_dynamodb_calls_total{operation="BatchGetItem"} 3.0' in text
    assert 'shopgraph_dynamodb_calls_total{operation="Query"}' not in text
    assert 'shopgraph_dynamodb_capacity_units_total{kind="read"}' in text
    assert "shopgraph_dynamodb_throttles_total 0.0" in text
    assert "shopgraph_dynamodb_retries_total" in text


async def test_operation_names_cannot_grow_the_metrics_without_bound(api: Api) -> None:
    await api.gql("query " + "A" * 80 + " { viewer { id } }")
    text = await (await api.http.get("/metrics")).text()
    assert 'operation="other"' in text and "A" * 80 not in text


async def test_each_request_logs_one_json_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shopgraph.http")
    response = await api.post({"query": "query Who { viewer { id } }"})
    request_id = response.headers["X-Request-Id"]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "shopgraph.http"]
    line = next(entry for entry in lines if entry["requestId"] == request_id)
    assert line["operation"] == "Who" and line["ok"] is True and line["status"] == 200
    assert line["durationMs"] >= 0
    assert line["cost"]["totalCalls"] == 0


def test_a_request_line_is_its_fields_as_one_json_object() -> None:
    import io

    from shopgraph.logs import JsonFormatter, log_fields

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("shopgraph.test-fields")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        log_fields(logger, {"requestId": "abc", "cost": {"calls": {"Query": 1}}, "ok": True})
    finally:
        logger.removeHandler(handler)
    (line,) = written.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["requestId"] == "abc" and entry["cost"] == {"calls": {"Query": 1}}
    assert entry["ok"] is True and entry["level"] == "INFO" and "message" not in entry


def test_log_lines_are_json_objects() -> None:
    from shopgraph.logs import JsonFormatter

    def line(message: str, exc_info: object = None) -> dict:
        record = logging.LogRecord(
            "shopgraph.http", logging.INFO, __file__, 1, message, (), exc_info
        )
        return json.loads(JsonFormatter().format(record))

    merged = line(json.dumps({"requestId": "abc", "status": 200}))
    assert merged["requestId"] == "abc" and merged["status"] == 200 and merged["level"] == "INFO"
    assert line("plain words")["message"] == "plain words"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = line("unexpected error", sys.exc_info())
    assert "ValueError: boom" in failed["exception"]


async def test_serve_keeps_its_startup_heap_out_of_the_collector(
    serve: Any, dynamo_endpoint: str, table: str
) -> None:
    """A full collection walking the startup heap stalled every request for
    up to 100 ms; serve freezes that heap once it is up."""
    served = await serve(AWS_ENDPOINT_URL_DYNAMODB=dynamo_endpoint, SHOPGRAPH_TABLE=table)
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # requests make garbage; the collector still runs
            async with session.post(
                f"{served.base}/graphql", json={"query": "{ __typename }"}
            ) as response:
                assert response.status == 200
        async with session.get(f"{served.base}/metrics") as response:
            text = await response.text()
    frozen = re.search(r"^shopgraph_gc_frozen_objects (\S+)$", text, re.M)
    assert frozen and float(frozen[1]) > 50_000, text  # schema, botocore, libraries
    assert 'python_gc_collections_total{generation="0"}' in text
    assert await served.stop() == 0
