"""What happens to orders: placing one, moving its status, deleting, flagging.

Each function takes the acting user (already signed in), applies the shop's
rules, writes one transaction of named steps (`data/order_writes.py`), and turns
a cancellation into the domain error it means. Callers only check who is
asking and shape the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shopgraph.data import entities, model, order_writes
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import (
    Order,
    OrderFlag,
    OrderLine,
    OrderRef,
    OrderStatus,
    Product,
    User,
)
from shopgraph.data.idempotency import KeyedRequest, once, transact_once
from shopgraph.data.orders import lines_of
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


async def read_order(db: Dynamo, ref: OrderRef) -> Order:
    item = await db.get(ref.key, consistent=True)
    if item is None:
        raise NotFound("No such order")
    return Order.from_item(item)


# ------------------------------------------------------------------ placeOrder


async def place_order(
    db: Dynamo,
    buyer: User,
    lines: list[tuple[str, int]],
    idempotency_key: str | None,
    *,
    status_shards: int,
) -> Order:
    """The order, its lines and the stock of every product that tracks stock,
    in one transaction, priced at commit; sent again under the same key, the
    first order."""
    merged = merge_lines(lines)
    keyed = KeyedRequest.of(
        db, buyer.id, idempotency_key, PLACE_ORDER, {"lines": sorted(merged.items())}
    )

    async def first_order(result: dict[str, str]) -> Order:
        return await read_order(db, OrderRef.decode(result["orderId"]))

    async def run() -> Order:
        for _ in range(ATTEMPTS):
            order = await _try_place(db, buyer, merged, keyed, status_shards)
            if order is not None:
                return order
        raise Conflict("The products changed while the order was placed; try again.")

    return await once(keyed, run, first_order)


async def _try_place(
    db: Dynamo,
    buyer: User,
    merged: dict[str, int],
    keyed: KeyedRequest | None,
    status_shards: int,
) -> Order | None:
    """One attempt; None when a price or stock tracking changed meanwhile (or
    the number was taken), and the order is to be priced again."""
    found = await db.batch_get([entities.PRODUCT.key(id=p) for p in merged], consistent=True)
    products = {p.id: p for p in (Product.from_item(i) for i in found if i)}
    unknown = [p for p in merged if p not in products]
    if unknown:
        raise BadUserInput("Unknown products", productIds=unknown)
    short = [p for p, q in merged.items() if _stock(products[p]) < q]
    if short:
        if keyed is not None:
            await keyed.replay_if_done()  # a concurrent retry may be what took the stock
        raise OutOfStock("Not enough stock", productIds=short)

    number = order_writes.new_order_number()
    # By product id, as an order's lines are always answered.
    lines = [OrderLine(number, p, merged[p], products[p].price) for p in sorted(merged)]
    total = order_writes.order_total(lines)
    order = Order(buyer.id, number, OrderStatus.PENDING, total, now_iso(), lines=tuple(lines))
    tx = order_writes.place_order_transaction(db, order, lines, products, status_shards)
    if keyed is not None:
        keyed.record_in(tx, {"orderId": order.id})
    try:
        await transact_once(db, tx, keyed)
    except Cancelled as cancelled:
        short = []
        for line in lines:
            step = order_writes.product_step(line.product_id)
            old = cancelled.old_item(step)
            if cancelled.failed(step) and old is None:
                raise BadUserInput("Unknown products", productIds=[line.product_id]) from None
            if old and old.get("stock") is not None and int(old["stock"]) < line.quantity:
                short.append(line.product_id)
        if short:
            raise OutOfStock("Not enough stock", productIds=short) from None
        return None
    return order


def _stock(product: Product) -> float:
    return float("inf") if product.stock is None else product.stock


# ------------------------------------------------------------------ status


@dataclass(frozen=True)
class StatusChange:
    before: Order
    after: Order


async def change_status(
    db: Dynamo, actor: User, ref: OrderRef, status: OrderStatus, *, status_shards: int
) -> StatusChange:
    """Admins move orders along the transitions; an owner may only cancel. One
    transaction: completing awards the owner floor(total) points, cancelling
    puts the stock back."""
    for _ in range(ATTEMPTS):
        order = await read_order(db, ref)
        if not actor.is_admin:
            if order.user_id != actor.id:
                raise Forbidden("This order belongs to another customer")
            if status is not OrderStatus.CANCELLED:
                raise Forbidden("A customer may only cancel their own order")
        if status not in TRANSITIONS.get(order.status, frozenset()):
            raise InvalidStatusTransition(
                f"An order in {order.status.value} cannot move to {status.value}",
                currentStatus=order.status.value,
            )
        restock = await _restock(db, order) if status is OrderStatus.CANCELLED else []
        updated_at = now_iso()
        tx = order_writes.status_change_transaction(
            db, order, status, updated_at, status_shards, restock
        )
        try:
            await transact(db, tx)
        except Cancelled as cancelled:
            if cancelled.failed("order"):
                raise _moved_meanwhile(cancelled.old_item("order"), status) from None
            continue  # a product stopped tracking stock: read again
        return StatusChange(order, replace(order, status=status, updated_at=updated_at))
    raise Conflict("The order's products changed meanwhile; try again.")


async def _restock(db: Dynamo, order: Order) -> list[tuple[str, int]]:
    """What a cancel puts back: the quantity of each line whose product tracks stock."""
    lines = await lines_of(db, order)
    found = await db.batch_get(
        [entities.PRODUCT.key(id=line.product_id) for line in lines], consistent=True
    )
    tracked = {i["id"] for i in found if i and i.get("stock") is not None}
    return [(line.product_id, line.quantity) for line in lines if line.product_id in tracked]


def _moved_meanwhile(current: dict[str, object] | None, status: OrderStatus) -> Exception:
    if current is None:
        return NotFound("No such order")
    now = OrderStatus(str(current["status"]))
    if status not in TRANSITIONS.get(now, frozenset()):
        return InvalidStatusTransition(
            f"The order moved to {now.value} meanwhile; it cannot move to {status.value}",
            currentStatus=now.value,
        )
    return Conflict(f"The order moved to {now.value} meanwhile", currentStatus=now.value)


# ------------------------------------------------------------------ delete and flag


async def delete_order(db: Dynamo, ref: OrderRef) -> None:
    """The order and its lines, in one transaction."""
    order = await read_order(db, ref)
    lines = await lines_of(db, order)
    try:
        await order_writes.delete_order(db, order, lines)
    except Cancelled:
        raise NotFound("No such order") from None


async def flag_order(db: Dynamo, ref: OrderRef, reason: str) -> Order:
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise BadUserInput(f"reason must be 1-{MAX_REASON} characters")
    return await order_writes.set_flag(db, ref, OrderFlag(reason, now_iso()))


async def unflag_order(db: Dynamo, ref: OrderRef) -> Order:
    return await order_writes.set_flag(db, ref, None)
