"""GraphiQL: its page and assets served by shopgraph, and the playground used in Chromium.

The browser tests drive the machine's Chromium with playwright-core
(tests/node/graphiql.mjs) and leave their screenshots in tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import re
import shutil
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from strawberry.http.ides import get_graphql_ide_html

from shopgraph.data.dynamo import Dynamo
from shopgraph.server.graphiql import integrity_of
from tests.conftest import ARTIFACTS, ENGINE, Api, put_items
from tests.factories import product

HTML = {"Accept": "text/html"}
ASSET = re.compile(r'(?:src|href)="(?P<url>/graphiql/[^"]+)"\s+integrity="(?P<integrity>[^"]+)"')


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).is_file(), (
        f"Chromium is needed for the browser tests and is not at {path}: `make test` "
        "installs Debian's chromium package, or set CHROMIUM to a Chromium binary"
    )
    return path


@pytest.fixture
async def graphiql_api(start_api: Any, graphiql_assets: Path) -> Api:
    return await start_api(graphiql_assets=graphiql_assets)


async def page_assets(api: Api) -> tuple[str, list[tuple[str, str]]]:
    response = await api.http.get("/graphql", headers=HTML)
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    return html, [(m["url"], m["integrity"]) for m in ASSET.finditer(html)]


async def test_the_page_loads_every_script_and_style_from_shopgraph(graphiql_api: Api) -> None:
    html, assets = await page_assets(graphiql_api)

    # React, ReactDOM, js-cookie, GraphiQL's script and style, the explorer's.
    assert len(assets) == 7
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "the page names another host"
    for url, integrity in assets:
        response = await graphiql_api.http.get(url, headers={"Accept-Encoding": "identity"})
        assert response.status == 200, url
        body = await response.read()
        # The browser checks the same hash: these are the very bytes the page pins.
        assert integrity_of(body, integrity[3:6]) == integrity, url
        assert response.content_type in ("text/javascript", "text/css"), url
        assert "immutable" in response.headers["Cache-Control"]


async def test_the_page_is_served_with_a_policy_that_allows_only_its_own_origin(
    graphiql_api: Api,
) -> None:
    response = await graphiql_api.http.get("/graphql", headers=HTML)
    policy = dict(
        d.strip().split(" ", 1) for d in response.headers["Content-Security-Policy"].split(";")
    )

    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    # Inline scripts: only the page's own, by its hash.
    assert "'unsafe-inline'" not in policy["script-src"]
    inline = re.search(r"<script>(.*?)</script>", await response.text(), re.DOTALL)
    assert inline is not None
    assert f"'{integrity_of(inline[1].encode(), '256')}'" in policy["script-src"]


async def test_assets_are_gzipped_on_request_and_revalidated_by_hash(graphiql_api: Api) -> None:
    _, assets = await page_assets(graphiql_api)
    url, integrity = next(a for a in assets if a[0].endswith("graphiql.min.js"))

    plain = await graphiql_api.http.get(url, headers={"Accept-Encoding": "identity"})
    plain_body = await plain.read()
    zipped = await graphiql_api.http.get(
        url, headers={"Accept-Encoding": "gzip, deflate"}, auto_decompress=False
    )
    zipped_body = await zipped.read()
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) < len(plain_body) / 3

    again = await graphiql_api.http.get(url, headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status == 304
    assert await again.read() == b""
    assert plain.headers["ETag"] == f'"{integrity}"'


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/react@18.2.0/package.json",
        "/graphiql/react@18.2.0/../../../pyproject.toml",
        "/graphiql/react@18.1.0/umd/react.production.min.js",
        "/graphiql/left-pad@1.3.0/index.js",
    ],
)
async def test_only_the_files_the_page_names_are_served(graphiql_api: Api, path: str) -> None:
    response = await graphiql_api.http.get(path)
    assert response.status == 404


def tampered_copy(assets: Path, into: Path) -> Path:
    """The packages, with one byte of React changed (a wrong or corrupted install)."""
    for package in ("react", "react-dom", "js-cookie", "graphiql", "@graphiql/plugin-explorer"):
        shutil.copytree(assets / package, into / package)
    react = into / "react" / "umd" / "react.production.min.js"
    react.write_bytes(react.read_bytes().replace(b"React", b"Reakt", 1))
    return into


@pytest.mark.parametrize("install", ["missing", "tampered"])
async def test_without_the_exact_packages_the_stock_page_is_served_and_a_warning_logged(
    start_api: Any,
    graphiql_assets: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    install: str,
) -> None:
    root = tampered_copy(graphiql_assets, tmp_path) if install == "tampered" else tmp_path
    with caplog.at_level(logging.WARNING, logger="shopgraph.server.graphiql"):
        api = await start_api(graphiql_assets=root)
    response = await api.http.get("/graphql", headers=HTML)

    # strawberry's own page, which needs the browser to reach the internet.
    assert await response.text() == get_graphql_ide_html("graphiql")
    assert "Content-Security-Policy" not in response.headers
    assert (await api.http.get("/graphiql/react@18.2.0/umd/react.production.min.js")).status == 404
    warning = next(r.message for r in caplog.records if "GraphiQL's assets" in r.message)
    expected = (
        "does not match the page's integrity hash"
        if install == "tampered"
        else ("react@18.2.0 is not installed")
    )
    assert expected in warning


async def run_in_chromium(
    api: Api, node_tools: Path, chromium: str, name: str, **scenario: Any
) -> dict[str, Any]:
    """Runs graphiql.mjs against the server; returns its report and the screenshot's path."""
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"graphiql-{name}-{ENGINE}.png"
    screenshot.unlink(missing_ok=True)
    url = str(api.http.make_url("/graphql"))
    arguments = json.dumps({"url": url, "screenshot": str(screenshot), **scenario})
    process = await asyncio.create_subprocess_exec(
        "node",
        str(node_tools / "graphiql.mjs"),
        arguments,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "CHROMIUM": chromium},
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode == 0
    report = json.loads(stdout)
    assert "failure" not in report, report
    # Everything the page asked for came from this server.
    origin = urlsplit(url).netloc
    opened = report["requests"] + report["websockets"]
    assert {urlsplit(u).netloc for u in opened} == {origin}, opened
    assert report["consoleErrors"] == report["pageErrors"] == report["cspViolations"] == []
    report["screenshot"] = screenshot
    return report


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def test_graphiql_in_chromium_runs_a_query_and_shows_the_result(
    graphiql_api: Api, db: Dynamo, node_tools: Path, chromium: str
) -> None:
    await put_items(
        db,
        [
            replace(product(1, "lighting", "59.00"), name="Brass Desk Lamp").to_item(),
            replace(product(2, "lighting", "4.50"), name="Warm Bulb").to_item(),
        ],
    )
    query = (
        "{\n"
        '  productsByCategory(category: "lighting", first: 5) {\n'
        "    nodes { id name price }\n"
        "  }\n"
        "}"
    )

    report = await run_in_chromium(
        graphiql_api, node_tools, chromium, "query", query=query, expect="Brass Desk Lamp"
    )

    result = json.loads(report["result"])
    names = {n["name"] for n in result["data"]["productsByCategory"]["nodes"]}
    assert names == {"Brass Desk Lamp", "Warm Bulb"}
    assert result["extensions"]["cost"]["totalCalls"] == 1
    assert png_size(report["screenshot"]) == (1400, 800)


