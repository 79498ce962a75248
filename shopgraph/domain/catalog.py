"""The catalogue: creating and changing products, counting views."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopgraph.data import catalog, model
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Product
from shopgraph.data.timefmt import now_iso
from shopgraph.domain.validation import (
    check_category,
    check_description,
    check_price,
    check_product_name,
    check_stock,
)
from shopgraph.errors import BadUserInput


@dataclass(frozen=True)
class NewProduct:
    id: str | None
    name: str
    description: str | None
    category: str
    price: Decimal
    stock: int | None


async def create_product(db: Dynamo, new: NewProduct) -> Product:
    product = Product(
        id=model.validate_id(new.id, "product id")
        if new.id is not None
        else secrets.token_urlsafe(9),
        name=check_product_name(new.name),
        description=check_description(new.description),
        category=check_category(new.category),
        price=check_price(new.price),
        stock=check_stock(new.stock),
        created_at=now_iso(),
    )
    await catalog.create_product(db, product)
    return product


# The attributes updateProduct may change, each with its check; None is
# allowed only where the contract's field is optional.
_CHECKS: dict[str, Any] = {
    "name": check_product_name,
    "description": check_description,
    "category": check_category,
    "price": check_price,
    "stock": check_stock,
}
_REQUIRED = frozenset({"name", "category", "price"})


async def update_product(db: Dynamo, product_id: str, changes: dict[str, Any]) -> Product:
    """Changes only the fields given; None removes an optional one."""
    model.validate_id(product_id, "product id")
    if not changes:
        raise BadUserInput("Give at least one field to change")
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None and field in _REQUIRED:
            raise BadUserInput(f"{field} cannot be null")
        checked[field] = _CHECKS[field](value)
    return await catalog.update_product(db, product_id, checked, now_iso())


async def record_view(db: Dynamo, product_id: str, view_shards: int) -> None:
    await catalog.count_view(db, product_id, view_shards)
