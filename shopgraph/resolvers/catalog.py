"""createProduct, updateProduct and recordProductView."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopgraph.data import catalog, model
from shopgraph.data.entities import Product
from shopgraph.data.timefmt import now_iso
from shopgraph.errors import BadUserInput, NotFound
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext
from shopgraph.resolvers.validation import (
    check_category,
    check_description,
    check_price,
    check_product_name,
    check_stock,
)


@dataclass(frozen=True)
class NewProduct:
    id: str | None
    name: str
    description: str | None
    category: str
    price: Decimal
    stock: int | None


async def create_product(ctx: RequestContext, new: NewProduct) -> Product:
    await auth.require_admin(ctx)
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
    await catalog.create_product(ctx.db, product)
    ctx.loaders.products.clear(product.id).prime(product.id, product)
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


async def update_product(ctx: RequestContext, product_id: str, changes: dict[str, Any]) -> Product:
    await auth.require_admin(ctx)
    model.validate_id(product_id, "product id")
    if not changes:
        raise BadUserInput("Give at least one field to change")
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None and field in _REQUIRED:
            raise BadUserInput(f"{field} cannot be null")
        checked[field] = _CHECKS[field](value)
    product = await catalog.update_product(ctx.db, product_id, checked, now_iso())
    ctx.loaders.products.clear(product.id).prime(product.id, product)
    return product


async def record_view(ctx: RequestContext, product_id: str) -> bool:
    model.validate_id(product_id, "product id")
    if await ctx.loaders.products.load(product_id) is None:
        raise NotFound(f"No product {product_id!r}")
    await catalog.count_view(ctx.db, product_id, ctx.settings.view_shards)
    ctx.loaders.view_counts.clear(product_id)
    return True
