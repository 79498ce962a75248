"""BatchGetItem's UnprocessedKeys are asked again until every item is in."""

from __future__ import annotations

from dataclasses import replace

from shopgraph.data.cost import CostRecorder
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import PRODUCT
from tests.conftest import Api, put_items
from tests.factories import product
from tests.ids import stored


async def test_a_batch_past_16_mb_comes_back_whole_and_in_order(api: Api, db: Dynamo) -> None:
    # 60 items of ~340 KB: one BatchGetItem answers at most 16 MB and returns
    # the rest as UnprocessedKeys.
    large = [replace(product(n), description="x" * 340_000) for n in range(60)]
    for start in range(0, len(large), 10):
        await put_items(db, [p.to_item() for p in large[start : start + 10]])
    ids = [p.id for p in reversed(large)]

    body = await api.gql("query($ids: [ID!]!) { products(ids: $ids) { id } }", {"ids": ids})

    assert not body.get("errors")
    assert [stored(p["id"]) for p in body["data"]["products"]] == ids
    # 60 keys fit one call; the extra calls are the retries of UnprocessedKeys.
    assert body["extensions"]["cost"]["calls"]["BatchGetItem"] >= 2


async def test_batch_get_chunks_by_hundred_and_removes_duplicates(db: Dynamo) -> None:
    products = [product(n) for n in range(250)]
    await put_items(db, [p.to_item() for p in products])
    cost = CostRecorder(read_unit_price=0, write_unit_price=0)  # type: ignore[arg-type]
    counted = Dynamo(db.client, db.table_name, cost)
    asked = [PRODUCT.key(id=p.id) for p in products]
    found = await counted.batch_get(asked + asked[:50] + [PRODUCT.key(id="nope")])
    assert [i["id"] if i else None for i in found] == [p.id for p in products] + [
        p.id for p in products[:50]
    ] + [None]
    assert cost.calls["BatchGetItem"] == 3
