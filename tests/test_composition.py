"""Composition, checked without running anything: shopgraph's exported SDL and
the reviews subgraph's compose into a supergraph with @apollo/composition
(tests/node/compose.mjs), as a gateway or a schema registry would compose them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from graphql import build_schema

from shopgraph.schema.build import EXPORTED_SDL
from tests.reviews_subgraph import SCHEMA as REVIEWS_SCHEMA


def compose(
    node_tools: Path, folder: Path, subgraphs: dict[str, str]
) -> subprocess.CompletedProcess:
    args = []
    for name, sdl in subgraphs.items():
        (folder / f"{name}.graphql").write_text(sdl)
        # The URL only goes into the supergraph's join__Graph; nothing is asked.
        args.append(f"{name}={folder / name}.graphql@http://127.0.0.1/{name}")
    return subprocess.run(
        ["node", str(node_tools / "compose.mjs"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_exported_sdl_composes_with_the_reviews_subgraph(
    node_tools: Path, tmp_path: Path
) -> None:
    subgraphs = {"shopgraph": EXPORTED_SDL.read_text(), "reviews": REVIEWS_SCHEMA.as_str()}
    composed = compose(node_tools, tmp_path, subgraphs)
    assert composed.returncode == 0, f"composition failed:\n{composed.stderr}"

    supergraph = build_schema(json.loads(composed.stdout)["supergraphSdl"])
    # The API a client of the gateway sees: both subgraphs' fields on one type.
    product, user = supergraph.get_type("Product"), supergraph.get_type("User")
    assert {"name", "price", "reviews"} <= set(product.fields)  # type: ignore[union-attr]
    assert {"name", "orders", "reviewsWritten"} <= set(user.fields)  # type: ignore[union-attr]
    assert "orderStatusChanged" in supergraph.subscription_type.fields  # type: ignore[union-attr]
    graphs = supergraph.get_type("join__Graph")
    assert set(graphs.values) == {"REVIEWS", "SHOPGRAPH"}  # type: ignore[union-attr]


def test_a_conflict_fails_composition_with_the_errors_printed(
    node_tools: Path, tmp_path: Path
) -> None:
    # A subgraph that also defines User.name, as another type and unshared.
    clashing = REVIEWS_SCHEMA.as_str().replace(
        "reviewsWritten: [Review!]!", "reviewsWritten: [Review!]!\n  name: Int"
    )
    assert clashing != REVIEWS_SCHEMA.as_str()
    composed = compose(
        node_tools, tmp_path, {"shopgraph": EXPORTED_SDL.read_text(), "reviews": clashing}
    )
    assert composed.returncode == 1
    assert composed.stdout == ""
    assert 'FIELD_TYPE_MISMATCH Type of field "User.name" is incompatible' in composed.stderr
    assert 'INVALID_FIELD_SHARING Non-shareable field "User.name"' in composed.stderr
