"""Test harness: a real DynamoDB engine over HTTP, and the real server.

The suite starts its engine through the same launcher as `shopgraph serve`, on
a loopback port, and stops it at the end: DynamoDB Local by default,
moto's server with SHOPGRAPH_TEST_ENGINE=moto. With SHOPGRAPH_TEST_ENDPOINT set
it uses that engine instead. Each test gets a table of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web_app
from aiohttp.test_utils import TestClient, TestServer

from shopgraph.data.codec import Item, to_attributes
from shopgraph.data.dynamo import Dynamo, open_client
from shopgraph.data.seed import write_items
from shopgraph.data.table import ensure_table
from shopgraph.engine import start_embedded
from shopgraph.engine.process import free_port
from shopgraph.server.app import create_app
from shopgraph.settings import EmbeddedEngine, Settings

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

NODE_TESTS = Path(__file__).resolve().parent / "node"
GRAPHIQL_PACKAGES = Path(__file__).resolve().parents[1] / "graphiql"
# What tests leave behind for people to look at (screenshots); not committed.
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ENGINE = cast(EmbeddedEngine, os.environ.get("SHOPGRAPH_TEST_ENGINE") or "dynamodb-local")
assert ENGINE in ("dynamodb-local", "moto"), f"SHOPGRAPH_TEST_ENGINE={ENGINE!r}"


@pytest.fixture(scope="session")
def dynamo_endpoint() -> Iterator[str]:
    configured = os.environ.get("SHOPGRAPH_TEST_ENDPOINT")
    if configured:
        yield configured
        return
    # Chosen explicitly, never `auto`: a run meant for DynamoDB Local must not
    # pass on moto because java went missing.
    with start_embedded(ENGINE) as engine:
        yield engine.endpoint_url


def npm_installed(folder: Path) -> Path:
    """folder's npm packages, installed from its lock file unless the pinned ones are there."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed"
    pinned = json.loads((folder / "package.json").read_text())["dependencies"]

    def installed_version(package: str) -> str | None:
        try:
            manifest = folder / "node_modules" / package / "package.json"
            return json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None

    if any(installed_version(p) != v for p, v in pinned.items()):
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=folder,
            check=True,
            timeout=600,
        )
    return folder


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """tests/node: the graphql-http audits, an Apollo gateway, playwright-core."""
    return npm_installed(NODE_TESTS)


@pytest.fixture(scope="session")
def graphiql_assets() -> Path:
    """graphiql/node_modules, the GraphiQL assets the server serves by default."""
    return npm_installed(GRAPHIQL_PACKAGES) / "node_modules"


@pytest.fixture(scope="session")
def base_settings(dynamo_endpoint: str) -> Settings:
    # The stream consumer runs only in the tests about the stream. Requests
    # wait as long as they must for a slot, within a deadline to match: the
    # suite's bursts (50 transfers at once) meet machines shared with other
    # runs; shedding and deadlines have tests of their own (test_overload.py,
    # test_faults.py).
    return Settings(
        endpoint_url=dynamo_endpoint,
        secret=b"test-secret",
        status_shards=4,
        stream_consumer=False,
        admission_queue_timeout=30.0,
        request_deadline=60.0,
    )


@pytest.fixture(scope="session")
async def dynamo_client(base_settings: Settings) -> AsyncIterator[Any]:
    async with open_client(base_settings) as client:
        yield client


@pytest.fixture
async def table(dynamo_client: Any) -> AsyncIterator[str]:
    name = f"shopgraph-test-{uuid.uuid4().hex[:12]}"
    await ensure_table(dynamo_client, name)
    yield name
    await dynamo_client.delete_table(TableName=name)


@pytest.fixture
def db(dynamo_client: Any, table: str) -> Dynamo:
    """Direct table access for arranging data and checking what was written."""
    return Dynamo(dynamo_client, table)


