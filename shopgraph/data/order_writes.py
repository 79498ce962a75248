"""The transactions that change orders: place, move status, delete, flag."""

from __future__ import annotations

import secrets
from dataclasses import replace
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from shopgraph.data import keys
from shopgraph.data.codec import from_attributes, key_attributes, to_attribute
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Order, OrderFlag, OrderLine, OrderStatus, Product
from shopgraph.data.idempotency import IdempotencyRecord
from shopgraph.data.transactions import TransactionBuilder, transact
from shopgraph.errors import NotFound

_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_IS_ORDER = "attribute_exists(PK) AND entityType = :order"


def new_order_number() -> str:
    return "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(10))


def place_order_items(
    db: Dynamo,
    order: Order,
    lines: list[OrderLine],
    products: dict[str, Product],
    shards: int,
    record: IdempotencyRecord | None,
) -> list[dict[str, Any]]:
    """The order, its lines, one condition per product, and the idempotency record.

    Index 0 is the order, 1..n the lines, n+1..2n the products in line order,
    and the record last.
    """
    tx = TransactionBuilder(db.table_name)
    items = [tx.put(order.to_item(shards), "attribute_not_exists(PK)")]
    items += [tx.put(line.to_item()) for line in lines]
    for line in lines:
        product = products[line.product_id]
        key = keys.PRODUCT.key(product_id=product.id)
        values = {":price": product.price, ":q": line.quantity}
        # The price the order charges is the price at commit; a product that
        # changed meanwhile fails here and the order is priced again.
        if product.stock is None:
            items.append(
                tx.check(
                    key,
                    "attribute_exists(PK) AND price = :price AND attribute_not_exists(stock)",
                    values={":price": product.price},
                )
            )
        else:
            items.append(
                tx.update(
                    key,
                    "SET stock = stock - :q",
                    "attribute_exists(PK) AND price = :price AND stock >= :q",
                    values=values,
                )
            )
    if record is not None:
        items.append(tx.put(record.to_item(), **record.condition()))
    return items


def status_change_items(
    db: Dynamo,
    order: Order,
    new_status: OrderStatus,
    updated_at: str,
    shards: int,
    restock: list[tuple[str, int]],
) -> list[dict[str, Any]]:
    """Index 0 moves the order (conditioned on the status it was read in);
    then the owner's points on COMPLETED, or the stock put back on CANCELLED."""
    tx = TransactionBuilder(db.table_name)
    moved = replace(order, status=new_status, updated_at=updated_at).to_item(shards)
    items = [
        tx.update(
            order.ref.key,
            "SET #status = :new, GSI1PK = :gsi1pk, updatedAt = :now",
            "#status = :old",
            names={"#status": "status"},
            values={
                ":new": new_status.value,
                ":old": order.status.value,
                ":gsi1pk": moved["GSI1PK"],
                ":now": updated_at,
            },
        )
    ]
    if new_status is OrderStatus.COMPLETED:
        items.append(
            tx.update(
                keys.USER.key(user_id=order.user_id),
                "ADD points :points",
                "attribute_exists(PK)",
                values={":points": int(order.total)},  # floor: totals are never negative
            )
        )
    for product_id, quantity in restock:
        items.append(
            tx.update(
                keys.PRODUCT.key(product_id=product_id),
                "SET stock = stock + :q",
                "attribute_exists(stock)",
                values={":q": quantity},
            )
        )
    return items


async def delete_order(db: Dynamo, order: Order, lines: list[OrderLine]) -> None:
    tx = TransactionBuilder(db.table_name)
    items = [tx.delete(order.ref.key, "attribute_exists(PK)")]
    items += [
        tx.delete(keys.ORDER_LINE.key(number=line.order_number, product_id=line.product_id))
        for line in lines
    ]
    await transact(db, items)


async def set_flag(db: Dynamo, ref: keys.OrderRef, flag: OrderFlag | None) -> Order:
    """Puts the order into the sparse flagged index, or takes it out (REMOVE, so
    an unflagged order has no GSI2 attributes at all)."""
    values: dict[str, Any] = {":order": keys.ORDER.entity}
    if flag is not None:
        index_key = keys.ORDER.gsi2(flagged_at=flag.flagged_at, number=ref.number)
        expression = "SET GSI2PK = :pk, GSI2SK = :sk, flagReason = :reason, flaggedAt = :at"
        values.update(
            {
                ":pk": index_key["GSI2PK"],
                ":sk": index_key["GSI2SK"],
                ":reason": flag.reason,
                ":at": flag.flagged_at,
            }
        )
    else:
        expression = "REMOVE GSI2PK, GSI2SK, flagReason, flaggedAt"
    try:
        response = await db.call(
            "UpdateItem",
            TableName=db.table_name,
            Key=key_attributes(ref.key),
            UpdateExpression=expression,
            ConditionExpression=_IS_ORDER,
            ExpressionAttributeValues={k: to_attribute(v) for k, v in values.items()},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise NotFound("No such order") from exc
        raise
    return Order.from_item(from_attributes(response["Attributes"]))


def order_total(lines: list[OrderLine]) -> Decimal:
    return sum((line.line_total for line in lines), Decimal("0"))
