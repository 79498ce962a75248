"""The contract's object types. Each wraps an entity and resolves its
relations through the request's dataloaders; private fields check who asks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import strawberry
import strawberry.federation
from graphql import FieldNode, FragmentSpreadNode
from strawberry import relay
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info
from strawberry.types.unset import UNSET

from shopgraph.data import entities, model
from shopgraph.data import orders as data_orders
from shopgraph.data.paging import Page
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext
from shopgraph.resolvers.orders import user_orders, visible_order
from shopgraph.schema import node_ids
from shopgraph.schema.cache_hints import INHERIT, public
from shopgraph.schema.scalars import DateTime, Decimal, money

Ctx = Info[RequestContext, None]

Role = strawberry.enum(entities.Role, name="Role")
OrderStatus = strawberry.enum(entities.OrderStatus, name="OrderStatus")


# The data layer's sort, under the contract's name.
OrderOrder = strawberry.enum(data_orders.OrderSort, name="OrderOrder")

# Public cache hints (README: HTTP caching). A catalogue entry changes rarely;
# stock and view counts move with every order and view.
CATALOGUE_MAX_AGE = 60
COUNTER_MAX_AGE = 10
CATALOGUE = public(CATALOGUE_MAX_AGE)
COUNTER = public(COUNTER_MAX_AGE)


@strawberry.type
class PageInfo:
    page: strawberry.Private[Page]

    @strawberry.field(
        description="Exact: true only when another item exists after this page.",
        directives=[INHERIT],
    )
    def has_next_page(self) -> bool:
        return self.page.has_next_page

    @strawberry.field(directives=[INHERIT])
    def has_previous_page(self) -> bool:
        return self.page.has_previous_page

    @strawberry.field(directives=[INHERIT])
    def start_cursor(self) -> str | None:
        return self.page.cursor(0) if self.page.items else None

    @strawberry.field(directives=[INHERIT])
    def end_cursor(self) -> str | None:
        return self.page.cursor(-1) if self.page.items else None


def stored_user_id(value: object) -> str:
    """A user's stored id from its global id, or from the stored id itself."""
    return model.validate_id(node_ids.stored_id(value, "User", "user id"), "user id")


def stored_product_id(value: object) -> str:
    return model.validate_id(node_ids.stored_id(value, "Product", "product id"), "product id")


def stored_order_id(value: object) -> str:
    return node_ids.stored_id(value, "Order", "order id")


@strawberry.federation.type(keys=["id"])
class User(relay.Node):
    entity: strawberry.Private[entities.User]

    @classmethod
    def resolve_id(cls, root: User, *, info: Info) -> str:
        return root.entity.id

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> User | None:
        # Through the same loader as every other read: 50 references, one batch.
        user = await info.context.loaders.users.load(stored_user_id(id))
        return cls(entity=user) if user else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Ctx, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        ids = [model.validate_id(i, "user id") for i in node_ids]
        found = await info.context.loaders.users.load_many(ids)
        return [cls(entity=user) if user else None for user in found]

    @strawberry.field
    def name(self) -> str:
        return self.entity.name

    # The fields only the user and admins may see are nullable: a denied one
    # is null with its own error, and the public id and name still arrive.
    @strawberry.field
    async def email(self, info: Ctx) -> str | None:
        await auth.require_self_or_admin(info.context, self.entity.id)
        return self.entity.email

    @strawberry.field
    async def role(self, info: Ctx) -> Role | None:
        await auth.require_self_or_admin(info.context, self.entity.id)
        return self.entity.role

    @strawberry.field
    async def points(self, info: Ctx) -> int | None:
        await auth.require_self_or_admin(info.context, self.entity.id)
        return self.entity.points

    @strawberry.field
    async def created_at(self, info: Ctx) -> DateTime | None:
        await auth.require_self_or_admin(info.context, self.entity.id)
        return DateTime(self.entity.created_at)

    @strawberry.field(
        description=(
            "One page of the user's orders, from one single-partition Query.\n"
            "placedOn: a date prefix, YYYY, YYYY-MM or YYYY-MM-DD; since/until: inclusive bounds.\n"
            "The date filters go with NEWEST_FIRST or OLDEST_FIRST only."
        )
    )
    async def orders(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        order_by: OrderOrder = OrderOrder.NEWEST_FIRST,
        placed_on: str | None = None,
        since: DateTime | None = None,
        until: DateTime | None = None,
    ) -> Connection[Order] | None:
        await auth.require_self_or_admin(info.context, self.entity.id)
        page = await user_orders(
            info.context,
            self.entity.id,
            first=first,
            after=after,
            sort=order_by,
            placed_on=placed_on,
            since=since,
            until=until,
        )
        return order_connection(page)


