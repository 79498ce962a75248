"""Order listings as the API offers them: arguments checked, then one data-layer call."""

from __future__ import annotations

from shopgraph.data import entities, orders
from shopgraph.data.entities import Order, OrderStatus
from shopgraph.data.paging import Page, validate_first
from shopgraph.data.timefmt import validate_date_prefix
from shopgraph.errors import BadUserInput, Forbidden
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext
from shopgraph.resolvers.loaders import OrdersPageRequest


async def user_orders(
    ctx: RequestContext,
    user_id: str,
    *,
    first: int,
    after: str | None,
    sort: orders.OrderSort,
    placed_on: str | None,
    since: str | None,
    until: str | None,
) -> Page:
    validate_first(first)
    if placed_on is not None:
        validate_date_prefix(placed_on, "placedOn")
    if sort.by_total and (placed_on or since or until):
        raise BadUserInput("placedOn, since and until go with NEWEST_FIRST or OLDEST_FIRST only")
    if since is not None and until is not None and since > until:
        raise BadUserInput("since must not be after until")
    request = OrdersPageRequest(
        user_id, first, after, sort, orders.SortKeyRange.of(placed_on, since, until)
    )
    return await ctx.loaders.user_orders.load(request)


async def orders_by_status(
    ctx: RequestContext, status: OrderStatus, first: int, after: str | None
) -> Page:
    return await orders.orders_by_status(
        ctx.db, ctx.cursors, status, ctx.settings.status_shards, first=first, after=after
    )


async def flagged_orders(ctx: RequestContext, first: int, after: str | None) -> Page:
    return await orders.flagged_orders(ctx.db, ctx.cursors, first=first, after=after)


async def visible_order(ctx: RequestContext, order_id: str) -> Order | None:
    """An order by its id, for its owner or an admin (null where missing);
    anyone else is FORBIDDEN. `order(id:)`, Order references and subscriptions
    to one order all ask through here."""
    viewer = await auth.require_viewer(ctx)
    order = await ctx.loaders.orders.load(entities.OrderRef.decode(order_id))
    if order is not None and order.user_id != viewer.id and not viewer.is_admin:
        raise Forbidden("This order belongs to another customer")
    return order
