"""The one table, declared once: its keys, indexes, stream and TTL."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

TTL_ATTRIBUTE = "ttl"


@dataclass(frozen=True)
class Index:
    name: str | None  # None: the table itself
    pk: str
    sk: str

    @property
    def key_attributes(self) -> tuple[str, str]:
        return (self.pk, self.sk)


TABLE_INDEX = Index(None, "PK", "SK")
GSI1 = Index("GSI1", "GSI1PK", "GSI1SK")
GSI2 = Index("GSI2", "GSI2PK", "GSI2SK")
LSI1 = Index("LSI1", "PK", "LSI1SK")

ATTRIBUTE_TYPES = {
    "PK": "S",
    "SK": "S",
    "GSI1PK": "S",
    "GSI1SK": "S",
    "GSI2PK": "S",
    "GSI2SK": "S",
    # Order totals: a Number sorts 9.99 < 25 < 100, a string would not.
    "LSI1SK": "N",
}


def _key_schema(index: Index) -> list[dict[str, str]]:
    return [
        {"AttributeName": index.pk, "KeyType": "HASH"},
        {"AttributeName": index.sk, "KeyType": "RANGE"},
    ]


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable parameters."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in ATTRIBUTE_TYPES.items()
        ],
        "KeySchema": _key_schema(TABLE_INDEX),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": i.name,
                "KeySchema": _key_schema(i),
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in (GSI1, GSI2)
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": LSI1.name,
                "KeySchema": _key_schema(LSI1),
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def _shape(description: dict[str, Any]) -> dict[str, Any]:
    """The parts of a table description that must match, in comparable form."""

    def indexes(entries: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {
            e["IndexName"]: (
                tuple((k["AttributeName"], k["KeyType"]) for k in e["KeySchema"]),
                e["Projection"]["ProjectionType"],
            )
            for e in entries or []
        }

    stream = description.get("StreamSpecification") or {}
    return {
        "key schema": tuple((k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]),
        "attribute types": {
            a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]
        },
        "global secondary indexes": indexes(description.get("GlobalSecondaryIndexes")),
        "local secondary indexes": indexes(description.get("LocalSecondaryIndexes")),
        "stream": (
            bool(stream.get("StreamEnabled")),
            stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        ),
    }


def shape_differences(table_name: str, description: dict[str, Any]) -> list[str]:
    want = _shape(table_definition(table_name))
    have = _shape(description)
    return [
        f"{part}: expected {want[part]!r}, found {have[part]!r}"
        for part in want
        if want[part] != have[part]
    ]


class TableShapeError(Exception):
    pass


async def ensure_table(client: Any, table_name: str) -> bool:
    """Creates the table (waiting for ACTIVE, enabling TTL) unless it exists.

    Returns True when it created the table. An existing table of another shape
    raises TableShapeError naming what differs.
    """
    try:
        description = (await client.describe_table(TableName=table_name))["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    else:
        differences = shape_differences(table_name, description)
        if differences:
            raise TableShapeError(
                f"Table {table_name!r} exists with another shape:\n  " + "\n  ".join(differences)
            )
        await _enable_ttl(client, table_name)
        return False

    try:
        await client.create_table(**table_definition(table_name))
    except ClientError as exc:
        # Another process created it between our describe and create.
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    await _wait_active(client, table_name)
    await _enable_ttl(client, table_name)
    log.info("created table %s", table_name)
    return True


async def _wait_active(client: Any, table_name: str, within: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        table = (await client.describe_table(TableName=table_name))["Table"]
        indexes_active = all(
            g.get("IndexStatus", "ACTIVE") == "ACTIVE"
            for g in table.get("GlobalSecondaryIndexes", [])
        )
        if table["TableStatus"] == "ACTIVE" and indexes_active:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"table {table_name} is not ACTIVE after {within:.0f}s")
        await asyncio.sleep(0.5)


async def _enable_ttl(client: Any, table_name: str) -> None:
    current = await client.describe_time_to_live(TableName=table_name)
    ttl = current.get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        if ttl.get("AttributeName") != TTL_ATTRIBUTE:
            raise TableShapeError(
                f"Table {table_name!r} has TTL on {ttl.get('AttributeName')!r}, "
                f"expected {TTL_ATTRIBUTE!r}"
            )
        return
    await client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
