"""Every entity, declared once: its attributes (a frozen dataclass), then its
table key and index keys as templates of those attributes (`model.Entity`).

Items, keys for reads, and the index keys a partial update rewrites all come
from these declarations; see `model.py` for how.
"""

from __future__ import annotations

import base64
import binascii
import enum
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from shopgraph.data.codec import Item
from shopgraph.data.model import ID_PATTERN, JSON, Codec, Copy, Derived, Entity, Key, Template
from shopgraph.data.table import GSI1, GSI2, LSI1, TABLE_INDEX
from shopgraph.data.timefmt import is_timestamp
from shopgraph.errors import BadUserInput


class Role(enum.StrEnum):
    CUSTOMER = "CUSTOMER"
    ADMIN = "ADMIN"


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


def status_shard(number: str, shards: int) -> int:
    """A stable hash of the order number (not Python's per-process hash())."""
    return zlib.crc32(number.encode()) % shards


# ------------------------------------------------------------------ users


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    role: Role
    points: int
    created_at: str
    password_hash: str

    def to_item(self) -> Item:
        return USER.item(self)

    @classmethod
    def from_item(cls, item: Item) -> User:
        return USER.from_item(item)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


USER = Entity(
    User,
    "User",
    table=Key("USER#{id}", "PROFILE"),
    indexes={GSI1: Key("USER#{email}", "PROFILE")},
    ids=("id",),
    defaults={"points": 0, "password_hash": ""},
)


@dataclass(frozen=True)
class EmailGuard:
    """Holds an email for one user: a GSI cannot enforce uniqueness, a
    conditional put of this item can."""

    email: str
    user_id: str

    def to_item(self) -> Item:
        return EMAIL_GUARD.item(self)


EMAIL_GUARD = Entity(
    EmailGuard, "EmailGuard", table=Key("EMAIL#{email}", "EMAIL"), key_only=("email",)
)


# ------------------------------------------------------------------ products


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    description: str | None
    category: str
    price: Decimal
    stock: int | None
    created_at: str
    updated_at: str | None = None

    def to_item(self) -> Item:
        return PRODUCT.item(self)

    @classmethod
    def from_item(cls, item: Item) -> Product:
        return PRODUCT.from_item(item)


PRODUCT = Entity(
    Product,
    "Product",
    table=Key("PRODUCT#{id}", "METADATA"),
    indexes={GSI1: Key("CAT#{category}", "PRODUCT#{id}")},
    ids=("id",),
)


@dataclass(frozen=True)
class ViewCounter:
    """One of a product's view-count shards: views spread over several items."""

    product_id: str
    shard: int
    count: int

    def to_item(self) -> Item:
        return VIEW_COUNTER.item(self)


VIEW_COUNTER = Entity(
    ViewCounter,
    "ViewCounter",
    table=Key("PRODUCT#{product_id}", "VIEWS#{shard}"),
    ids=("product_id",),
    key_only=("shard",),
)


# ------------------------------------------------------------------ orders


@dataclass(frozen=True)
class OrderLine:
    order_number: str
    product_id: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity

    def to_item(self) -> Item:
        return ORDER_LINE.item(self)

    @classmethod
    def from_item(cls, item: Item) -> OrderLine:
        return ORDER_LINE.from_item(item)


ORDER_LINE = Entity(
    OrderLine,
    "OrderLine",
    table=Key("ORDER#{order_number}", "ITEM#{product_id}"),
    ids=("order_number", "product_id"),
)


# An order carries its lines (they never change once it is placed), so a page
# of orders with their lines is one Query.
ORDER_LINES = {
    "codec": Codec(
        # By product id, the order in which the OrderLine items' Query answers them.
        lambda raw, values: tuple(
            sorted(
                (
                    OrderLine(
                        values["number"],
                        m["productId"],
                        int(m["quantity"]),
                        Decimal(m["unitPrice"]),
                    )
                    for m in raw
                ),
                key=lambda line: line.product_id,
            )
        ),
        lambda lines: [
            {"productId": line.product_id, "quantity": line.quantity, "unitPrice": line.unit_price}
            for line in lines
        ],
    )
}


@dataclass(frozen=True)
class OrderFlag:
    reason: str
    flagged_at: str


