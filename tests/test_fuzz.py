"""Queries and mutations generated from the schema (hypothesis-graphql), sent
as anonymous, customer and admin clients, valid ones and ones with a schema
violation each.

Every answer must be one a client can act on: no 5xx, no internal error, no
stack trace or DynamoDB message, a code on every error. After the run, the
points of all users add up as before, but for what completing orders awarded
(transferPoints only moves points). The run is seeded, so a failure
reproduces; SHOPGRAPH_FUZZ_EXAMPLES sets its size (`make fuzz`: many more).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import graphql
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from shopgraph.data.seed import ADMIN_EMAIL, SeedOptions, customer_email, demo_items, write_items
from shopgraph.schema.build import build_schema
from tests.conftest import Api, table_items

EXAMPLES = int(os.environ.get("SHOPGRAPH_FUZZ_EXAMPLES") or 400)
SEED = int(os.environ.get("SHOPGRAPH_FUZZ_SEED") or 20261202)
DEMO = SeedOptions(customers=3, products=20, orders_per_customer=4, status_shards=4)
ROLES = ("anonymous", "customer", "admin")
# What must never reach a client: traces, engine and library names, paths.
LEAKS = re.compile(
    r"Traceback|File \"|botocore|aiobotocore|ClientError|ValidationException|"
    r"ConditionalCheck|TransactionCanceled|ProvisionedThroughput|ResourceNotFound|"
    r"dynamodb\.|\bKeyError\b|\bTypeError\b|\bAttributeError\b|site-packages|\.py\b"
)


@dataclass
class Tally:
    examples: int = 0
    clean: int = 0  # answered without an error
    mutations: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_code: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        codes = ", ".join(f"{code} {n}" for code, n in self.by_code.most_common())
        statuses = ", ".join(f"{status} {n}" for status, n in sorted(self.by_status.items()))
        return (
            f"fuzz: {self.examples} examples (seed {SEED}), {self.mutations} of them mutations,"
            f" {self.clean} answered without an error; HTTP {statuses}; "
            f"5xx {sum(n for s, n in self.by_status.items() if s >= 500)}; "
            f"problems {len(self.problems)}; error codes: {codes or 'none'}"
        )


def _string(values: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    """Mostly values the shop knows (so operations reach the table), some anything."""
    chosen = st.sampled_from(values) if values else st.nothing()
    return st.one_of(chosen, chosen, st.text(max_size=40)).map(
        lambda s: graphql.StringValueNode(value=s)
    )


def scalars(
    typed_ids: list[tuple[str, str]], cursors: list[str]
) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Strategies for the schema's scalars; typed_ids: (type name, id) of known entities."""
    ids = [i for _, i in typed_ids]
    instants = ["2026-03-15T10:00:00.000Z", "2020-01-01T00:00:00Z", "2026-13-01", "yesterday"]
    amounts = ["19.99", "0", "-1", "1e9", "0.001", "NaN", "12.5", "abc"]
    representations = st.sampled_from(typed_ids).map(
        lambda typed: graphql.ObjectValueNode(
            fields=tuple(
                graphql.ObjectFieldNode(
                    name=graphql.NameNode(value=name), value=graphql.StringValueNode(value=value)
                )
                for name, value in zip(("__typename", "id"), typed, strict=True)
            )
        )
    )
    return {
        "ID": _string(ids),
        "String": _string([*cursors, "books", "customer1@example.com", "2026-03", "PAID"]),
        "Int": st.one_of(
            st.integers(min_value=-3, max_value=120), st.integers(-(2**31), 2**31 - 1)
        ).map(lambda n: graphql.IntValueNode(value=str(n))),
        "DateTime": _string(instants),
        "Decimal": _string(amounts),
        "_Any": representations,
    }


def check_answer(tally: Tally, document: str, status: int, text: str) -> None:
    tally.examples += 1
    tally.by_status[status] += 1
    where = f"{document!r} -> {status} {text[:300]!r}"
    if status >= 500:
        tally.problems.append(f"5xx: {where}")
        return
    if LEAKS.search(text):
        tally.problems.append(f"leak: {where}")
    try:
        body = json.loads(text)
    except ValueError:
        tally.problems.append(f"not JSON: {where}")
        return
    tally.mutations += document.lstrip().startswith("mutation")
    tally.clean += not body.get("errors")
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        tally.by_code[str(code)] += 1
        if not code:
            tally.problems.append(f"no code: {where}")
        elif code == "INTERNAL_SERVER_ERROR":
            tally.problems.append(f"internal error: {where}")


