"""The exported schema keeps the public contract."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, find_breaking_changes

from shopgraph.schema.build import EXPORTED_SDL, export_sdl

# The repository's copy of the public contract (see contract/README.md).
CONTRACT = Path(__file__).resolve().parents[1] / "contract" / "schema.graphql"


def test_exported_sdl_is_current() -> None:
    assert EXPORTED_SDL.read_text() == export_sdl(), (
        "schema.graphql is stale: run `shopgraph export-schema`"
    )


def test_exported_schema_breaks_nothing_in_the_contract() -> None:
    contract = build_schema(CONTRACT.read_text())
    # The subgraph SDL uses federation directives it does not define.
    exported = build_schema(EXPORTED_SDL.read_text(), assume_valid_sdl=True)
    changes = [c.description for c in find_breaking_changes(contract, exported)]
    assert changes == []


def test_users_products_and_orders_are_relay_nodes() -> None:
    exported = build_schema(EXPORTED_SDL.read_text(), assume_valid_sdl=True)
    node = exported.get_type("Node")
    assert node is not None and str(node.fields["id"].type) == "ID!"  # type: ignore[attr-defined]
    for name in ("User", "Product", "Order"):
        assert [i.name for i in exported.get_type(name).interfaces] == ["Node"]  # type: ignore[union-attr]
    query = exported.query_type
    assert query is not None
    assert str(query.fields["node"].type) == "Node"
    assert str(query.fields["node"].args["id"].type) == "ID!"
    assert str(query.fields["nodes"].type) == "[Node]!"
    assert str(query.fields["nodes"].args["ids"].type) == "[ID!]!"