@dataclass(frozen=True)
class Order:
    user_id: str
    number: str
    status: OrderStatus
    total: Decimal
    created_at: str
    updated_at: str | None = None
    # Set while the order is flagged for review: the sparse GSI2 holds it then.
    flag_reason: str | None = None
    flagged_at: str | None = None
    # Written by an import of past orders (the demo seed), which counts its own
    # sales: the stream does not count its arrival as a completion.
    imported: bool | None = None
    # None on an order written before orders carried their lines: its lines
    # are then only the OrderLine items.
    lines: tuple[OrderLine, ...] | None = field(default=None, metadata=ORDER_LINES)

    @property
    def flag(self) -> OrderFlag | None:
        if self.flagged_at is None or self.flag_reason is None:
            return None
        return OrderFlag(self.flag_reason, self.flagged_at)

    def flagged(self, flag: OrderFlag | None) -> Order:
        if flag is None:
            return replace(self, flag_reason=None, flagged_at=None)
        return replace(self, flag_reason=flag.reason, flagged_at=flag.flagged_at)

    @property
    def ref(self) -> OrderRef:
        return OrderRef(self.user_id, self.created_at, self.number)

    @property
    def id(self) -> str:
        return self.ref.encode()

    def to_item(self, status_shards: int) -> Item:
        return ORDER.item(self, status_shards=status_shards)

    @classmethod
    def from_item(cls, item: Item) -> Order:
        return ORDER.from_item(item)


def _order_shard(values: Mapping[str, Any], context: Mapping[str, Any]) -> int:
    return status_shard(values["number"], context["status_shards"])


ORDER = Entity(
    Order,
    "Order",
    table=Key("USER#{user_id}", "ORDER#{created_at}#{number}"),
    indexes={
        # Orders by status, spread over `status_shards` partitions per status.
        GSI1: Key("STATUS#{status}#{shard}", "ORDER#{created_at}#{number}"),
        # Sparse: only flagged orders have these attributes.
        GSI2: Key("FLAGGED", "{flagged_at}#{number}"),
        # Orders by total: a Number sorts 9.99 < 25 < 100, a string would not.
        LSI1: Key(None, Copy("total")),
    },
    ids=("user_id", "number"),
    derived={"shard": Derived(("number",), _order_shard)},
)