def asks_for(info: Ctx, name: str) -> bool:
    """Whether the current field's selection (through fragments too) holds `name`.

    It walks graphql-core's nodes: strawberry's `selected_fields` would build
    its own copy of the whole selection first, at several times the cost."""
    raw = info._raw_info
    pending: list[Any] = [
        s for node in raw.field_nodes if node.selection_set for s in node.selection_set.selections
    ]
    walked: set[str] = set()  # a fragment spread many times is looked through once
    while pending:
        selection = pending.pop()
        if isinstance(selection, FragmentSpreadNode):
            fragment = raw.fragments.get(selection.name.value)
            if fragment is not None and fragment.name.value not in walked:
                walked.add(fragment.name.value)
                pending.extend(fragment.selection_set.selections)
            continue
        if isinstance(selection, FieldNode) and selection.name.value == name:
            return True
        if selection.selection_set is not None:
            pending.extend(selection.selection_set.selections)
    return False


def prefetch_view_counts(info: Ctx, product_ids: list[str]) -> None:
    """Asks for the products' view counts in the tick that asks for the
    products, so both go out in one BatchGetItem; the field awaits it later."""
    if not asks_for(info, "viewCount"):
        return
    future = info.context.loaders.view_counts.load_many(product_ids)
    # Awaited by viewCount, unless a product is absent: then nobody looks.
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


# The key first, so the SDL reads `type Product @key(fields: "id") @cacheControl(...)`.
@strawberry.federation.type(directives=[Key(fields=FieldSet("id"), resolvable=UNSET), CATALOGUE])
class Product(relay.Node):
    # Plain fields, filled once from the entity: strawberry resolves them
    # without a resolver call each, which a page of 20 products asks 60 times.
    # Every field is public; each carries its hint, as a field added without
    # one makes any query that asks it uncacheable.
    entity: strawberry.Private[entities.Product]
    stored_id: relay.NodeID[str]
    name: str = strawberry.field(directives=[CATALOGUE])
    description: str | None = strawberry.field(directives=[CATALOGUE])
    category: str = strawberry.field(directives=[CATALOGUE])
    price: Decimal = strawberry.field(directives=[CATALOGUE])
    stock: int | None = strawberry.field(
        description="Units left; null where the product does not track stock.",
        directives=[COUNTER],
    )
    created_at: DateTime = strawberry.field(directives=[CATALOGUE])
    updated_at: DateTime | None = strawberry.field(directives=[CATALOGUE])

    @classmethod
    def of(cls, product: entities.Product) -> Product:
        return cls(
            entity=product,
            stored_id=product.id,
            _id=relay.GlobalID(type_name="Product", node_id=product.id),
            name=product.name,
            description=product.description,
            category=product.category,
            price=money(product.price),
            stock=product.stock,
            created_at=DateTime(product.created_at),
            updated_at=DateTime(product.updated_at) if product.updated_at else None,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Product | None:
        product = await info.context.loaders.products.load(stored_product_id(id))
        return cls.of(product) if product else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Ctx, node_ids: Iterable[str], required: bool = False
    ) -> list[Product | None]:
        ids = [model.validate_id(i, "product id") for i in node_ids]
        found = await info.context.loaders.products.load_many(ids)
        return [cls.of(product) if product else None for product in found]

    # Node's id, with the catalogue's cache hint like every other Product field;
    # a plain field too (Node's own resolves it, at 6 µs a product).
    _id: relay.GlobalID = strawberry.field(  # type: ignore[assignment]
        name="id", description="The Globally Unique ID of this object", directives=[CATALOGUE]
    )

    @strawberry.field(
        description="The sum of the product's sharded view counters.", directives=[COUNTER]
    )
    async def view_count(self, info: Ctx) -> int:
        return await info.context.loaders.view_counts.load(self.entity.id)


@strawberry.type
class OrderFlag:
    reason: str
    flagged_at: DateTime


@strawberry.type
class OrderItem:
    line: strawberry.Private[entities.OrderLine]

    @strawberry.field(description="The product's global id, as Product.id.")
    def product_id(self) -> strawberry.ID:
        return strawberry.ID(node_ids.global_id("Product", self.line.product_id))

    @strawberry.field(description="Null where the product has since been deleted.")
    async def product(self, info: Ctx) -> Product | None:
        product = await info.context.loaders.products.load(self.line.product_id)
        return Product.of(product) if product else None

    @strawberry.field
    def quantity(self) -> int:
        return self.line.quantity

    @strawberry.field(description="The product's price when the order was placed.")
    def unit_price(self) -> Decimal:
        return money(self.line.unit_price)

    @strawberry.field
    def line_total(self) -> Decimal:
        return money(self.line.line_total)


