"""shopgraph behind Hive Gateway and @apollo/gateway, with the reviews subgraph.

Both gateways compose shopgraph with tests/reviews_subgraph.py, which adds
fields to Product and User; the same query across them gets the same answer
through either, and shopgraph resolves each batch of references in one
`_entities` call that costs one BatchGetItem.
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

GATEWAYS = ("gateway.mjs", "hive_gateway.mjs")

QUERY = """
query Across($id: ID!) {
  product(id: $id) {
    name
    reviews { body author { name reviewsWritten { body product { name } } } }
  }
}
"""


@pytest.fixture
async def subgraphs(api: Api) -> AsyncIterator[dict[str, str]]:
    async with reviews_server() as reviews:
        yield {"shopgraph": str(api.http.make_url("/graphql")), "reviews": reviews}


async def _shop(api: Api, db: Any) -> None:
    authors = []
    for n in range(3):
        token = await api.sign_up(f"author{n}@example.com", name=f"Author {n}")
        authors.append((await api.data("{ viewer { id } }", token=token))["viewer"]["id"])
    await put_items(db, [product(1).to_item(), product(2).to_item()])
    REVIEWS.clear()
    # Authors by their global ids, and one by the stored id it had before them.
    REVIEWS["prod-1"] = [("Lovely", authors[0]), ("Fine", authors[1]), ("Meh", stored(authors[2]))]
    REVIEWS["prod-2"] = [("Again", authors[0])]


async def ask(url: str, query: str, variables: dict[str, Any], **headers: str) -> Any:
    request = {"query": query, "variables": variables}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=request, headers=headers) as response,
    ):
        return await response.json()


def shopgraph_fetches(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "shopgraph.http"]
    caplog.clear()
    return lines


async def test_the_same_query_gets_the_same_answer_through_both_gateways(
    api: Api,
    db: Any,
    subgraphs: dict[str, str],
    node_tools: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _shop(api, db)
    caplog.set_level(logging.INFO, logger="shopgraph.http")
    answers, fetches = {}, {}
    for script in GATEWAYS:
        async with node_gateway(node_tools / script, subgraphs) as url:
            shopgraph_fetches(caplog)  # composing asked for the SDL: not this query's
            answers[script] = await ask(url, QUERY, {"id": "prod-1"})
            fetches[script] = shopgraph_fetches(caplog)
    print(json.dumps({"answers": answers, "fetches": fetches}, indent=1))

    apollo, hive = answers["gateway.mjs"], answers["hive_gateway.mjs"]
    assert not apollo.get("errors") and not hive.get("errors"), answers
    assert hive["data"] == apollo["data"]
    reviews = hive["data"]["product"]["reviews"]
    assert [(r["body"], r["author"]["name"]) for r in reviews] == [
        ("Lovely", "Author 0"),
        ("Fine", "Author 1"),
        ("Meh", "Author 2"),
    ]
    assert reviews[0]["author"]["reviewsWritten"] == [
        {"body": "Lovely", "product": {"name": "Product 1"}},
        {"body": "Again", "product": {"name": "Product 2"}},
    ]
    # Through either, shopgraph answers three fetches: the product, then its
    # three authors in one _entities call, then the two products they
    # reviewed in another; each costs one BatchGetItem.
    for script, lines in fetches.items():
        assert [x["cost"]["calls"] for x in lines] == [{"BatchGetItem": 1}] * 3, (script, lines)
        assert all(x["operation"].startswith("Across") for x in lines), (script, lines)