# An order's public id encodes its whole key (owner, creation instant, number),
# so `order(id:)` is one read without an index.
@dataclass(frozen=True)
class OrderRef:
    user_id: str
    created_at: str
    number: str

    def encode(self) -> str:
        raw = f"{self.user_id}|{self.created_at}|{self.number}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, order_id: str) -> OrderRef:
        if not isinstance(order_id, str) or not 1 <= len(order_id) <= 200:
            raise BadUserInput("Invalid order id")
        try:
            raw = base64.urlsafe_b64decode(order_id + "=" * (-len(order_id) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadUserInput("Invalid order id") from exc
        parts = raw.split("|")
        if len(parts) != 3 or not is_timestamp(parts[1]):
            raise BadUserInput("Invalid order id")
        user_id, created_at, number = parts
        if not ID_PATTERN.match(user_id) or not ID_PATTERN.match(number):
            raise BadUserInput("Invalid order id")
        return cls(user_id, created_at, number)

    @property
    def key(self) -> dict[str, str]:
        return ORDER.key(user_id=self.user_id, created_at=self.created_at, number=self.number)


# ------------------------------------------------------------------ sessions and records


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: str
    created_at: str
    expires_at: str
    ttl: int

    def to_item(self) -> Item:
        return SESSION.item(self)

    @classmethod
    def from_item(cls, item: Item) -> Session:
        return SESSION.from_item(item)


SESSION = Entity(
    Session,
    "Session",
    table=Key("SESSION#{token_hash}", "METADATA"),
    key_only=("token_hash",),
)


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first result of a keyed mutation (see `idempotency.py`)."""

    user_id: str
    key: str
    operation: str
    request: str  # fingerprint of the arguments
    result: dict[str, Any] = field(metadata=JSON)
    ttl: int = 0

    def to_item(self) -> Item:
        return IDEMPOTENCY.item(self)


IDEMPOTENCY = Entity(
    IdempotencyRecord,
    "IdempotencyRecord",
    table=Key("IDEMPOTENCY#{user_id}#{key}", "{operation}"),
    ids=("user_id",),
    key_only=("user_id", "key", "operation"),
)


@dataclass(frozen=True)
class SalesStats:
    day: str
    completed_orders: int
    revenue: Decimal

    def to_item(self) -> Item:
        return SALES_STATS.item(self)

    @classmethod
    def from_item(cls, day: str, item: Item | None) -> SalesStats:
        return SALES_STATS.from_item(item) if item else cls(day, 0, Decimal("0"))


SALES_STATS = Entity(
    SalesStats,
    "SalesStats",
    table=Key("STATS#{day}", "SALES"),
    defaults={"completed_orders": 0, "revenue": Decimal("0")},
)


@dataclass(frozen=True)
class StreamCheckpoint:
    """A stream consumer's position in one shard."""

    consumer: str
    shard_id: str
    sequence_number: str
    position: int  # the sequence number as a Number, to keep checkpoints forward only
    updated_at: int


STREAM_CHECKPOINT = Entity(
    StreamCheckpoint,
    "StreamCheckpoint",
    table=Key("STREAM#{consumer}", "SHARD#{shard_id}"),
    key_only=("consumer", "shard_id"),
)


@dataclass(frozen=True)
class ShardLease:
    """Which stream worker reads a shard. Its owner renews it by counting up;
    another worker takes it over once the count has stood still for the lease
    time, as it sees it (so the workers' clocks need not agree)."""

    consumer: str
    shard_id: str
    counter: int
    owner: str | None = None  # None: released, free to take
    finished: bool | None = None  # the shard is closed and read to its end


SHARD_LEASE = Entity(
    ShardLease,
    "ShardLease",
    table=Key("LEASE#{consumer}", "SHARD#{shard_id}"),
    key_only=("consumer", "shard_id"),
)


@dataclass(frozen=True)
class StreamWorker:
    """A stream worker's heartbeat, beside the leases: shards are shared among
    the workers whose count moves."""

    consumer: str
    worker_id: str
    counter: int
    ttl: int  # a stopped worker's heartbeat goes by TTL


STREAM_WORKER = Entity(
    StreamWorker,
    "StreamWorker",
    table=Key("LEASE#{consumer}", "WORKER#{worker_id}"),
    key_only=("consumer", "worker_id"),
)


@dataclass(frozen=True)
class AppliedEvent:
    """Marks a stream record whose effect a consumer applied (exactly once)."""

    event_id: str
    consumer: str
    order_number: str
    ttl: int


APPLIED_EVENT = Entity(
    AppliedEvent,
    "AppliedEvent",
    table=Key("EVENT#{event_id}", "{consumer}"),
    key_only=("event_id", "consumer"),
)


@dataclass(frozen=True)
class AttemptCounter:
    """Attempts one subject (an email's log-ins, an address's) made in one
    window (see domain/attempts.py); gone by TTL once the window is over."""

    subject: str  # a hash of what is counted: no email or address in a key
    window: int  # the window's start, in seconds since the epoch
    attempts: int
    ttl: int


ATTEMPT_COUNTER = Entity(
    AttemptCounter,
    "AttemptCounter",
    table=Key("ATTEMPTS#{subject}", "WINDOW#{window}"),
    key_only=("subject", "window"),
)


ALL_ENTITIES: tuple[Entity[Any], ...] = (
    USER,
    EMAIL_GUARD,
    ORDER,
    ORDER_LINE,
    PRODUCT,
    VIEW_COUNTER,
    SESSION,
    IDEMPOTENCY,
    SALES_STATS,
    STREAM_CHECKPOINT,
    SHARD_LEASE,
    STREAM_WORKER,
    APPLIED_EVENT,
    ATTEMPT_COUNTER,
)

# Sort-key ranges used by listings: every order sort key lies in ORDER_SK_RANGE.
ORDER_SK_PREFIX = ORDER.sort_prefix()
ORDER_SK_UPPER = ORDER_SK_PREFIX + "~"  # '~' sorts after every character of a timestamp
VIEWS_SK_PREFIX = VIEW_COUNTER.sort_prefix()


def key_table_markdown() -> str:
    """The README's key table, written from the declarations themselves."""

    def cell(template: Template | Copy | None) -> str:
        if isinstance(template, Copy):
            return f"`{template.field}` (N)"
        return f"`{template.pattern}`".replace("{", "<").replace("}", ">") if template else ""

    rows = [
        "| entity | PK | SK | GSI1PK | GSI1SK | GSI2PK | GSI2SK | LSI1SK |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in ALL_ENTITIES:
        cells = [*e.keys[TABLE_INDEX]]
        for index in (GSI1, GSI2):
            cells.extend(e.keys.get(index, (None, None)))
        cells.append(e.keys.get(LSI1, (None, None))[1])
        rows.append(f"| {e.name} | " + " | ".join(map(cell, cells)) + " |")
    return "\n".join(rows) + "\n"
