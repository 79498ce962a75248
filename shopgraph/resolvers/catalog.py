"""createProduct, updateProduct and recordProductView: who may ask, the
domain operation, and what the request's loaders learn from it."""

from __future__ import annotations

from typing import Any

from shopgraph.data import model
from shopgraph.data.entities import Product
from shopgraph.domain import catalog
from shopgraph.domain.catalog import NewProduct
from shopgraph.errors import NotFound
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext


async def create_product(ctx: RequestContext, new: NewProduct) -> Product:
    await auth.require_admin(ctx)
    product = await catalog.create_product(ctx.db, new)
    ctx.loaders.products.clear(product.id).prime(product.id, product)
    return product


async def update_product(ctx: RequestContext, product_id: str, changes: dict[str, Any]) -> Product:
    await auth.require_admin(ctx)
    product = await catalog.update_product(ctx.db, product_id, changes)
    ctx.loaders.products.clear(product.id).prime(product.id, product)
    return product


async def record_view(ctx: RequestContext, product_id: str) -> bool:
    model.validate_id(product_id, "product id")
    if await ctx.loaders.products.load(product_id) is None:
        raise NotFound(f"No product {product_id!r}")
    await catalog.record_view(ctx.db, product_id, ctx.settings.view_shards)
    ctx.loaders.view_counts.clear(product_id)
    return True
