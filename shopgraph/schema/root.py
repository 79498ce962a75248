"""The Query and Mutation roots of the contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from strawberry import relay

from shopgraph.data import products, stats, users
from shopgraph.data.timefmt import validate_day
from shopgraph.domain.accounts import SignedIn
from shopgraph.domain.catalog import NewProduct
from shopgraph.domain.validation import check_category, normalize_email
from shopgraph.errors import BadUserInput, ShopError
from shopgraph.resolvers import accounts, auth, catalog, ordering, points, subscriptions
from shopgraph.resolvers import orders as order_listings
from shopgraph.schema import node_ids
from shopgraph.schema.inputs import (
    CreateProductInput,
    PlaceOrderInput,
    SignUpInput,
    TransferPointsInput,
    UpdateProductInput,
)
from shopgraph.schema.scalars import money
from shopgraph.schema.types import (
    CATALOGUE,
    AuthPayload,
    Connection,
    Ctx,
    Order,
    OrderStatus,
    OrderStatusChange,
    Product,
    SalesStats,
    TransferPointsPayload,
    User,
    order_connection,
    prefetch_view_counts,
    product_connection,
    stored_order_id,
    stored_product_id,
    stored_user_id,
)

MAX_PRODUCT_IDS = 500
MAX_NODE_IDS = 500


async def _nodes(info: Ctx, ids: list[relay.GlobalID]) -> list[relay.Node | Exception | None]:
    """Each id's object, each kind through its own loader at once, so that all
    of them go out in one batch; an object the caller may not see is its error."""
    by_type: dict[type[relay.Node], list[int]] = {}
    for n, global_id in enumerate(ids):
        if global_id.type_name not in node_ids.NODE_TYPES:
            raise BadUserInput(f"Invalid id: no object of type {global_id.type_name!r}")
        by_type.setdefault(global_id.resolve_type(info), []).append(n)
    found: list[relay.Node | Exception | None] = [None] * len(ids)
    if Order in by_type:
        # Whose the orders are decides: the viewer's reads join the others' batch.
        info.context.look_up_viewer()

    async def resolve(node_type: type[relay.Node], positions: list[int]) -> None:
        stored = [ids[n].node_id for n in positions]
        nodes = await node_type.resolve_nodes(info=info, node_ids=stored)  # type: ignore[misc]
        for n, node in zip(positions, nodes, strict=True):
            found[n] = node

    await asyncio.gather(*(resolve(t, positions) for t, positions in by_type.items()))
    return found


def _auth_payload(signed_in: SignedIn) -> AuthPayload:
    return AuthPayload(
        token=signed_in.token, expires_at=signed_in.expires_at, user=User(entity=signed_in.user)
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="Any User, Product or Order by its global id, with the same checks as "
        "user, product and order."
    )
    async def node(self, info: Ctx, id: relay.GlobalID) -> relay.Node | None:
        (found,) = await _nodes(info, [id])
        if isinstance(found, Exception):
            raise found
        return found

    @strawberry.field(
        description="Objects by global id (at most 500), in the order asked, null where unknown "
        "or denied; one BatchGetItem per 100 keys."
    )
    async def nodes(self, info: Ctx, ids: list[relay.GlobalID]) -> list[relay.Node | None]:
        if len(ids) > MAX_NODE_IDS:
            raise BadUserInput(f"nodes(ids:) takes at most {MAX_NODE_IDS} ids")
        return await _nodes(info, ids)  # type: ignore[return-value]

    @strawberry.field(
        description="The signed-in user (from the session token in `Authorization: Bearer`); "
        "null when anonymous."
    )
    async def viewer(self, info: Ctx) -> User | None:
        viewer = await info.context.viewer()
        return User(entity=viewer) if viewer else None

    @strawberry.field(
        description="A user by id, or null. Public fields: id, name. The rest: the user or an "
        "admin."
    )
    async def user(self, info: Ctx, id: strawberry.ID) -> User | None:
        return await User.resolve_reference(info, id)

    @strawberry.field(description="Admin only: a user by email (GSI1), or null.")
    async def user_by_email(self, info: Ctx, email: str) -> User | None:
        await auth.require_admin(info.context)
        user = await users.user_by_email(info.context.db, normalize_email(email))
        if user:
            info.context.loaders.users.prime(user.id, user)
        return User(entity=user) if user else None

    @strawberry.field(
        description="A product by id, or null. Public.",
        directives=[CATALOGUE],
    )
    async def product(self, info: Ctx, id: strawberry.ID) -> Product | None:
        prefetch_view_counts(info, [stored_product_id(id)])
        return await Product.resolve_reference(info, id)

    @strawberry.field(
        description="Products by id (at most 500), in the order asked, null where unknown. Public.",
        directives=[CATALOGUE],
    )
    async def products(self, info: Ctx, ids: list[strawberry.ID]) -> list[Product | None]:
        if len(ids) > MAX_PRODUCT_IDS:
            raise BadUserInput(f"products(ids:) takes at most {MAX_PRODUCT_IDS} ids")
        stored = [stored_product_id(i) for i in ids]
        prefetch_view_counts(info, stored)
        found = await info.context.loaders.products.load_many(stored)
        return [Product.of(p) if p else None for p in found]

    @strawberry.field(
        description="Products of one category (GSI1), by product id. Public.",
        directives=[CATALOGUE],
    )
    async def products_by_category(
        self, info: Ctx, category: str, first: int = 20, after: str | None = None
    ) -> Connection[Product]:
        page = await products.products_by_category(
            info.context.db, info.context.cursors, check_category(category), first, after
        )
        return product_connection(page)

    @strawberry.field(description="An order by id, or null: its owner or an admin.")
    async def order(self, info: Ctx, id: strawberry.ID) -> Order | None:
        return await Order.resolve_reference(info, id)

    @strawberry.field(
        description="Admin only: orders in one status across all users (GSI1), newest first."
    )
    async def orders_by_status(
        self, info: Ctx, status: OrderStatus, first: int = 20, after: str | None = None
    ) -> Connection[Order]:
        await auth.require_admin(info.context)
        page = await order_listings.orders_by_status(info.context, status, first, after)
        return order_connection(page)

    @strawberry.field(
        description="Admin only: orders flagged for review (sparse GSI2), most recently flagged "
        "first."
    )
    async def flagged_orders(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[Order]:
        await auth.require_admin(info.context)
        page = await order_listings.flagged_orders(info.context, first, after)
        return order_connection(page)

    @strawberry.field(
        description="Admin only: completed orders and revenue of one UTC day (YYYY-MM-DD), kept "
        "up to date from the table's stream."
    )
    async def sales_stats(self, info: Ctx, day: str) -> SalesStats:
        await auth.require_admin(info.context)
        result = await stats.sales_stats(info.context.db, validate_day(day))
        return SalesStats(
            day=result.day,
            completed_orders=result.completed_orders,
            revenue=money(result.revenue),
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Creates a customer (the email is unique, case-insensitively) and a session."
    )
    async def sign_up(self, info: Ctx, input: SignUpInput) -> AuthPayload:
        signed_in = await accounts.sign_up(info.context, input.email, input.name, input.password)
        return _auth_payload(signed_in)

    @strawberry.mutation(
        description="Opens a session. Wrong email or password: INVALID_CREDENTIALS, the same for "
        "both."
    )
    async def log_in(self, info: Ctx, email: str, password: str) -> AuthPayload:
        return _auth_payload(await accounts.log_in(info.context, email, password))

    @strawberry.mutation(description="Ends the caller's session (its token stops working at once).")
    async def log_out(self, info: Ctx) -> bool:
        return await accounts.log_out(info.context)

    @strawberry.mutation(description="Admin only.")
    async def create_product(self, info: Ctx, input: CreateProductInput) -> Product:
        new = NewProduct(
            id=input.id,
            name=input.name,
            description=input.description,
            category=input.category,
            price=input.price,
            stock=input.stock,
        )
        return Product.of(await catalog.create_product(info.context, new))

    @strawberry.mutation(
        description="Admin only. Moving a product to another category moves it in "
        "productsByCategory."
    )
    async def update_product(
        self, info: Ctx, id: strawberry.ID, input: UpdateProductInput
    ) -> Product:
        product = await catalog.update_product(info.context, stored_product_id(id), input.changes())
        return Product.of(product)

    @strawberry.mutation(
        description="Counts one view of a product in a write-sharded counter. Public."
    )
    async def record_product_view(self, info: Ctx, product_id: strawberry.ID) -> bool:
        return await catalog.record_view(info.context, stored_product_id(product_id))

    @strawberry.mutation(
        description="Places an order for the viewer in one transaction: the order, its lines, and "
        "the stock of every product that tracks stock."
    )
    async def place_order(self, info: Ctx, input: PlaceOrderInput) -> Order:
        lines = [(stored_product_id(line.product_id), line.quantity) for line in input.items]
        try:
            order = await ordering.place_order(info.context, lines, input.idempotency_key)
        except ShopError as refused:
            # The products it names, by the ids clients hold: Product.id's.
            named = refused.details.get("productIds")
            if named is not None:
                refused.details["productIds"] = [node_ids.global_id("Product", i) for i in named]
            raise
        return Order(entity=order)

    @strawberry.mutation(
        description="Admins move orders along PENDING -> PAID -> SHIPPED -> COMPLETED, or to "
        "CANCELLED from PENDING or PAID; an owner may cancel their own PENDING or PAID order. One "
        "transaction: completing awards the owner floor(total) points, cancelling puts the stock "
        "back."
    )
    async def update_order_status(self, info: Ctx, id: strawberry.ID, status: OrderStatus) -> Order:
        order = await ordering.update_status(info.context, stored_order_id(id), status)
        return Order(entity=order)

    @strawberry.mutation(
        description="Admin only: deletes an order and its lines in one transaction."
    )
    async def delete_order(self, info: Ctx, id: strawberry.ID) -> bool:
        return await ordering.delete_order(info.context, stored_order_id(id))

    @strawberry.mutation(description="Admin only: puts the order into the sparse flagged index.")
    async def flag_order(self, info: Ctx, id: strawberry.ID, reason: str) -> Order:
        return Order(entity=await ordering.flag_order(info.context, stored_order_id(id), reason))

    @strawberry.mutation(description="Admin only: takes the order out of the flagged index.")
    async def unflag_order(self, info: Ctx, id: strawberry.ID) -> Order:
        return Order(entity=await ordering.unflag_order(info.context, stored_order_id(id)))

    @strawberry.mutation(
        description="Moves points from the viewer to another user in one transaction; never "
        "overdraws."
    )
    async def transfer_points(self, info: Ctx, input: TransferPointsInput) -> TransferPointsPayload:
        transfer = await points.transfer_points(
            info.context, stored_user_id(input.to_user_id), input.points, input.idempotency_key
        )
        return TransferPointsPayload(
            from_=User(entity=transfer.sender),
            to=User(entity=transfer.recipient),
            points=transfer.points,
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Status changes of the viewer's orders (an admin: of every order), or of one "
        "order, pushed from the table's stream."
    )
    async def order_status_changed(
        self,
        info: Ctx,
        order_id: strawberry.ID | None = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="The `cursor` of the last change received: resume after it "
                "(changes since then come first, none twice); INVALID_CURSOR where it "
                "is no longer kept."
            ),
        ] = None,
    ) -> AsyncGenerator[OrderStatusChange, None]:
        one_order = None if order_id is None else stored_order_id(order_id)
        async for change in subscriptions.order_status_changes(info.context, one_order, after):
            yield OrderStatusChange(
                order=Order(entity=change.order),
                previous_status=change.previous_status,
                status=change.order.status,
                changed_at=change.changed_at,
                event_id=strawberry.ID(change.event_id),
                cursor=change.position or "",
            )
