"""GraphQL over HTTP, checked by the graphql-http package's own server audits."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from tests.conftest import Api

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_every_must_and_should_audit_passes(api: Api, node_tools: Path) -> None:
    url = str(api.http.make_url("/graphql"))
    process = await asyncio.create_subprocess_exec(
        "node", str(node_tools / "audit.mjs"), url, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0
    results = [json.loads(line) for line in output.decode().splitlines()]
    levels = Counter((r["name"].split()[0], r["status"]) for r in results)
    print("graphql-http audits:", dict(sorted(levels.items())))
    failing = [f"{r['name']}: {r['reason']}" for r in results if r["status"] != "ok"]
    required = [f for f in failing if f.startswith(("MUST", "SHOULD"))]
    assert required == []
    assert levels[("MUST", "ok")] > 0 and levels[("SHOULD", "ok")] > 0


async def test_graphql_response_json_answers_request_errors_with_400_and_no_data(
    api: Api,
) -> None:
    headers = {"Accept": GRAPHQL_RESPONSE}
    for query in ("{ viewer ", "{ nope }"):
        response = await api.post({"query": query}, **headers)
        assert response.status == 400
        assert response.content_type == GRAPHQL_RESPONSE
        body = await response.json(content_type=None)
        assert "data" not in body and body["errors"][0]["extensions"]["code"]
    coerce = 'query($n: Int!) { productsByCategory(category: "x", first: $n) { nodes { id } } }'
    coercion = await api.post({"query": coerce, "variables": {"n": "many"}}, **headers)
    assert coercion.status == 400
    assert (await coercion.json(content_type=None))["errors"][0]["extensions"]["code"] == (
        "BAD_USER_INPUT"
    )
    # An executed request answers 200, its field errors beside its data.
    executed = await api.post({"query": '{ product(id: "a#b") { id } viewer { id } }'}, **headers)
    assert executed.status == 200
    body = await executed.json(content_type=None)
    assert body["data"] == {"product": None, "viewer": None}


async def test_application_json_clients_keep_errors_in_a_200(api: Api) -> None:
    response = await api.post({"query": "{ viewer "}, Accept="application/json")
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
