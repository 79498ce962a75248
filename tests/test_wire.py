"""The item responses shopgraph's client parses itself equal botocore's own parse.

Each call goes to the real engine twice, once through the project's client and
once through a stock aioboto3 client, and the two answers must be the same,
value for value, binary attributes (which botocore decodes) included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import aioboto3
import botocore.session
import orjson
import pytest
from botocore.serialize import JSONSerializer

from shopgraph.data.codec import to_attributes
from shopgraph.data.dynamo import open_client
from shopgraph.data.wire import ItemRequestSerializer
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


def creation_seconds(response: dict[str, Any]) -> dict[str, Any]:
    """A GetRecords answer with each record's ApproximateCreationDateTime as
    epoch seconds, the form shopgraph's parser leaves it in (botocore's is a datetime)."""
    for record in response.get("Records", []):
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            record["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
        elif created is not None:
            record["dynamodb"]["ApproximateCreationDateTime"] = float(created)
    return response


async def test_stream_records_parse_as_botocore_parses_them(
    base_settings: Settings, dynamo_client: Any, table: str
) -> None:
    for item in ITEMS:
        await dynamo_client.put_item(TableName=table, Item=to_attributes(item))
    arn = (await dynamo_client.describe_table(TableName=table))["Table"]["LatestStreamArn"]
    async with (
        open_client(base_settings, service="dynamodbstreams") as ours_client,
        aioboto3.Session().client(
            "dynamodbstreams",
            region_name=base_settings.region,
            endpoint_url=base_settings.streams_endpoint_url or base_settings.endpoint_url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        ) as stock_client,
    ):
        shards = (await ours_client.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
        iterators = []
        for client in (ours_client, stock_client):
            iterator = await client.get_shard_iterator(
                StreamArn=arn, ShardId=shards[0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
            iterators.append(iterator["ShardIterator"])
        # One record a call: the images without a binary attribute take the
        # project's parse, the one with them botocore's, and both must agree.
        images, parsed_by_botocore = [], []
        for _ in ITEMS:
            ours = await ours_client.get_records(ShardIterator=iterators[0], Limit=1)
            stock = await stock_client.get_records(ShardIterator=iterators[1], Limit=1)
            created = ours["Records"][0]["dynamodb"].get("ApproximateCreationDateTime")
            parsed_by_botocore.append(isinstance(created, datetime))
            iterators = [ours["NextShardIterator"], stock["NextShardIterator"]]
            for response in (ours, stock):
                del response["NextShardIterator"]  # each client's own position
            assert creation_seconds(without_metadata(ours)) == creation_seconds(
                without_metadata(stock)
            )
            images.extend(record["dynamodb"]["NewImage"] for record in ours["Records"])
    assert [image["SK"]["S"] for image in images] == ["A", "B", "A"]
    # Only the image with a binary attribute went through botocore's walk.
    assert parsed_by_botocore == [False, False, True]
    assert images[2]["blob"] == {"B": b"\x00\x01binary"}


def item_requests(table: str) -> list[tuple[str, dict[str, Any], bool]]:
    """Item requests as shopgraph makes them: operation, parameters, and
    whether they hold binary values (which botocore must encode)."""
    key = {"PK": {"S": "WIRE#1"}, "SK": {"S": "A"}}
    plain, binary = to_attributes(ITEMS[0]), to_attributes(ITEMS[2])
    return [
        ("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}, False),
        (
            "BatchGetItem",
            {"RequestItems": {table: {"Keys": [key] * 80}}, "ReturnConsumedCapacity": "TOTAL"},
            False,
        ),
        (
            "Query",
            {
                "TableName": table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "WIRE"}},
                "ExclusiveStartKey": key,
                "Limit": 21,
                "ScanIndexForward": False,
            },
            False,
        ),
        ("PutItem", {"TableName": table, "Item": plain}, False),
        ("PutItem", {"TableName": table, "Item": binary}, True),
        # Text where botocore expects bytes: botocore base64s it, so it must encode it.
        ("PutItem", {"TableName": table, "Item": {**key, "blob": {"B": "text"}}}, True),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": table, "Item": plain}},
                    {
                        "Update": {
                            "TableName": table,
                            "Key": key,
                            "UpdateExpression": "ADD #c :one",
                            "ExpressionAttributeNames": {"#c": "count"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ],
                "ClientRequestToken": "token-1",
            },
            False,
        ),
        ("DescribeTable", {"TableName": table}, False),  # not an item request
    ]


def test_item_requests_encode_as_botocore_encodes_them() -> None:
    model = botocore.session.get_session().get_service_model("dynamodb")
    ours, stock = ItemRequestSerializer(), JSONSerializer()
    for operation, params, has_binary in item_requests("shopgraph"):
        operation_model = model.operation_model(operation)
        mine = ours.serialize_to_request(params, operation_model)
        theirs = stock.serialize_to_request(params, operation_model)
        assert orjson.loads(mine.pop("body")) == orjson.loads(theirs.pop("body")), operation
        assert mine == theirs, operation  # method, URL, target and content type
        # The item requests without binary values skip botocore's walk.
        body = ours.serialize_to_request(params, operation_model)["body"]
        skipped = not has_binary and body == orjson.dumps(params)
        assert skipped is (operation != "DescribeTable" and not has_binary), operation
