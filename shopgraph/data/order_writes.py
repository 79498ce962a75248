"""The transactions that change orders: place, move status, delete, flag."""

from __future__ import annotations

import secrets
from decimal import Decimal

from shopgraph.data import entities
from shopgraph.data.dynamo import ConditionFailed, Dynamo
from shopgraph.data.entities import (
    Order,
    OrderFlag,
    OrderLine,
    OrderStatus,
    Product,
)
from shopgraph.data.transactions import Transaction, transact
from shopgraph.errors import NotFound

_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_IS_ORDER = "attribute_exists(PK) AND entityType = :order"


def new_order_number() -> str:
    return "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(10))


def product_step(product_id: str) -> str:
    return f"product {product_id}"


def line_step(product_id: str) -> str:
    return f"line {product_id}"


def restock_step(product_id: str) -> str:
    return f"restock {product_id}"


def place_order_transaction(
    db: Dynamo,
    order: Order,
    lines: list[OrderLine],
    products: dict[str, Product],
    shards: int,
) -> Transaction:
    """Steps: "order", a line_step and a product_step per line."""
    tx = Transaction(db.table_name)
    tx.put("order", order.to_item(shards), "attribute_not_exists(PK)")
    for line in lines:
        tx.put(line_step(line.product_id), line.to_item())
    for line in lines:
        product = products[line.product_id]
        key = entities.PRODUCT.key(id=product.id)
        # The price the order charges is the price at commit; a product that
        # changed meanwhile fails here and the order is priced again.
        if product.stock is None:
            tx.check(
                product_step(product.id),
                key,
                "attribute_exists(PK) AND price = :price AND attribute_not_exists(stock)",
                values={":price": product.price},
            )
        else:
            tx.update(
                product_step(product.id),
                key,
                "SET stock = stock - :q",
                "attribute_exists(PK) AND price = :price AND stock >= :q",
                values={":price": product.price, ":q": line.quantity},
            )
    return tx


def status_change_transaction(
    db: Dynamo,
    order: Order,
    new_status: OrderStatus,
    updated_at: str,
    shards: int,
    restock: list[tuple[str, int]],
) -> Transaction:
    """Steps: "order" (conditioned on the status it was read in); then "points"
    for the owner on COMPLETED, or a restock_step per product on CANCELLED."""
    tx = Transaction(db.table_name)
    # The status is part of the GSI1 key: the declaration rewrites it too.
    change = entities.ORDER.change(
        {"status": new_status, "updated_at": updated_at}, order, status_shards=shards
    )
    expression, names, values = change.render()
    tx.update(
        "order",
        order.ref.key,
        expression,
        "#status = :old",
        names={**names, "#status": "status"},
        values={**values, ":old": order.status.value},
    )
    if new_status is OrderStatus.COMPLETED:
        tx.update(
            "points",
            entities.USER.key(id=order.user_id),
            "ADD points :points",
            "attribute_exists(PK)",
            values={":points": int(order.total)},  # floor: totals are never negative
        )
    for product_id, quantity in restock:
        tx.update(
            restock_step(product_id),
            entities.PRODUCT.key(id=product_id),
            "SET stock = stock + :q",
            "attribute_exists(stock)",
            values={":q": quantity},
        )
    return tx


async def delete_order(db: Dynamo, order: Order, lines: list[OrderLine]) -> None:
    tx = Transaction(db.table_name)
    tx.delete("order", order.ref.key, "attribute_exists(PK)")
    for line in lines:
        tx.delete(
            line_step(line.product_id),
            entities.ORDER_LINE.key(order_number=line.order_number, product_id=line.product_id),
        )
    await transact(db, tx)


async def set_flag(db: Dynamo, ref: entities.OrderRef, flag: OrderFlag | None) -> Order:
    """Puts the order into the sparse flagged index, or takes it out (REMOVE, so
    an unflagged order has no GSI2 attributes at all)."""
    flag_values = {"flag_reason": flag.reason, "flagged_at": flag.flagged_at} if flag else {}
    change = entities.ORDER.change(
        {"flag_reason": None, "flagged_at": None, **flag_values}, {"number": ref.number}
    )
    expression, names, values = change.render()
    try:
        updated = await db.update(
            ref.key,
            expression,
            condition=_IS_ORDER,
            names=names,
            values={**values, ":order": entities.ORDER.name},
            return_new=True,
        )
    except ConditionFailed as exc:
        raise NotFound("No such order") from exc
    assert updated is not None
    return Order.from_item(updated)


def order_total(lines: list[OrderLine]) -> Decimal:
    return sum((line.line_total for line in lines), Decimal("0"))
