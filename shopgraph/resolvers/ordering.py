"""placeOrder, updateOrderStatus, deleteOrder, flagOrder and unflagOrder."""

from __future__ import annotations

from dataclasses import replace

from shopgraph.data import entities, idempotency, model, order_writes
from shopgraph.data.entities import (
    IdempotencyRecord,
    Order,
    OrderFlag,
    OrderLine,
    OrderStatus,
    Product,
)
from shopgraph.data.orders import order_lines
from shopgraph.data.timefmt import now_iso
from shopgraph.data.transactions import Cancelled, transact
from shopgraph.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    InvalidStatusTransition,
    NotFound,
    OutOfStock,
)
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext

MAX_PRODUCTS_PER_ORDER = 49  # one transaction: order + 49 lines + 49 products + 1 record
MAX_QUANTITY = 999
MAX_REASON = 500
ATTEMPTS = 4
PLACE_ORDER = "placeOrder"

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.COMPLETED}),
}


def merge_lines(lines: list[tuple[str, int]]) -> dict[str, int]:
    """Validated lines, duplicates merged, in the order first asked."""
    if not lines:
        raise BadUserInput("An order needs at least one line")
    merged: dict[str, int] = {}
    for product_id, quantity in lines:
        model.validate_id(product_id, "product id")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise BadUserInput(f"quantity must be 1-{MAX_QUANTITY}", productId=product_id)
        merged[product_id] = merged.get(product_id, 0) + quantity
    if len(merged) > MAX_PRODUCTS_PER_ORDER:
        raise BadUserInput(f"An order may hold at most {MAX_PRODUCTS_PER_ORDER} distinct products")
    too_many = [p for p, q in merged.items() if q > MAX_QUANTITY]
    if too_many:
        raise BadUserInput(f"quantity must be 1-{MAX_QUANTITY}", productIds=too_many)
    return merged


async def _read_order(ctx: RequestContext, ref: entities.OrderRef) -> Order:
    item = await ctx.db.get(ref.key, consistent=True)
    if item is None:
        raise NotFound("No such order")
    return Order.from_item(item)


async def _order_of_record(ctx: RequestContext, record: IdempotencyRecord) -> Order:
    return await _read_order(ctx, entities.OrderRef.decode(record.result["orderId"]))


async def place_order(
    ctx: RequestContext, lines: list[tuple[str, int]], idempotency_key: str | None
) -> Order:
    viewer = await auth.require_viewer(ctx)
    merged = merge_lines(lines)
    request = idempotency.fingerprint({"lines": sorted(merged.items())})
    if idempotency_key is not None:
        idempotency.validate_key(idempotency_key)
        record = await idempotency.find(ctx.db, viewer.id, idempotency_key, PLACE_ORDER)
        if record is not None:
            idempotency.check_same_request(record, request)
            return await _order_of_record(ctx, record)

    for _ in range(ATTEMPTS):
        found = await ctx.db.batch_get(
            [entities.PRODUCT.key(id=p) for p in merged], consistent=True
        )
        products = {p.id: p for p in (Product.from_item(i) for i in found if i)}
        unknown = [p for p in merged if p not in products]
        if unknown:
            raise BadUserInput("Unknown products", productIds=unknown)
        short = [
            p
            for p, q in merged.items()
            if (products[p].stock or 0) < q and products[p].stock is not None
        ]
        if short:
            if idempotency_key is not None:
                # A concurrent retry with this key may be what took the stock.
                record = await idempotency.find(ctx.db, viewer.id, idempotency_key, PLACE_ORDER)
                if record is not None:
                    idempotency.check_same_request(record, request)
                    return await _order_of_record(ctx, record)
            raise OutOfStock("Not enough stock", productIds=short)

        number = order_writes.new_order_number()
        order_lines_ = [OrderLine(number, p, q, products[p].price) for p, q in merged.items()]
        created_at = now_iso()
        order = Order(
            viewer.id,
            number,
            OrderStatus.PENDING,
            order_writes.order_total(order_lines_),
            created_at,
        )
        record = None
        if idempotency_key is not None:
            record = idempotency.new_record(
                viewer.id, idempotency_key, PLACE_ORDER, request, {"orderId": order.id}
            )
        tx = order_writes.place_order_transaction(
            ctx.db, order, order_lines_, products, ctx.settings.status_shards, record
        )
        try:
            await transact(ctx.db, tx)
        except Cancelled as cancelled:
            if record is not None and cancelled.failed("idempotency"):
                # The same key won a concurrent race: answer with its order.
                existing = await idempotency.find(
                    ctx.db, viewer.id, idempotency_key or "", PLACE_ORDER
                )
                if existing is not None:
                    idempotency.check_same_request(existing, request)
                    return await _order_of_record(ctx, existing)
            short = []
            for line in order_lines_:
                step = order_writes.product_step(line.product_id)
                old = cancelled.old_item(step)
                if cancelled.failed(step) and old is None:
                    raise BadUserInput("Unknown products", productIds=[line.product_id]) from None
                if old and old.get("stock") is not None and int(old["stock"]) < line.quantity:
                    short.append(line.product_id)
            if short:
                raise OutOfStock("Not enough stock", productIds=short) from None
            continue  # a price or stock tracking changed, or the number was taken: again
        ctx.loaders.orders.prime(order.ref, order)
        return order
    raise Conflict("The products changed while the order was placed; try again.")


