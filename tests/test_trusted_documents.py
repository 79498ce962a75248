"""Trusted documents: a manifest written from .graphql files, documents sent by
id, and with SHOPGRAPH_TRUSTED_ONLY nothing else."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shopgraph.schema.trusted_documents import ManifestError, TrustedDocuments, build_manifest
from tests.conftest import Api, error_codes, put_items
from tests.factories import product

PRODUCT_PAGE = """
query ProductPage($id: ID!) { product(id: $id) { ...Card } }
fragment Card on Product { name price }
"""
CATEGORY = 'query Category { productsByCategory(category: "books") { nodes { name } } }'
OTHER = '{ product(id: "prod-1") { name description } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_manifest(
    folder: Path, extra: dict[str, str] | None = None
) -> tuple[Path, dict[str, Any]]:
    """The manifest the CLI writes from a folder of .graphql files."""
    documents = folder / "documents"
    (documents / "nested").mkdir(parents=True)
    (documents / "product.graphql").write_text(PRODUCT_PAGE)
    (documents / "nested" / "category.graphql").write_text(CATEGORY)
    for name, text in (extra or {}).items():
        (documents / name).write_text(text)
    manifest = folder / "manifest.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopgraph.cli",
            "trusted-documents",
            str(documents),
            "-o",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    count = 2 + len(extra or {})
    assert f"{count} operations from {count} files" in done.stdout
    return manifest, json.loads(manifest.read_text())


def test_the_cli_writes_apollos_manifest_format(tmp_path: Path) -> None:
    manifest, written = write_manifest(tmp_path)
    assert written["format"] == "apollo-persisted-query-manifest" and written["version"] == 1
    operations = written["operations"]
    assert [(o["name"], o["type"]) for o in operations] == [
        ("Category", "query"),
        ("ProductPage", "query"),
    ]
    # Each body holds the fragments it uses; each id is the sha256 of its body.
    assert "fragment Card on Product" in operations[1]["body"]
    assert all(o["id"] == sha256(o["body"]) for o in operations)
    # The same files, the same manifest (it diffs well).
    again, _ = write_manifest(tmp_path / "again")
    assert again.read_text() == manifest.read_text()


def test_the_cli_refuses_a_document_the_schema_does_not_validate(tmp_path: Path) -> None:
    (tmp_path / "bad.graphql").write_text("query Bad { product(id: 1) { nope } }")
    done = subprocess.run(
        [sys.executable, "-m", "shopgraph.cli", "trusted-documents", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "bad.graphql" in done.stderr and "nope" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        (
            '{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}',
            "version 1",
        ),
        (json.dumps({"0" * 64: "{ __typename }"}), "not the sha256"),
        ("[1, 2]", "neither"),
    ],
)
def test_a_manifest_that_cannot_be_used_says_which_and_why(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ManifestError) as raised:
        TrustedDocuments.load(path)
    assert str(path) in str(raised.value) and problem in str(raised.value)


def test_codegens_flat_format_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "persisted-documents.json"
    # The client preset writes sha256 keys as `sha256:<hex>` (GraphQL over
    # HTTP's document id); older versions wrote the bare hex.
    path.write_text(json.dumps({f"sha256:{sha256(CATEGORY)}": CATEGORY, sha256(OTHER): OTHER}))
    documents = TrustedDocuments.load(path)
    assert documents.get(sha256(CATEGORY)) == CATEGORY and documents.get(sha256(OTHER)) == OTHER


def test_a_codegen_manifest_hashed_with_sha1_says_how_to_fix_it(tmp_path: Path) -> None:
    # sha1 is the client preset's default hashAlgorithm.
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({hashlib.sha1(CATEGORY.encode()).hexdigest(): CATEGORY}))
    with pytest.raises(ManifestError, match="hashAlgorithm to 'sha256'"):
        TrustedDocuments.load(path)


def _build(folder: Path, files: dict[str, str]) -> dict[str, Any]:
    from shopgraph.schema.build import build_schema

    for name, text in files.items():
        (folder / name).write_text(text)
    return build_manifest(sorted(folder.iterdir()), build_schema()._schema)


def test_a_body_is_the_operation_then_its_fragments_sorted_by_name(tmp_path: Path) -> None:
    """As Apollo's generator prints a body (print(sortTopLevelDefinitions(...))),
    so its ids and ours agree; a fragment may live in another file, and one no
    operation uses is left out."""
    written = _build(
        tmp_path,
        {
            "profile.graphql": "query Profile { viewer { ...Zed ...Alpha } }",
            "fragments.graphql": (
                "fragment Zed on User { name } fragment Alpha on User { id ...Mid } "
                "fragment Mid on User { email } fragment Unused on Product { name }"
            ),
        },
    )
    [profile] = written["operations"]
    assert profile["body"] == (
        "query Profile {\n  viewer {\n    ...Zed\n    ...Alpha\n  }\n}\n\n"
        "fragment Alpha on User {\n  id\n  ...Mid\n}\n\n"
        "fragment Mid on User {\n  email\n}\n\n"
        "fragment Zed on User {\n  name\n}"
    )
    assert profile["id"] == sha256(profile["body"])


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"a.graphql": "{ viewer { id } }"}, "a.graphql: an anonymous query"),
        (
            {
                "a.graphql": "query Same { viewer { id } }",
                "b.graphql": "query Same { me: viewer { id } }",
            },
            "b.graphql: operation Same is defined in",
        ),
        (
            {"a.graphql": "fragment F on User { id }", "b.graphql": "fragment F on User { name }"},
            "b.graphql: fragment F is defined in",
        ),
        ({"a.graphql": "query Q { viewer { ...Missing } }"}, "a.graphql: Q: Unknown fragment"),
        ({"a.graphql": "query Q { viewer { id }"}, "a.graphql: Syntax Error"),
        (
            {"a.graphql": "type T { id: ID }"},
            "a.graphql: only operations and fragments belong here, not object type definitions",
        ),
    ],
)
def test_what_the_builder_refuses_names_the_file(
    tmp_path: Path, files: dict[str, str], problem: str
) -> None:
    with pytest.raises(ManifestError, match=re.escape(problem)):
        _build(tmp_path, files)


async def _ask(api: Api, method: str, body: dict[str, Any]) -> dict[str, Any]:
    if method == "GET":
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        response = await api.http.get(
            "/graphql", params=params, headers={"Accept": "application/json"}
        )
    else:
        response = await api.post(body)
    assert response.status == 200
    return await response.json()


async def test_only_trusted_documents_run(start_api: Any, db: Any, tmp_path: Path) -> None:
    manifest, written = write_manifest(tmp_path)
    api = await start_api(trusted_documents=manifest, trusted_only=True)
    await put_items(db, [product(1).to_item()])
    page = next(o for o in written["operations"] if o["name"] == "ProductPage")
    variables = {"id": "prod-1"}
    expected = {"product": {"name": "Product 1", "price": "10.00"}}

    for method in ("POST", "GET"):
        by_apq_hash = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": page["id"]}},
            "variables": variables,
        }
        by_document_id = {"documentId": f"sha256:{page['id']}", "variables": variables}
        by_text = {"query": page["body"], "variables": variables}
        for body in (by_apq_hash, by_document_id, by_text):
            answer = await _ask(api, method, body)
            assert answer.get("data") == expected, (method, body, answer)

    # It ran: one read for the product.
    assert sum(answer["extensions"]["cost"]["calls"].values()) == 1

    # Anything else is refused before it runs: not one DynamoDB call.
    calls = await dynamodb_calls(api)
    refused = await _ask(api, "POST", {"query": OTHER})
    assert error_codes(refused) == ["OPERATION_NOT_TRUSTED"]
    assert "cost" not in refused.get("extensions", {})
    unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(OTHER)}}}
    for method in ("POST", "GET"):
        not_found = await _ask(api, method, unknown)
        assert error_codes(not_found) == ["PERSISTED_QUERY_NOT_FOUND"]
        assert not_found["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo reads
        by_id = await _ask(api, method, {"documentId": f"sha256:{sha256(OTHER)}"})
        assert error_codes(by_id) == ["PERSISTED_QUERY_NOT_FOUND"]
    # APQ registration would let any document in: refused, and not remembered.
    register = {**unknown, "query": OTHER}
    assert error_codes(await _ask(api, "POST", register)) == ["OPERATION_NOT_TRUSTED"]
    assert error_codes(await _ask(api, "GET", unknown)) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert await dynamodb_calls(api) == calls


async def dynamodb_calls(api: Api) -> float:
    """The DynamoDB calls the server has made, as /metrics counts them."""
    text = await (await api.http.get("/metrics")).text()
    found = re.findall(r"^shopgraph_dynamodb_calls_total\{.*\} (\S+)$", text, re.M)
    return sum(float(value) for value in found)


@pytest.mark.parametrize(
    "document_id",
    ["x-relay:0123abcd", "d41d8cd98f00b204e9800998ecf8427e", "sha1:" + "a" * 40, "sha256:xyz"],
)
async def test_a_document_id_that_is_not_a_sha256_is_not_found(
    start_api: Any, tmp_path: Path, document_id: str
) -> None:
    """GraphQL over HTTP allows custom ids (e.g. Relay's md5) and other
    prefixes; a server that cannot find the document answers one error."""
    manifest, _ = write_manifest(tmp_path)
    api = await start_api(trusted_documents=manifest)
    for method in ("POST", "GET"):
        answer = await _ask(api, method, {"documentId": document_id})
        assert error_codes(answer) == ["PERSISTED_QUERY_NOT_FOUND"], answer
        assert "sha256:<64 hex digits>" in answer["errors"][0]["message"]
        assert "data" not in answer or answer["data"] is None


async def test_a_manifest_without_trusted_only_adds_ids_and_refuses_nothing(
    start_api: Any, db: Any, tmp_path: Path
) -> None:
    manifest, written = write_manifest(tmp_path)
    api = await start_api(trusted_documents=manifest)
    await put_items(db, [product(1).to_item()])
    category = next(o for o in written["operations"] if o["name"] == "Category")
    answer = await _ask(api, "GET", {"documentId": category["id"]})
    assert answer["data"] == {"productsByCategory": {"nodes": [{"name": "Product 1"}]}}
    assert (await api.data(OTHER))["product"]["name"] == "Product 1"


async def test_a_subscription_outside_the_manifest_is_refused(
    start_api: Any, tmp_path: Path
) -> None:
    from gql import Client, gql
    from gql.transport.exceptions import TransportQueryError

    from tests.test_subscriptions import SUBSCRIPTION, transport, ws_url

    manifest, _ = write_manifest(tmp_path)
    api = await start_api(trusted_documents=manifest, trusted_only=True, stream_consumer=True)
    token = await _sign_up_by_manifest(api)
    async with Client(transport=transport(ws_url(api), token)) as session:
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(gql(SUBSCRIPTION)):
                pass
    assert raised.value.errors[0]["extensions"]["code"] == "OPERATION_NOT_TRUSTED"  # type: ignore[index]


ORDER_STATUS = """
subscription OrderStatus($id: ID) {
  orderStatusChanged(orderId: $id) { order { id } status }
}
"""


async def test_a_subscription_from_the_manifest_gets_past_the_trust_check(
    start_api: Any, tmp_path: Path
) -> None:
    """Over the websocket a document comes as text (graphql-transport-ws has no
    id): the manifest's text passes, and the subscription is then held to the
    usual rules (here: a session)."""
    from gql import Client, gql
    from gql.transport.exceptions import TransportQueryError

    from tests.test_subscriptions import transport, ws_url

    manifest, written = write_manifest(tmp_path, {"status.graphql": ORDER_STATUS})
    [subscription] = [o for o in written["operations"] if o["type"] == "subscription"]
    api = await start_api(trusted_documents=manifest, trusted_only=True, stream_consumer=True)
    async with Client(transport=transport(ws_url(api), "not-a-session")) as session:
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(gql(subscription["body"])):
                pass
    assert raised.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]


async def _sign_up_by_manifest(api: Api) -> str:
    """A session written for the test: signUp itself is not in the manifest."""
    refused = await api.gql(
        'mutation { signUp(input: {email: "t@example.com", name: "T", password: "long-enough"})'
        " { token } }"
    )
    assert error_codes(refused) == ["OPERATION_NOT_TRUSTED"]
    return "not-a-session"


def test_trusted_only_without_a_manifest_does_not_start() -> None:
    from shopgraph.settings import Settings

    with pytest.raises(SystemExit) as stopped:
        Settings.from_env({"SHOPGRAPH_TRUSTED_ONLY": "true"})
    assert "SHOPGRAPH_TRUSTED_DOCUMENTS" in str(stopped.value)


async def test_serve_with_a_bad_manifest_stops_before_starting_anything(
    serve: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"0" * 64: "{ __typename }"}))
    served = await serve(wait=False, SHOPGRAPH_TRUSTED_DOCUMENTS=str(manifest))
    assert await served.stop(None) == 2
    expected = f"error: {manifest}: entry '{'0' * 64}': its id is not the sha256 of its body"
    assert expected in served.output
    assert "Traceback" not in served.output
    # Refused before an engine was started or the table touched.
    assert "embedded engine" not in served.output
