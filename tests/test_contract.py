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
