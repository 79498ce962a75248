"""Product writes: create, partial update, view counters."""

from __future__ import annotations

import random
from typing import Any

from shopgraph.data import entities
from shopgraph.data.dynamo import ConditionFailed, Dynamo
from shopgraph.data.entities import Product
from shopgraph.errors import Conflict, NotFound

_IS_PRODUCT = "attribute_exists(PK) AND entityType = :product"


async def create_product(db: Dynamo, product: Product) -> None:
    try:
        await db.put(product.to_item(), condition="attribute_not_exists(PK)")
    except ConditionFailed as exc:
        raise Conflict(f"A product with id {product.id!r} already exists") from exc


async def update_product(
    db: Dynamo, product_id: str, changes: dict[str, Any], updated_at: str
) -> Product:
    """Sets only the attributes given (None removes an optional one), so
    concurrent updates of different fields never undo each other. A new
    category moves the product's GSI1 key with it (through its declaration)."""
    change = entities.PRODUCT.change({**changes, "updated_at": updated_at}, {"id": product_id})
    expression, names, values = change.render()
    try:
        updated = await db.update(
            entities.PRODUCT.key(id=product_id),
            expression,
            condition=_IS_PRODUCT,
            names=names,
            values={**values, ":product": entities.PRODUCT.name},
            return_new=True,
        )
    except ConditionFailed as exc:
        raise NotFound(f"No product {product_id!r}") from exc
    assert updated is not None
    return Product.from_item(updated)


async def count_view(db: Dynamo, product_id: str, shards: int) -> None:
    """ADD on one of the product's counter shards, picked at random, so that a
    popular product's views spread over several items."""
    shard = random.randrange(shards)
    await db.update(
        entities.VIEW_COUNTER.key(product_id=product_id, shard=shard),
        "ADD #count :one SET entityType = :type, productId = :id",
        names={"#count": "count"},
        values={":one": 1, ":type": entities.VIEW_COUNTER.name, ":id": product_id},
    )