def post(url: str, document: str, token: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps({"query": document}).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def points_and_awards(db: Any) -> tuple[int, dict[str, tuple[str, Decimal]]]:
    items = await table_items(db)
    points = sum(int(i["points"]) for i in items if i.get("entityType") == "User")
    orders = {
        i["PK"] + i["SK"]: (str(i["status"]), Decimal(str(i["total"])))
        for i in items
        if i.get("entityType") == "Order"
    }
    return points, orders


async def test_fuzzed_operations_get_answers_a_client_can_act_on(api: Api, db: Any) -> None:
    await write_items(db, demo_items(DEMO), progress=False)
    tokens = {
        "anonymous": None,
        "customer": await api.log_in(customer_email(1), DEMO.password),
        "admin": await api.log_in(ADMIN_EMAIL, DEMO.password),
    }
    listing = await api.data(
        "{ ordersByStatus(status: PENDING, first: 5) { nodes { id } pageInfo { endCursor } }"
        ' productsByCategory(category: "books", first: 2) { pageInfo { endCursor } } }',
        token=tokens["admin"],
    )
    order_ids = [n["id"] for n in listing["ordersByStatus"]["nodes"]]
    cursors = [
        listing["ordersByStatus"]["pageInfo"]["endCursor"],
        listing["productsByCategory"]["pageInfo"]["endCursor"],
    ]
    typed_ids = [
        *(("Order", i) for i in order_ids),
        *(("Product", i) for i in ("p00001", "p00002", "p00007")),
        *(("User", i) for i in ("customer1", "customer2", "admin")),
    ]
    points_before, orders_before = await points_and_awards(db)

    schema = build_schema()._schema
    custom = scalars(typed_ids, [c for c in cursors if c])
    operations = st.one_of(
        from_schema(schema, custom_scalars=custom),
        from_schema(schema, custom_scalars=custom, mode=Mode.NEGATIVE),
    )
    url = str(api.http.make_url("/graphql"))
    tally = Tally()

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(document=operations, role=st.sampled_from(ROLES))
    def fuzz(document: str, role: str) -> None:
        status, text = post(url, document, tokens[role])
        check_answer(tally, document, status, text)

    # Hypothesis runs synchronously: in a thread, while this loop serves.
    await asyncio.to_thread(fuzz)
    print(tally.summary())

    assert tally.examples >= EXAMPLES
    assert not tally.problems, "\n".join(tally.problems[:20])
    points_after, orders_after = await points_and_awards(db)
    awarded = sum(
        int(total)
        for key, (status, total) in orders_after.items()
        if status == "COMPLETED" and orders_before.get(key, ("", 0))[0] != "COMPLETED"
    )
    assert points_after == points_before + awarded, (points_before, points_after, awarded)
    # The run reached the table, mutations included, and not only with errors.
    assert tally.mutations and tally.clean and tally.by_code, tally.summary()


def test_the_fuzzers_checks_flag_what_they_must() -> None:
    """The oracle itself: each kind of bad answer is caught, a good one is not."""
    tally = Tally()
    good = {"data": None, "errors": [{"message": "x", "extensions": {"code": "BAD_USER_INPUT"}}]}
    check_answer(tally, "{ a }", 200, json.dumps(good))
    assert tally.problems == []
    bad = {
        "5xx": (500, "{}"),
        "leak": (
            200,
            json.dumps(
                {
                    "errors": [
                        {
                            "message": "botocore.exceptions.ClientError",
                            "extensions": {"code": "BAD_USER_INPUT"},
                        }
                    ]
                }
            ),
        ),
        "no code": (200, json.dumps({"errors": [{"message": "x"}]})),
        "internal error": (
            200,
            json.dumps(
                {"errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
            ),
        ),
        "not JSON": (200, "<html>"),
    }
    for kind, (status, text) in bad.items():
        tally = Tally()
        check_answer(tally, "{ a }", status, text)
        assert [p.split(":")[0] for p in tally.problems] == [kind], (kind, tally.problems)
