"""Product writes: create, partial update, view counters."""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError

from shopgraph.data import keys
from shopgraph.data.codec import from_attributes, key_attributes, to_attribute, to_attributes
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Product
from shopgraph.errors import Conflict, NotFound

_IS_PRODUCT = "attribute_exists(PK) AND entityType = :product"


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


async def create_product(db: Dynamo, product: Product) -> None:
    try:
        await db.call(
            "PutItem",
            TableName=db.table_name,
            Item=to_attributes(product.to_item()),
            ConditionExpression="attribute_not_exists(PK)",
        )
    except ClientError as exc:
        if _condition_failed(exc):
            raise Conflict(f"A product with id {product.id!r} already exists") from exc
        raise


async def update_product(
    db: Dynamo, product_id: str, changes: dict[str, Any], updated_at: str
) -> Product:
    """Sets only the attributes given (None removes an optional one), so
    concurrent updates of different fields never undo each other."""
    names: dict[str, str] = {"#updatedAt": "updatedAt"}
    values: dict[str, Any] = {":updatedAt": updated_at, ":product": keys.PRODUCT.entity}
    sets, removes = ["#updatedAt = :updatedAt"], []
    if "category" in changes:
        changes = {**changes, "GSI1PK": keys.PRODUCT.gsi1pk.build(category=changes["category"])}  # type: ignore[union-attr]
    for n, (attribute, value) in enumerate(sorted(changes.items())):
        names[f"#a{n}"] = attribute
        if value is None:
            removes.append(f"#a{n}")
        else:
            values[f":v{n}"] = value
            sets.append(f"#a{n} = :v{n}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    try:
        response = await db.call(
            "UpdateItem",
            TableName=db.table_name,
            Key=key_attributes(keys.PRODUCT.key(product_id=product_id)),
            UpdateExpression=expression,
            ConditionExpression=_IS_PRODUCT,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={k: to_attribute(v) for k, v in values.items()},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if _condition_failed(exc):
            raise NotFound(f"No product {product_id!r}") from exc
        raise
    return Product.from_item(from_attributes(response["Attributes"]))


async def count_view(db: Dynamo, product_id: str, shards: int) -> None:
    """ADD on one of the product's counter shards, picked at random, so that a
    popular product's views spread over several items."""
    shard = random.randrange(shards)
    await db.call(
        "UpdateItem",
        TableName=db.table_name,
        Key=key_attributes(keys.VIEW_COUNTER.key(product_id=product_id, shard=shard)),
        UpdateExpression="ADD #count :one SET entityType = :type, productId = :id",
        ExpressionAttributeNames={"#count": "count"},
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":type": {"S": keys.VIEW_COUNTER.entity},
            ":id": {"S": product_id},
        },
    )