async def test_graphiql_sends_the_headers_tab_to_shopgraph(
    graphiql_api: Api, node_tools: Path, chromium: str
) -> None:
    token = await graphiql_api.sign_up("ada@example.com", name="Ada Lovelace")

    report = await run_in_chromium(
        graphiql_api,
        node_tools,
        chromium,
        "viewer",
        query="{\n  viewer {\n    name\n    email\n    points\n  }\n}",
        headers={"Authorization": f"Bearer {token}"},
        expect="ada@example.com",
    )

    viewer = json.loads(report["result"])["data"]["viewer"]
    assert viewer["name"] == "Ada Lovelace"
    assert viewer["email"] == "ada@example.com"
    assert png_size(report["screenshot"]) == (1400, 800)


async def test_a_subscription_in_graphiql_receives_changes_over_its_websocket(
    start_api: Any, graphiql_assets: Path, node_tools: Path, chromium: str
) -> None:
    api = await start_api(
        graphiql_assets=graphiql_assets,
        stream_consumer=True,
        admin_emails=frozenset({"admin@example.com"}),
    )
    admin = await api.sign_up("admin@example.com")
    grace = await api.sign_up("grace@example.com", name="Grace Hopper")
    await api.data(
        'mutation { createProduct(input: {id: "mug", name: "Mug", category: "kitchen", '
        'price: "8.50", stock: 100}) { id } }',
        token=admin,
    )
    placed: list[str] = []

    async def keep_ordering() -> None:
        # The browser subscribes at a moment the test cannot see, so Grace orders
        # once a second until GraphiQL shows one of her orders arriving.
        while True:
            order = (
                'mutation { placeOrder(input: {items: [{productId: "mug", quantity: 1}]}) { id } }'
            )
            placed.append((await api.data(order, token=grace))["placeOrder"]["id"])
            await asyncio.sleep(1)

    ordering = asyncio.create_task(keep_ordering())
    try:
        report = await run_in_chromium(
            api,
            node_tools,
            chromium,
            "subscription",
            query=(
                "subscription {\n  orderStatusChanged {\n    order { id total }\n"
                "    previousStatus\n    status\n  }\n}"
            ),
            # GraphiQL sends its Headers tab in graphql-transport-ws's connection_init.
            headers={"Authorization": f"Bearer {grace}"},
            expect="PENDING",
        )
    finally:
        ordering.cancel()
        await asyncio.gather(ordering, return_exceptions=True)

    event = json.loads(report["result"])["data"]["orderStatusChanged"]
    assert (event["previousStatus"], event["status"]) == (None, "PENDING")
    assert event["order"]["id"] in placed
    assert event["order"]["total"] == "8.50"
    assert [urlsplit(u).scheme for u in report["websockets"]] == ["ws"]