@strawberry.federation.type(keys=["id"])
class Order(relay.Node):
    entity: strawberry.Private[entities.Order]

    @classmethod
    def resolve_id(cls, root: Order, *, info: Info) -> str:
        # The stored id encodes the order's whole key, so a lookup is one read.
        return root.entity.id

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Order | None:
        order = await visible_order(info.context, stored_order_id(id))
        return cls(entity=order) if order else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Ctx, node_ids: Iterable[str], required: bool = False
    ) -> list[Order | Exception | None]:
        # Each order on its own: one that is someone else's is null with
        # FORBIDDEN, as order(id:) is, and the others still answer.
        async def one(stored: str) -> Order | Exception | None:
            try:
                order = await visible_order(info.context, stored)
            except Exception as denied:  # graphql-core reports it on this item alone
                return denied
            return cls(entity=order) if order else None

        return list(await asyncio.gather(*(one(i) for i in node_ids)))

    @strawberry.field(description="The short order number shown to people.")
    def number(self) -> str:
        return self.entity.number

    @strawberry.field
    async def user(self, info: Ctx) -> User:
        user = await info.context.loaders.users.load(self.entity.user_id)
        if user is None:
            raise LookupError(f"order {self.entity.number} has no user {self.entity.user_id}")
        return User(entity=user)

    @strawberry.field
    def status(self) -> OrderStatus:
        return self.entity.status

    @strawberry.field
    def total(self) -> Decimal:
        return money(self.entity.total)

    @strawberry.field
    def items(self, info: Ctx) -> list[OrderItem]:
        lines = self.entity.lines
        if lines is None:  # an order written before orders carried their lines
            # graphql-core awaits what a resolver returns: only these orders wait.
            return self._stored_lines(info)  # type: ignore[return-value]
        return [OrderItem(line=line) for line in lines]

    async def _stored_lines(self, info: Ctx) -> list[OrderItem]:
        lines = await info.context.loaders.order_lines.load(self.entity.number)
        return [OrderItem(line=line) for line in lines]

    @strawberry.field
    def created_at(self) -> DateTime:
        return DateTime(self.entity.created_at)

    @strawberry.field
    def updated_at(self) -> DateTime | None:
        return DateTime(self.entity.updated_at) if self.entity.updated_at else None

    @strawberry.field(description="Set while the order is in the flagged index.")
    def flag(self) -> OrderFlag | None:
        flag = self.entity.flag
        return OrderFlag(reason=flag.reason, flagged_at=DateTime(flag.flagged_at)) if flag else None


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    node: T = strawberry.field(directives=[INHERIT])
    page: strawberry.Private[Page]
    index: strawberry.Private[int]

    @strawberry.field(directives=[INHERIT])
    def cursor(self) -> str:
        return self.page.cursor(self.index)


@strawberry.type
class Connection(Generic[T]):
    """A page of any listing; strawberry names Connection[Order] `OrderConnection`."""

    # Inheriting: public under productsByCategory, private under an order listing.
    edges: list[Edge[T]] = strawberry.field(directives=[INHERIT])
    page_info: PageInfo = strawberry.field(directives=[INHERIT])

    @strawberry.field(directives=[INHERIT])
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]

    @classmethod
    def of(cls, page: Page, node: Callable[[dict[str, Any]], T]) -> Connection[T]:
        edges = [Edge(node=node(item), page=page, index=n) for n, item in enumerate(page.items)]
        return cls(edges=edges, page_info=PageInfo(page=page))


def order_connection(page: Page) -> Connection[Order]:
    return Connection.of(page, lambda item: Order(entity=entities.Order.from_item(item)))


def product_connection(page: Page) -> Connection[Product]:
    return Connection.of(page, lambda item: Product.of(entities.Product.from_item(item)))


@strawberry.type
class AuthPayload:
    token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    expires_at: DateTime
    user: User


@strawberry.type
class OrderStatusChange:
    order: Order
    previous_status: OrderStatus | None
    status: OrderStatus
    changed_at: DateTime
    event_id: strawberry.ID = strawberry.field(
        description="The change's own id, the same on every server and however often "
        "it is sent: drop a change whose id you have seen."
    )
    cursor: str = strawberry.field(
        description="Pass as `after` when subscribing again, to resume after this change."
    )


@strawberry.type
class TransferPointsPayload:
    from_: User = strawberry.field(name="from")
    to: User
    points: int


@strawberry.type
class SalesStats:
    day: str
    completed_orders: int
    revenue: Decimal
