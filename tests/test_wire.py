"""The item responses shopgraph's client parses itself equal botocore's own parse.

Each call goes to the real engine twice, once through the project's client and
once through a stock aioboto3 client, and the two answers must be the same,
value for value, binary attributes (which botocore decodes) included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aioboto3
import pytest

from shopgraph.data.codec import to_attributes
from shopgraph.settings import Settings

ITEMS = [
    {
        "PK": "WIRE#1",
        "SK": "A",
        "GSI1PK": "WIRE",
        "GSI1SK": "1",
        "name": "plain",
        "price": Decimal("19.99"),
        "count": 3,
        "flag": True,
        "nothing": None,
        "tags": {"x", "y"},
        "sizes": {Decimal("1"), Decimal("2.5")},
        "lines": [{"productId": "p1", "quantity": 2, "unitPrice": Decimal("4.50")}],
        "nested": {"a": {"b": ["c", Decimal("1")]}},
    },
    {"PK": "WIRE#1", "SK": "B", "GSI1PK": "WIRE", "GSI1SK": "2", "name": "other"},
    {"PK": "WIRE#2", "SK": "A", "blob": b"\x00\x01binary", "blobs": {b"a", b"b"}},
]


@pytest.fixture
async def stock_client(base_settings: Settings) -> AsyncIterator[Any]:
    async with aioboto3.Session().client(
        "dynamodb",
        region_name=base_settings.region,
        endpoint_url=base_settings.endpoint_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ) as client:
        yield client


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


async def test_item_responses_parse_as_botocore_parses_them(
    dynamo_client: Any, stock_client: Any, table: str
) -> None:
    for item in ITEMS:
        await dynamo_client.put_item(TableName=table, Item=to_attributes(item))

    key = {"PK": {"S": "WIRE#1"}, "SK": {"S": "A"}}
    binary_key = {"PK": {"S": "WIRE#2"}, "SK": {"S": "A"}}
    total = {"ReturnConsumedCapacity": "TOTAL"}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_item", {"TableName": table, "Key": key, **total}),
        ("get_item", {"TableName": table, "Key": binary_key}),
        ("get_item", {"TableName": table, "Key": {"PK": {"S": "NONE"}, "SK": {"S": "A"}}}),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "WIRE#1"}},
                "Limit": 1,
                **total,
            },
        ),
        (
            "query",
            {
                "TableName": table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "WIRE"}},
                **total,
            },
        ),
        (
            "batch_get_item",
            {
                "RequestItems": {table: {"Keys": [key, binary_key]}},
                "ReturnConsumedCapacity": "TOTAL",
            },
        ),
        (
            "update_item",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #n = :n",
                "ExpressionAttributeNames": {"#n": "name"},
                "ExpressionAttributeValues": {":n": {"S": "plain"}},
                "ReturnValues": "ALL_NEW",
                **total,
            },
        ),
        (
            "transact_write_items",
            {
                "TransactItems": [
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key,
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    }
                ],
                **total,
            },
        ),
        ("scan", {"TableName": table, **total}),
    ]
    for method, params in calls:
        ours = without_metadata(await getattr(dynamo_client, method)(**params))
        stock = without_metadata(await getattr(stock_client, method)(**params))
        if method == "scan":  # the same items; an engine's scan order is its own
            ours["Items"].sort(key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
            stock["Items"].sort(key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
        assert ours == stock, method
    binary = await dynamo_client.get_item(TableName=table, Key=binary_key)
    assert binary["Item"]["blob"] == {"B": b"\x00\x01binary"}
