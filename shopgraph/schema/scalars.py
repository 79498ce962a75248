"""The contract's scalars: exact money and millisecond UTC instants."""

from __future__ import annotations

import decimal
from typing import Any, NewType

import strawberry

from shopgraph.data.timefmt import format_instant, parse_instant
from shopgraph.errors import BadUserInput

CENT = decimal.Decimal("0.01")


def _parse_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadUserInput('Decimal must be a string such as "19.99"')
    try:
        parsed = decimal.Decimal(str(value))
    except decimal.InvalidOperation as exc:
        raise BadUserInput(f"Invalid Decimal {value!r}") from exc
    if not parsed.is_finite():
        raise BadUserInput(f"Invalid Decimal {value!r}")
    return parsed


def _serialize_decimal(value: decimal.Decimal) -> str:
    return str(value)


# Resolvers return decimal.Decimal for money; the schema maps it to `Decimal`.
Decimal = decimal.Decimal
DateTime = NewType("DateTime", str)

SCALAR_MAP = {
    decimal.Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal amount, serialized as a string such as "19.99".',
        serialize=_serialize_decimal,
        parse_value=_parse_decimal,
    ),
    DateTime: strawberry.scalar(
        name="DateTime",
        description=(
            'A UTC instant in ISO-8601 with milliseconds, such as "2026-03-15T10:00:00.000Z".'
        ),
        serialize=str,
        # Any ISO-8601 instant with a zone is accepted and normalized to the
        # stored form, so that it compares with stored instants as a string.
        parse_value=lambda value: format_instant(parse_instant(value)),
    ),
}


def money(value: decimal.Decimal) -> decimal.Decimal:
    return value.quantize(CENT)
