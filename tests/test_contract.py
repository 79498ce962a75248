"""The exported schema keeps the public contract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from graphql import build_schema, find_breaking_changes

from shopgraph.schema.build import EXPORTED_SDL, export_sdl

# The repository's copy of the public contract (see contract/README.md).
ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contract" / "schema.graphql"
# Breaking changes made on purpose, as find_breaking_changes describes them.
ACCEPTED = ROOT / "contract" / "accepted-breaking-changes.txt"


def git(*args: str) -> str | None:
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    return done.stdout if done.returncode == 0 else None


def previous_exported_sdl() -> tuple[str, str]:
    """The exported SDL before the change under test, and which version it is.

    An uncommitted change is compared with HEAD's; otherwise the last commit
    that changed the file is compared with the version before it. Without git
    or an earlier version (a shallow clone), the contract is the baseline.
    """
    path = EXPORTED_SDL.relative_to(ROOT).as_posix()
    if git("diff", "--quiet", "HEAD", "--", path) is None:  # differs, or no git
        committed = git("show", f"HEAD:{path}")
        if committed is not None and committed != EXPORTED_SDL.read_text():
            return committed, f"HEAD:{path}"
    changes = (git("log", "-n", "2", "--format=%H", "--", path) or "").split()
    if len(changes) == 2:
        earlier = git("show", f"{changes[1]}:{path}")
        if earlier is not None:
            return earlier, f"{changes[1][:10]}:{path}, before {changes[0][:10]} changed it"
    return CONTRACT.read_text(), "contract/schema.graphql (no earlier exported SDL in git)"


def accepted_breaking_changes() -> set[str]:
    lines = ACCEPTED.read_text().splitlines() if ACCEPTED.exists() else []
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


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


def unaccepted_breaking_changes(before_sdl: str, after_sdl: str) -> list[str]:
    before = build_schema(before_sdl, assume_valid_sdl=True)
    after = build_schema(after_sdl, assume_valid_sdl=True)
    changes = [c.description for c in find_breaking_changes(before, after)]
    return [c for c in changes if c not in accepted_breaking_changes()]


def test_the_exported_schema_breaks_nothing_it_served_before() -> None:
    sdl, baseline = previous_exported_sdl()
    unaccepted = unaccepted_breaking_changes(sdl, EXPORTED_SDL.read_text())
    assert unaccepted == [], (
        f"breaking changes against {baseline}: {unaccepted}; if meant, add them to {ACCEPTED.name}"
    )


def test_a_removed_field_is_reported_as_breaking() -> None:
    # What the test above says of a field taken away from the exported SDL.
    exported = EXPORTED_SDL.read_text()
    narrowed = exported.replace("\n  stock: Int", "\n", 1)
    assert narrowed != exported
    assert unaccepted_breaking_changes(exported, narrowed) == [
        "Field CreateProductInput.stock was removed."
    ]


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