class Api:
    """The running server, spoken to over HTTP as a client would."""

    def __init__(self, client: TestClient) -> None:
        self.http = client

    async def post(self, body: Any, token: str | None = None, **headers: str) -> Any:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.post("/graphql", json=body, headers=headers)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = await self.post({"query": query, "variables": variables or {}}, token)
        assert response.status == 200, await response.text()
        return await response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The data of a response that must have no errors."""
        body = await self.gql(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def sign_up(
        self, email: str, password: str = "correct-horse", name: str = "Tester"
    ) -> str:
        data = await self.data(
            "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
            {"i": {"email": email, "name": name, "password": password}},
        )
        return data["signUp"]["token"]

    async def log_in(self, email: str, password: str) -> str:
        data = await self.data(
            "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }",
            {"e": email, "p": password},
        )
        return data["logIn"]["token"]


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a `shopgraph` subprocess: this one's, without any
    endpoint that would point it elsewhere than its arguments say."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_ENDPOINT_URL") and k != "SHOPGRAPH_TEST_ENDPOINT"
    }
    return {**env, **extra}


# What `serve` prints when it starts its own engine.
ENGINE_LINE = re.compile(r"started the embedded engine, (?P<what>.*), at (?P<url>http://[\d.:]+)\.")


class Served:
    """One `shopgraph serve` process: its output as it comes, its URL, its engine."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def engine_url(self) -> str:
        match = ENGINE_LINE.search(self.output)
        assert match, self.output
        return match["url"]

    async def ready(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process.returncode is None, f"serve exited:\n{self.output}"
                try:
                    async with session.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"serve did not become ready:\n{self.output}")

    async def stop(self, signum: int | None = signal.SIGTERM, within: float = 30) -> int:
        """Its exit status, after signum (None: waits for it to exit by itself)."""
        if signum is not None and self.process.returncode is None:
            self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), within)
        await asyncio.wait_for(self._reader, 5)
        return code


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """Starts `shopgraph serve` with the arguments and environment given."""
    started: list[Served] = []

    async def start(*args: str, wait: bool = True, cwd: Path | None = None, **env: str) -> Served:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shopgraph",
            "serve",
            *args,
            env=process_env(PORT=str(port), HOST="127.0.0.1", **env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
        )
        served = Served(process, port)
        started.append(served)
        if wait:
            await served.ready()
        return served

    yield start
    for served in started:
        if served.process.returncode is None:
            served.process.kill()
            await served.process.wait()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


@pytest.fixture
async def start_api(base_settings: Settings, table: str) -> AsyncIterator[Callable[..., Any]]:
    """Starts the server on a loopback port, with settings changed as asked."""
    clients: list[TestClient] = []

    async def start(**changes: Any) -> Api:
        settings = base_settings.with_(**{"table_name": table, **changes})
        client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return Api(client)

    yield start
    for client in clients:
        await client.close()
    # aiohttp memoizes each app's middleware chain (1,024 entries), and with it
    # the app, its schema and its DynamoDB clients: one app per test would keep
    # about 10 MB a test alive, and the run's end would wait on collecting GBs.
    web_app._cached_build_middleware.cache_clear()


@pytest.fixture
async def api(start_api: Callable[..., Any]) -> Api:
    return await start_api(admin_emails=frozenset({"admin@example.com"}))


async def put_items(db: Dynamo, items: list[Item]) -> None:
    await write_items(db, iter(items), progress=False)


async def table_items(db: Dynamo) -> list[Item]:
    """Every item of the table (a Scan: for checking tests only)."""
    from shopgraph.data.codec import from_attributes

    items: list[Item] = []
    params: dict[str, Any] = {"TableName": db.table_name}
    while True:
        response = await db.client.scan(**params)
        items.extend(from_attributes(i) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return sorted(items, key=lambda i: (i["PK"], i["SK"]))
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


async def shop_items(db: Dynamo) -> list[Item]:
    """The table's items but the attempt counters, which every log-in failure
    and sign-up writes (test_attempts.py checks them)."""
    return [i for i in await table_items(db) if i.get("entityType") != "AttemptCounter"]


__all__ = [
    "ENGINE",
    "Api",
    "error_codes",
    "free_port",
    "put_items",
    "shop_items",
    "table_items",
    "to_attributes",
]
