"""The one way the service talks to DynamoDB.

`Dynamo` binds a client to the table and to the cost recorder of one request:
every call asks for ReturnConsumedCapacity and is counted, and engine failures
become the domain errors clients are promised (THROTTLED, UNAVAILABLE) instead
of DynamoDB messages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
import botocore
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from shopgraph.data import retries
from shopgraph.data.codec import Item, from_attributes, key_attributes, to_attribute, to_attributes
from shopgraph.data.cost import CostRecorder, transactional_write_units
from shopgraph.data.wire import ParserFactory, use_item_serializer
from shopgraph.errors import Throttled, Unavailable
from shopgraph.settings import Settings

log = logging.getLogger(__name__)

BATCH_GET_LIMIT = 100
READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query"})
# How long a finished response waits for reads still in flight (see settle).
SETTLE_SECONDS = 5.0
THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)
# Refused, reset, timed out: what botocore raises once its retries are spent.
UNREACHABLE_ERRORS = (BotocoreConnectionError, HTTPClientError)
# The engine failed (HTTP 5xx): worth a retry by the client later.
ENGINE_FAILURES = frozenset({"InternalServerError", "ServiceUnavailable"})


def client_config(settings: Settings) -> Config:
    return Config(
        # botocore's standard mode: exponential backoff with jitter on
        # throttling and transient errors, before we see them.
        retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
        max_pool_connections=settings.max_pool_connections,
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=settings.dynamodb_read_timeout,
        # Every request is built here from checked inputs; botocore checking
        # each one against the service model again costs CPU on every call.
        parameter_validation=False,
        # A fixed User-Agent: botocore otherwise rebuilds its own, twice per call.
        user_agent=f"shopgraph botocore/{botocore.__version__}",
    )


# DescribeTable on DynamoDB Local counts the table's items: seconds for
# millions. Creating and checking the table waits that long; item calls do not.
TABLE_ADMIN_READ_TIMEOUT = 120.0


def table_admin_settings(settings: Settings) -> Settings:
    """Settings for a client that creates, checks or describes the table."""
    return settings.with_(
        dynamodb_read_timeout=max(settings.dynamodb_read_timeout, TABLE_ADMIN_READ_TIMEOUT)
    )


@asynccontextmanager
async def open_client(
    settings: Settings, endpoint_url: str | None = None, service: str = "dynamodb"
) -> AsyncIterator[Any]:
    endpoint = endpoint_url or settings.endpoint_url
    if service == "dynamodbstreams":
        # AWS_ENDPOINT_URL_DYNAMODB does not reach the streams client.
        endpoint = settings.streams_endpoint_url or endpoint
    credentials: dict[str, str] = {}
    if endpoint and not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        # Local engines need some credentials; DynamoDB Local rejects '-' and '_' in them.
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    botocore_session = get_session()
    botocore_session.register_component("response_parser_factory", ParserFactory())
    session = aioboto3.Session(botocore_session=botocore_session)
    async with session.client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=endpoint,
        config=client_config(settings),
        **credentials,
    ) as client:
        retries.use_dynamodb_backoff(client)
        use_item_serializer(client)
        yield client


class ConditionFailed(Exception):
    """A put, update or delete whose condition did not hold: nothing was written."""


def expression_params(
    condition: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A write's condition, attribute names and (plain Python) values, as DynamoDB takes them."""
    params: dict[str, Any] = {}
    if condition:
        params["ConditionExpression"] = condition
    if names:
        params["ExpressionAttributeNames"] = dict(names)
    if values:
        params["ExpressionAttributeValues"] = {k: to_attribute(v) for k, v in values.items()}
    return params


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


