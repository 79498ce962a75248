"""The entities as the service sees them, mapped to and from table items."""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopgraph.data import keys
from shopgraph.data.codec import Item


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
        return {
            **keys.USER.key(user_id=self.id),
            **keys.USER.gsi1(email=self.email),
            "entityType": keys.USER.entity,
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "role": self.role.value,
            "points": self.points,
            "createdAt": self.created_at,
            "passwordHash": self.password_hash,
        }

    @classmethod
    def from_item(cls, item: Item) -> User:
        return cls(
            id=item["id"],
            name=item["name"],
            email=item["email"],
            role=Role(item["role"]),
            points=int(item.get("points", 0)),
            created_at=item["createdAt"],
            password_hash=item.get("passwordHash", ""),
        )

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def email_guard_item(email: str, user_id: str) -> Item:
    return {
        **keys.EMAIL_GUARD.key(email=email),
        "entityType": keys.EMAIL_GUARD.entity,
        "userId": user_id,
    }


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
        return {
            **keys.PRODUCT.key(product_id=self.id),
            **keys.PRODUCT.gsi1(category=self.category, product_id=self.id),
            "entityType": keys.PRODUCT.entity,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "price": self.price,
            "stock": self.stock,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_item(cls, item: Item) -> Product:
        stock = item.get("stock")
        return cls(
            id=item["id"],
            name=item["name"],
            description=item.get("description"),
            category=item["category"],
            price=Decimal(item["price"]),
            stock=int(stock) if stock is not None else None,
            created_at=item["createdAt"],
            updated_at=item.get("updatedAt"),
        )


def view_counter_item(product_id: str, shard: int, count: int) -> Item:
    return {
        **keys.VIEW_COUNTER.key(product_id=product_id, shard=shard),
        "entityType": keys.VIEW_COUNTER.entity,
        "productId": product_id,
        "count": count,
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
    flag: OrderFlag | None = None
    # Written by an import of past orders (the demo seed), which counts its own
    # sales: the stream does not count its arrival as a completion.
    imported: bool = False

    @property
    def ref(self) -> keys.OrderRef:
        return keys.OrderRef(self.user_id, self.created_at, self.number)

    @property
    def id(self) -> str:
        return self.ref.encode()

    def to_item(self, status_shards: int) -> Item:
        item: dict[str, Any] = {
            **self.ref.key,
            **keys.ORDER.gsi1(
                status=self.status.value,
                shard=status_shard(self.number, status_shards),
                created_at=self.created_at,
                number=self.number,
            ),
            "LSI1SK": self.total,
            "entityType": keys.ORDER.entity,
            "userId": self.user_id,
            "number": self.number,
            "status": self.status.value,
            "total": self.total,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if self.flag:
            item.update(keys.ORDER.gsi2(flagged_at=self.flag.flagged_at, number=self.number))
            item["flagReason"] = self.flag.reason
            item["flaggedAt"] = self.flag.flagged_at
        if self.imported:
            item["imported"] = True
        return item

    @classmethod
    def from_item(cls, item: Item) -> Order:
        flag = OrderFlag(item["flagReason"], item["flaggedAt"]) if item.get("flaggedAt") else None
        return cls(
            user_id=item["userId"],
            number=item["number"],
            status=OrderStatus(item["status"]),
            total=Decimal(item["total"]),
            created_at=item["createdAt"],
            updated_at=item.get("updatedAt"),
            flag=flag,
            imported=bool(item.get("imported", False)),
        )


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
        return {
            **keys.ORDER_LINE.key(number=self.order_number, product_id=self.product_id),
            "entityType": keys.ORDER_LINE.entity,
            "orderNumber": self.order_number,
            "productId": self.product_id,
            "quantity": self.quantity,
            "unitPrice": self.unit_price,
        }

    @classmethod
    def from_item(cls, item: Item) -> OrderLine:
        return cls(
            order_number=item["orderNumber"],
            product_id=item["productId"],
            quantity=int(item["quantity"]),
            unit_price=Decimal(item["unitPrice"]),
        )


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: str
    created_at: str
    expires_at: str
    ttl: int

    def to_item(self) -> Item:
        return {
            **keys.SESSION.key(token_hash=self.token_hash),
            "entityType": keys.SESSION.entity,
            "userId": self.user_id,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "ttl": self.ttl,
        }

    @classmethod
    def from_item(cls, item: Item) -> Session:
        return cls(
            token_hash=keys.SESSION.pk.parse(item["PK"])["token_hash"],
            user_id=item["userId"],
            created_at=item["createdAt"],
            expires_at=item["expiresAt"],
            ttl=int(item["ttl"]),
        )


@dataclass(frozen=True)
class SalesStats:
    day: str
    completed_orders: int
    revenue: Decimal

    def to_item(self) -> Item:
        return {
            **keys.SALES_STATS.key(day=self.day),
            "entityType": keys.SALES_STATS.entity,
            "day": self.day,
            "completedOrders": self.completed_orders,
            "revenue": self.revenue,
        }

    @classmethod
    def from_item(cls, day: str, item: Item | None) -> SalesStats:
        if not item:
            return cls(day, 0, Decimal("0"))
        return cls(day, int(item.get("completedOrders", 0)), Decimal(item.get("revenue", 0)))
