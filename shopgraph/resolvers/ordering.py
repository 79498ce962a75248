"""placeOrder, updateOrderStatus, deleteOrder, flagOrder and unflagOrder: who
may ask, the domain operation, and what the request's loaders learn from it."""

from __future__ import annotations

from shopgraph.data.entities import Order, OrderRef, OrderStatus
from shopgraph.domain import orders
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext


async def place_order(
    ctx: RequestContext, lines: list[tuple[str, int]], idempotency_key: str | None
) -> Order:
    viewer = await auth.require_viewer(ctx)
    order = await orders.place_order(
        ctx.db, viewer, lines, idempotency_key, status_shards=ctx.settings.status_shards
    )
    ctx.loaders.orders.prime(order.ref, order)
    return order


async def update_status(ctx: RequestContext, order_id: str, status: OrderStatus) -> Order:
    viewer = await auth.require_viewer(ctx)
    ref = OrderRef.decode(order_id)
    change = await orders.change_status(
        ctx.db, viewer, ref, status, status_shards=ctx.settings.status_shards
    )
    ctx.loaders.orders.clear(ref).prime(ref, change.after)
    if status is OrderStatus.COMPLETED:
        ctx.loaders.users.clear(change.after.user_id)  # the owner's points changed
    return change.after


async def delete_order(ctx: RequestContext, order_id: str) -> bool:
    await auth.require_admin(ctx)
    ref = OrderRef.decode(order_id)
    await orders.delete_order(ctx.db, ref)
    ctx.loaders.orders.clear(ref)
    return True


async def flag_order(ctx: RequestContext, order_id: str, reason: str) -> Order:
    await auth.require_admin(ctx)
    ref = OrderRef.decode(order_id)
    order = await orders.flag_order(ctx.db, ref, reason)
    ctx.loaders.orders.clear(ref).prime(ref, order)
    return order


async def unflag_order(ctx: RequestContext, order_id: str) -> Order:
    await auth.require_admin(ctx)
    ref = OrderRef.decode(order_id)
    order = await orders.unflag_order(ctx.db, ref)
    ctx.loaders.orders.clear(ref).prime(ref, order)
    return order
