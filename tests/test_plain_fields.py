"""Plain fields read straight off their object answer exactly as graphql-core's
own path does: values, nulls, errors and their paths, and resolve hooks."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from shopgraph.schema.plain_fields import PlainFieldsExecutionContext
from shopgraph.schema.scalars import SCALAR_MAP


@strawberry.enum
class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.type
class Maker:
    name: str


@strawberry.type
class Item:
    name: str
    count: int
    maybe: str | None
    shade: Shade
    price: Decimal
    # Filled with what the type does not allow, as a broken item would be.
    broken: int
    missing: str
    maker: Maker


def _items() -> list[Item]:
    return [
        Item(
            name="a",
            count=1,
            maybe=None,
            shade=Shade.DARK,
            price=Decimal("9.50"),
            broken="not a number",  # type: ignore[arg-type]
            missing="there",
            maker=Maker(name="m"),
        ),
        Item(
            name="b",
            count=2,
            maybe="x",
            shade=Shade.LIGHT,
            price=Decimal("0.10"),
            broken=3,
            missing=None,  # type: ignore[arg-type]
            maker=Maker(name="n"),
        ),
    ]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return _items()


class Shout(SchemaExtension):
    """A resolve hook, as tracing extensions have: it must still see each field."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


def _schema(fast: bool, extensions: list[Any]) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        extensions=extensions,
        config=strawberry.schema.config.StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=PlainFieldsExecutionContext if fast else None,
    )


def _answer(schema: strawberry.Schema, query: str) -> tuple[Any, list[Any]]:
    result = schema.execute_sync(query)
    errors = sorted(
        (e.message, tuple(e.path or ()), tuple((loc.line, loc.column) for loc in e.locations or ()))
        for e in result.errors or ()
    )
    return result.data, errors


QUERIES = [
    "{ items { name count maybe shade price } }",
    "{ items { name broken } }",
    "{ items { name missing } }",
    "{ items { first: name, again: name, __typename } }",
    "{ items { ...F } } fragment F on Item { shade count }",
    "{ items { name maker { name } count } }",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("extensions", [[], [Shout]], ids=["plain", "with a resolve hook"])
def test_plain_fields_answer_as_graphql_core_does(query: str, extensions: list[Any]) -> None:
    expected = _answer(_schema(False, extensions), query)
    assert _answer(_schema(True, extensions), query) == expected


def test_a_broken_value_is_reported_where_it_is() -> None:
    data, errors = _answer(_schema(True, []), "{ items { name broken } }")
    assert data is None  # a non-null field failed, and the list is non-null
    assert [(message.split(":")[0], path) for message, path, _ in errors] == [
        ("Int cannot represent non-integer value", ("items", 0, "broken"))
    ]
    data, errors = _answer(_schema(True, []), "{ items { name missing } }")
    assert data is None
    assert [(message, path) for message, path, _ in errors] == [
        ("Cannot return null for non-nullable field Item.missing.", ("items", 1, "missing"))
    ]


def test_a_resolve_hook_still_sees_every_plain_field() -> None:
    data, errors = _answer(_schema(True, [Shout]), "{ items { name maybe } }")
    assert errors == []
    assert data == {"items": [{"name": "A", "maybe": None}, {"name": "B", "maybe": "X"}]}