class Dynamo:
    def __init__(
        self,
        client: Any,
        table_name: str,
        cost: CostRecorder | None = None,
        *,
        deadline: float | None = None,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.cost = cost
        # The event loop's time by which every call must have answered (one
        # GraphQL request's deadline); None: no bound but botocore's own.
        self.deadline = deadline
        # One future per read call in flight, done when the call returns.
        self._reads: set[asyncio.Future[None]] = set()

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Calls one DynamoDB operation; ClientErrors other than throttling pass through."""
        if operation not in READ_OPERATIONS:
            return await self._call(operation, **params)
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reads.add(finished)
        try:
            return await self._call(operation, **params)
        finally:
            finished.set_result(None)
            self._reads.discard(finished)

    async def settle(self) -> None:
        """Waits for the read calls still in flight when a response is complete.

        When a non-null field fails, graphql-core answers without waiting for
        its siblings, whose loaders may be mid-call. Waiting lets those calls
        end inside the request: their cost is counted in the response that
        caused them, and no call outlives its request.
        """
        if self._reads:
            await asyncio.wait(set(self._reads), timeout=SETTLE_SECONDS)

    async def _send(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(self.client, _snake(operation))
        if self.deadline is None:
            return await method(**params)
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                return await method(**params)
        except TimeoutError:
            # A write cut off here may or may not have been applied: clients
            # retry it with the same idempotencyKey.
            raise Unavailable("The store did not answer in time; retry shortly.") from None

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
        try:
            response = await self._send(operation, params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if self.cost is not None:
                retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                self.cost.record(operation, None, retries, throttled=code in THROTTLE_CODES)
            if code in THROTTLE_CODES:
                raise Throttled("The store is busy; retry shortly.") from exc
            if code == "ResourceNotFoundException" and operation != "DescribeTable":
                raise Unavailable("The store is not available.") from exc
            if code in ENGINE_FAILURES:
                raise Unavailable("The store failed to answer; retry shortly.") from exc
            raise
        except UNREACHABLE_ERRORS as exc:
            raise Unavailable("The store cannot be reached.") from exc
        if self.cost is not None:
            consumed = response.get("ConsumedCapacity")
            if operation == "TransactWriteItems" and not consumed:
                # moto reports nothing for transactions: count them as DynamoDB bills.
                consumed = {
                    "WriteCapacityUnits": transactional_write_units(params["TransactItems"])
                }
            self.cost.record(
                operation, consumed, response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            )
        return response

    async def get(self, key: dict[str, str], *, consistent: bool = False) -> Item | None:
        response = await self.call(
            "GetItem",
            TableName=self.table_name,
            Key=key_attributes(key),
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return from_attributes(item) if item else None

    async def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        await self._write(
            "PutItem", Item=to_attributes(item), **expression_params(condition, names, values)
        )

    async def update(
        self,
        key: Mapping[str, str],
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = False,
    ) -> Item | None:
        """Updates one item; with return_new, answers the item as it is after."""
        response = await self._write(
            "UpdateItem",
            Key=key_attributes(key),
            UpdateExpression=expression,
            **expression_params(condition, names, values),
            **({"ReturnValues": "ALL_NEW"} if return_new else {}),
        )
        attributes = response.get("Attributes")
        return from_attributes(attributes) if attributes else None

    async def delete(
        self,
        key: Mapping[str, str],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        await self._write(
            "DeleteItem", Key=key_attributes(key), **expression_params(condition, names, values)
        )

    async def _write(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return await self.call(operation, TableName=self.table_name, **params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed(operation) from exc
            raise

    async def query(self, **params: Any) -> dict[str, Any]:
        return await self.call("Query", TableName=self.table_name, **params)

    async def query_all(self, **params: Any) -> list[Item]:
        """Every item of a (small) single-partition query, following pages."""
        items: list[Item] = []
        while True:
            response = await self.query(**params)
            items.extend(from_attributes(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            params["ExclusiveStartKey"] = last

    async def batch_get(
        self,
        keys: Sequence[dict[str, str]],
        *,
        consistent: bool = False,
        max_attempts: int = 10,
    ) -> list[Item | None]:
        """Items for keys, in the order asked (None where absent).

        Duplicates are asked once; chunks of 100 go out concurrently;
        UnprocessedKeys are asked again with exponential backoff and full jitter.
        """
        unique: dict[tuple[str, str], dict[str, str]] = {}
        for key in keys:
            unique.setdefault((key["PK"], key["SK"]), key)
        ordered = list(unique.values())
        chunks = [ordered[i : i + BATCH_GET_LIMIT] for i in range(0, len(ordered), BATCH_GET_LIMIT)]
        found: dict[tuple[str, str], Item] = {}
        results = await asyncio.gather(
            *(self._batch_get_chunk(c, consistent, max_attempts) for c in chunks)
        )
        for chunk_items in results:
            for item in chunk_items:
                found[(item["PK"], item["SK"])] = item
        return [found.get((k["PK"], k["SK"])) for k in keys]

    async def _batch_get_chunk(
        self, keys: list[dict[str, str]], consistent: bool, max_attempts: int
    ) -> list[Item]:
        request: dict[str, Any] = {
            self.table_name: {
                "Keys": [key_attributes(key) for key in keys],
                "ConsistentRead": consistent,
            }
        }
        items: list[Item] = []
        for attempt in range(max_attempts):
            response = await self.call("BatchGetItem", RequestItems=request)
            items.extend(
                from_attributes(i) for i in response.get("Responses", {}).get(self.table_name, [])
            )
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            await asyncio.sleep(backoff_delay(attempt))
        raise Throttled("The store is busy; retry shortly.")

    async def batch_write(self, requests: list[dict[str, Any]], *, max_attempts: int = 12) -> None:
        """Writes up to 25 put/delete requests, retrying UnprocessedItems with backoff."""
        assert len(requests) <= 25
        pending: dict[str, Any] = {self.table_name: requests}
        for attempt in range(max_attempts):
            response = await self.call("BatchWriteItem", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            await asyncio.sleep(backoff_delay(attempt))
        raise Throttled("The store is busy; retry shortly.")

    async def transact_write(self, items: list[dict[str, Any]], token: str | None = None) -> None:
        params: dict[str, Any] = {"TransactItems": items}
        if token:
            params["ClientRequestToken"] = token
        await self.call("TransactWriteItems", **params)


def backoff_delay(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))
