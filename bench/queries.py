"""The page queries the benches send, one text each, so that their figures compare."""

from __future__ import annotations

from typing import Any

from bench.load import field_of

PRODUCT_PAGE = "query ProductPage($id: ID!) { product(id: $id) { id name price stock viewCount } }"
CATEGORY_PAGE = (
    "query CategoryPage($category: String!) {"
    " productsByCategory(category: $category, first: 20) { nodes { id name price viewCount } } }"
)
# The viewer's own page: bench.pages measures its cost, the others its latency.
PROFILE_PAGE = (
    "query ProfilePage { viewer { name email points orders(first: 10) {"
    " nodes { number total status createdAt"
    " items { quantity unitPrice product { name price } } } } } }"
)
# Next to no work: what the server answers when it is not busy with anything else.
TRIVIAL = "{ __typename }"

PRODUCT_FIELDS = ("id", "name", "price", "viewCount")


def product_id(n: int) -> str:
    """The seed's id of its n-th product, from 1."""
    return f"p{n:05d}"


def category_nodes(body: Any) -> list[dict[str, Any]] | None:
    """The category page's products when each has every field asked for, else None."""
    page = field_of(body, "productsByCategory")
    nodes = page.get("nodes") if page is not None else None
    if not isinstance(nodes, list):
        return None
    for node in nodes:
        if not isinstance(node, dict) or any(node.get(f) is None for f in PRODUCT_FIELDS):
            return None
    return nodes
