"""shopgraph composed by a real Apollo gateway with a second subgraph.

The `reviews` subgraph (tests/reviews_subgraph.py, strawberry's federation)
adds `reviews` to Product and `reviewsWritten` to User, and references their
authors as Users; @apollo/gateway (IntrospectAndCompose) composes both and
plans queries across them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api, put_items
from tests.factories import product
from tests.ids import stored
from tests.reviews_subgraph import REVIEWS, node_gateway, reviews_server


@pytest.fixture
async def reviews_url() -> AsyncIterator[str]:
    async with reviews_server() as url:
        yield url


@pytest.fixture
async def gateway(api: Api, reviews_url: str, node_tools: Path) -> AsyncIterator[str]:
    subgraphs = {"shopgraph": str(api.http.make_url("/graphql")), "reviews": reviews_url}
    async with node_gateway(node_tools / "gateway.mjs", subgraphs) as url:
        yield url


QUERY = """
query ProductReviews($id: ID!) {
  product(id: $id) { name reviews { body author { id name } } }
}
"""


async def test_a_query_across_both_subgraphs(
    api: Api, db: Any, gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    authors = {}
    for n in range(3):
        token = await api.sign_up(f"author{n}@example.com", name=f"Author {n}")
        authors[(await api.data("{ viewer { id } }", token=token))["viewer"]["id"]] = f"Author {n}"
    await put_items(db, [product(1).to_item()])
    ids = list(authors)
    # Authors by their global ids, and one by the stored id it had before them.
    REVIEWS["prod-1"] = [
        ("Lovely", ids[0]),
        ("Fine", ids[1]),
        ("Meh", stored(ids[2])),
        ("Again", ids[0]),
    ]
    caplog.set_level(logging.INFO, logger="shopgraph.http")

    request = {"query": QUERY, "variables": {"id": "prod-1"}}
    async with aiohttp.ClientSession() as session, session.post(gateway, json=request) as r:
        body = await r.json()

    assert not body.get("errors"), body
    found = body["data"]["product"]
    assert found["name"] == "Product 1"
    assert [(x["body"], x["author"]["name"]) for x in found["reviews"]] == [
        ("Lovely", "Author 0"),
        ("Fine", "Author 1"),
        ("Meh", "Author 2"),
        ("Again", "Author 0"),
    ]
    # shopgraph answered two fetches of this operation: the product, then every
    # author in one _entities call, which cost one BatchGetItem.
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "shopgraph.http"]
    fetches = [x for x in lines if (x.get("operation") or "").startswith("ProductReviews")]
    assert len(fetches) == 2, fetches
    assert fetches[1]["cost"]["calls"] == {"BatchGetItem": 1}


async def test_authorization_travels_through_the_gateway(api: Api, gateway: str) -> None:
    token = await api.sign_up("viewer@example.com", name="Vee")
    query = {"query": "{ viewer { name email } }"}
    async with aiohttp.ClientSession() as session:
        async with session.post(gateway, json=query) as r:
            anonymous = await r.json()
        async with session.post(
            gateway, json=query, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            signed_in = await r.json()
    assert anonymous["data"] == {"viewer": None}
    assert signed_in["data"] == {"viewer": {"name": "Vee", "email": "viewer@example.com"}}