async def update_status(ctx: RequestContext, order_id: str, status: OrderStatus) -> Order:
    viewer = await auth.require_viewer(ctx)
    ref = entities.OrderRef.decode(order_id)
    for _ in range(ATTEMPTS):
        order = await _read_order(ctx, ref)
        if not viewer.is_admin:
            if order.user_id != viewer.id:
                raise Forbidden("This order belongs to another customer")
            if status is not OrderStatus.CANCELLED:
                raise Forbidden("A customer may only cancel their own order")
        if status not in TRANSITIONS.get(order.status, frozenset()):
            raise InvalidStatusTransition(
                f"An order in {order.status.value} cannot move to {status.value}",
                currentStatus=order.status.value,
            )
        restock: list[tuple[str, int]] = []
        if status is OrderStatus.CANCELLED:
            lines = await order_lines(ctx.db, order.number)
            found = await ctx.db.batch_get(
                [entities.PRODUCT.key(id=line.product_id) for line in lines], consistent=True
            )
            tracked = {i["id"] for i in found if i and i.get("stock") is not None}
            restock = [
                (line.product_id, line.quantity) for line in lines if line.product_id in tracked
            ]
        updated_at = now_iso()
        tx = order_writes.status_change_transaction(
            ctx.db, order, status, updated_at, ctx.settings.status_shards, restock
        )
        try:
            await transact(ctx.db, tx)
        except Cancelled as cancelled:
            if cancelled.failed("order"):
                current = cancelled.old_item("order")
                now = OrderStatus(current["status"]) if current else None
                if now is None:
                    raise NotFound("No such order") from None
                if status not in TRANSITIONS.get(now, frozenset()):
                    raise InvalidStatusTransition(
                        f"The order moved to {now.value} meanwhile; it cannot move to "
                        f"{status.value}",
                        currentStatus=now.value,
                    ) from None
                raise Conflict(
                    f"The order moved to {now.value} meanwhile", currentStatus=now.value
                ) from None
            continue  # a product stopped tracking stock: read again
        changed = replace(order, status=status, updated_at=updated_at)
        ctx.loaders.orders.clear(ref).prime(ref, changed)
        if status is OrderStatus.COMPLETED:
            ctx.loaders.users.clear(order.user_id)
        return changed
    raise Conflict("The order's products changed meanwhile; try again.")


async def delete_order(ctx: RequestContext, order_id: str) -> bool:
    await auth.require_admin(ctx)
    ref = entities.OrderRef.decode(order_id)
    order = await _read_order(ctx, ref)
    lines = await order_lines(ctx.db, order.number)
    try:
        await order_writes.delete_order(ctx.db, order, lines)
    except Cancelled:
        raise NotFound("No such order") from None
    ctx.loaders.orders.clear(ref)
    return True


async def flag_order(ctx: RequestContext, order_id: str, reason: str) -> Order:
    await auth.require_admin(ctx)
    ref = entities.OrderRef.decode(order_id)
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise BadUserInput(f"reason must be 1-{MAX_REASON} characters")
    order = await order_writes.set_flag(ctx.db, ref, OrderFlag(reason, now_iso()))
    ctx.loaders.orders.clear(ref).prime(ref, order)
    return order


async def unflag_order(ctx: RequestContext, order_id: str) -> Order:
    await auth.require_admin(ctx)
    ref = entities.OrderRef.decode(order_id)
    order = await order_writes.set_flag(ctx.db, ref, None)
    ctx.loaders.orders.clear(ref).prime(ref, order)
    return order
