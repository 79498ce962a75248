"""Trusted documents: a manifest written from .graphql files, documents sent by
id, and with SHOPGRAPH_TRUSTED_ONLY nothing else."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shopgraph.schema.trusted_documents import ManifestError, TrustedDocuments
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


def write_manifest(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The manifest the CLI writes from a folder of .graphql files."""
    documents = folder / "documents"
    (documents / "nested").mkdir(parents=True)
    (documents / "product.graphql").write_text(PRODUCT_PAGE)
    (documents / "nested" / "category.graphql").write_text(CATEGORY)
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
    assert "2 operations from 2 files" in done.stdout
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
    path.write_text(json.dumps({sha256(CATEGORY): CATEGORY}))
    assert TrustedDocuments.load(path).get(sha256(CATEGORY)) == CATEGORY


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

    # Anything else: refused before a single DynamoDB call.
    refused = await _ask(api, "POST", {"query": OTHER})
    assert error_codes(refused) == ["OPERATION_NOT_TRUSTED"]
    assert refused.get("extensions", {}).get("cost", {}).get("calls", {}) == {}
    unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(OTHER)}}}
    assert error_codes(await _ask(api, "GET", unknown)) == ["PERSISTED_QUERY_NOT_FOUND"]
    # APQ registration would let any document in: refused, and not remembered.
    register = {**unknown, "query": OTHER}
    assert error_codes(await _ask(api, "POST", register)) == ["OPERATION_NOT_TRUSTED"]
    assert error_codes(await _ask(api, "GET", unknown)) == ["PERSISTED_QUERY_NOT_FOUND"]


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
