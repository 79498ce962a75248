"""Domain errors: each carries the `extensions.code` clients branch on.

graphql-core copies an original exception's `extensions` onto the GraphQL error
it builds, so raising one of these from a resolver is all a resolver does.
"""

from __future__ import annotations

from typing import Any


class ShopError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class Unauthenticated(ShopError):
    code = "UNAUTHENTICATED"


class Forbidden(ShopError):
    code = "FORBIDDEN"


class NotFound(ShopError):
    code = "NOT_FOUND"


class BadUserInput(ShopError):
    code = "BAD_USER_INPUT"


class OperationNotTrusted(ShopError):
    """A document outside the trusted documents, where only those may run."""

    code = "OPERATION_NOT_TRUSTED"


class InvalidCursor(ShopError):
    code = "INVALID_CURSOR"


class EmailTaken(ShopError):
    code = "EMAIL_TAKEN"


class InvalidCredentials(ShopError):
    code = "INVALID_CREDENTIALS"


class InsufficientPoints(ShopError):
    code = "INSUFFICIENT_POINTS"


class OutOfStock(ShopError):
    code = "OUT_OF_STOCK"


class InvalidStatusTransition(ShopError):
    code = "INVALID_STATUS_TRANSITION"


class Conflict(ShopError):
    code = "CONFLICT"


class Throttled(ShopError):
    code = "THROTTLED"


class Unavailable(ShopError):
    code = "UNAVAILABLE"


class TooManyAttempts(ShopError):
    code = "TOO_MANY_ATTEMPTS"


class MaxCostExceeded(ShopError):
    """The operation asks for more DynamoDB capacity than one request may use."""

    code = "MAX_COST_EXCEEDED"
