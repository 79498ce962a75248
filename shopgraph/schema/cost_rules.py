"""What each field of the schema reads and writes, in DynamoDB capacity units.

Counts are bounds: a page holds `first` items, an order up to its most lines,
every key asked for is read. Sizes are typical: an item is priced at the size
its kind usually has (ITEM_BYTES, checked against the demo data by the tests).
A Query reads its page's sizes summed and rounded up to 4 KB; a key read
rounds each item up on its own. Reads are eventually consistent unless the
code reads strongly (writes check what they change that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopgraph.data import entities
from shopgraph.data.cost import key_read_units, query_read_units, write_units
from shopgraph.data.model import Entity
from shopgraph.domain.orders import MAX_PRODUCTS_PER_ORDER as MOST_LINES
from shopgraph.schema.query_cost import FieldCost, Rule, Rules

# Typical stored sizes, in bytes, of the items fields read and write, by
# entity: a little above the demo data's largest (tests/test_query_cost.py
# keeps them honest).
ITEM_BYTES = {
    entities.PRODUCT.name: 256,
    entities.ORDER.name: 640,  # with its lines, up to five of them
    entities.ORDER_LINE.name: 128,
    entities.USER.name: 320,
    entities.EMAIL_GUARD.name: 128,
    entities.SESSION.name: 256,
    entities.VIEW_COUNTER.name: 96,
    entities.SALES_STATS.name: 128,
    entities.ATTEMPT_COUNTER.name: 128,
    entities.IDEMPOTENCY.name: 256,
}


PRODUCT, ORDER, LINE, USER = entities.PRODUCT, entities.ORDER, entities.ORDER_LINE, entities.USER
COUNTER, IDEMPOTENCY = entities.ATTEMPT_COUNTER, entities.IDEMPOTENCY


def _bytes(entity: Entity[Any]) -> int:
    return ITEM_BYTES[entity.name]


def _keys(entity: Entity[Any], count: int = 1, *, consistent: bool = False) -> float:
    return key_read_units(count, _bytes(entity), consistent=consistent)


def _page(entity: Entity[Any], first: int) -> float:
    # query_page asks for first + 1 items: the extra one makes hasNextPage exact.
    return query_read_units(first + 1, _bytes(entity))


def _write(entity: Entity[Any], *, transaction: bool = False) -> float:
    """Writing one item: 1 unit per KB (2 in a transaction), in the table and
    again in each index that holds the entity (sparse ones counted too)."""
    return write_units(_bytes(entity), transaction=transaction) * len(entity.keys)


# The signed-in user's lookup: the session, then the user.
VIEWER_UNITS = _keys(entities.SESSION) + _keys(entities.USER)


# Arguments come as graphql-core coerces them: input objects are dicts.


def _length(value: Any, name: str | None = None) -> int:
    """The length of a list argument, or of a list inside an input object."""
    if name is not None:
        value = value.get(name) if isinstance(value, Mapping) else None
    return len(value) if isinstance(value, list) else 0


def _first(args: Mapping[str, Any]) -> int:
    first = args.get("first", 20)
    return max(first, 0) if isinstance(first, int) else 0


def _idempotency_key(value: Any) -> int:
    return 1 if isinstance(value, Mapping) and value.get("idempotencyKey") else 0


def rules(*, status_shards: int, view_shards: int) -> Rules:
    def fixed(units: float = 0.0, *, viewer: bool = False) -> Rule:
        cost = FieldCost(units=units, viewer=viewer)
        return lambda args: cost

    def key_list(kind: Entity[Any], argument: str, *, viewer: bool = False) -> Rule:
        def rule(args: Mapping[str, Any]) -> FieldCost:
            count = _length(args.get(argument))
            return FieldCost(units=_keys(kind, count), items=count, viewer=viewer)

        return rule

    def connection(kind: Entity[Any], queries: int = 1, *, viewer: bool = False) -> Rule:
        def rule(args: Mapping[str, Any]) -> FieldCost:
            first = _first(args)
            return FieldCost(units=queries * _page(kind, first), page=first, viewer=viewer)

        return rule

    def place_order(args: Mapping[str, Any]) -> FieldCost:
        lines = min(_length(args.get("input"), "items"), MOST_LINES)
        keyed = _idempotency_key(args.get("input"))
        reads = _keys(PRODUCT, lines, consistent=True) + keyed * _keys(IDEMPOTENCY, consistent=True)
        # The order; a line and a stock update (or check) per product; the record.
        writes = (
            _write(ORDER, transaction=True)
            + lines * (_write(LINE, transaction=True) + _write(PRODUCT, transaction=True))
            + keyed * _write(IDEMPOTENCY, transaction=True)
        )
        return FieldCost(units=reads + writes, viewer=True)

    def transfer(args: Mapping[str, Any]) -> FieldCost:
        keyed = _idempotency_key(args.get("input"))
        reads = _keys(USER, 2, consistent=True) + keyed * _keys(IDEMPOTENCY, consistent=True)
        writes = 2 * _write(USER, transaction=True) + keyed * _write(IDEMPOTENCY, transaction=True)
        return FieldCost(units=reads + writes, viewer=True)

    # A status change reads the order; a cancel reads its products and puts
    # their stock back; completing awards the owner points.
    status_change = (
        _keys(ORDER, consistent=True)
        + _keys(PRODUCT, MOST_LINES, consistent=True)
        + _write(ORDER, transaction=True)
        + MOST_LINES * _write(PRODUCT, transaction=True)
        + _write(USER, transaction=True)
    )
    # The order and its lines, all deleted.
    delete_order = (
        _keys(ORDER, consistent=True)
        + query_read_units(MOST_LINES, _bytes(LINE))
        + _write(ORDER, transaction=True)
        + MOST_LINES * _write(LINE, transaction=True)
    )
    # Log-in reads its two attempt counters and the email guard strongly, then
    # the user; it counts a failure in both counters, or opens a session.
    log_in = (
        _keys(COUNTER, 3, consistent=True)
        + _keys(USER, consistent=True)
        + 2 * _write(COUNTER)
        + _write(entities.SESSION)
    )
    # Sign-up: the address's counter; the user and its email guard; a session.
    sign_up = (
        _keys(COUNTER, consistent=True)
        + _write(COUNTER)
        + _write(USER, transaction=True)
        + _write(entities.EMAIL_GUARD, transaction=True)
        + _write(entities.SESSION)
    )
    return {
        "Query.viewer": fixed(viewer=True),
        "Query.user": fixed(_keys(USER)),
        "Query.userByEmail": fixed(query_read_units(1, _bytes(USER)), viewer=True),
        "Query.product": fixed(_keys(PRODUCT)),
        "Query.products": key_list(PRODUCT, "ids"),
        "Query.productsByCategory": connection(PRODUCT),
        "Query.order": fixed(_keys(ORDER), viewer=True),
        # Any kind of object: priced as the largest, an order (which needs a viewer).
        "Query.node": fixed(_keys(ORDER), viewer=True),
        "Query.nodes": key_list(ORDER, "ids", viewer=True),
        "Query.ordersByStatus": connection(ORDER, status_shards, viewer=True),
        "Query.flaggedOrders": connection(ORDER, viewer=True),
        "Query.salesStats": fixed(_keys(entities.SALES_STATS), viewer=True),
        "Query._entities": key_list(ORDER, "representations", viewer=True),
        "User.email": fixed(viewer=True),
        "User.role": fixed(viewer=True),
        "User.points": fixed(viewer=True),
        "User.createdAt": fixed(viewer=True),
        "User.orders": connection(ORDER, viewer=True),
        "Order.user": fixed(_keys(USER)),
        "Order.items": lambda args: FieldCost(items=MOST_LINES),
        "OrderItem.product": fixed(_keys(PRODUCT)),
        "Product.viewCount": fixed(_keys(entities.VIEW_COUNTER, view_shards)),
        # One order's changes: that order is read once, to check whose it is.
        "Subscription.orderStatusChanged": lambda args: FieldCost(
            units=_keys(ORDER) if args.get("orderId") else 0.0, viewer=True
        ),
        "Mutation.signUp": fixed(sign_up),
        "Mutation.logIn": fixed(log_in),
        "Mutation.logOut": fixed(_write(entities.SESSION), viewer=True),
        "Mutation.createProduct": fixed(_write(PRODUCT), viewer=True),
        "Mutation.updateProduct": fixed(_write(PRODUCT), viewer=True),
        "Mutation.recordProductView": fixed(_write(entities.VIEW_COUNTER)),
        "Mutation.placeOrder": place_order,
        "Mutation.updateOrderStatus": fixed(status_change, viewer=True),
        "Mutation.deleteOrder": fixed(delete_order, viewer=True),
        "Mutation.flagOrder": fixed(_write(ORDER), viewer=True),
        "Mutation.unflagOrder": fixed(_write(ORDER), viewer=True),
        "Mutation.transferPoints": transfer,
    }
