"""The contract's input types."""

from __future__ import annotations

import strawberry

from shopgraph.schema.scalars import Decimal


@strawberry.input
class SignUpInput:
    email: str
    name: str
    password: str = strawberry.field(description="At least 8 characters.")


@strawberry.input
class CreateProductInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="Generated where left out."
    )
    name: str
    description: str | None = None
    category: str
    price: Decimal
    stock: int | None = None


@strawberry.input
class UpdateProductInput:
    # UNSET: leave as is; null: remove (only description and stock may be null).
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    price: Decimal | None = strawberry.UNSET
    stock: int | None = strawberry.UNSET

    def changes(self) -> dict[str, object]:
        fields = ("name", "description", "category", "price", "stock")
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not strawberry.UNSET}


@strawberry.input
class OrderLineInput:
    product_id: strawberry.ID
    quantity: int


@strawberry.input
class PlaceOrderInput:
    items: list[OrderLineInput]
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first order and writes nothing.",
    )


@strawberry.input
class TransferPointsInput:
    to_user_id: strawberry.ID
    points: int
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first result and moves nothing.",
    )
