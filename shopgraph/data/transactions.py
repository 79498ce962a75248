"""TransactWriteItems: building the items, retrying conflicts, reading why it failed.

Every multi-item change is one transaction. When DynamoDB cancels one, the
reasons come back item by item; `Cancelled` keeps them (with the item as it was,
where a condition failed) so each caller can turn the failing item into the
matching domain error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shopgraph.data.codec import Item, from_attributes, key_attributes, to_attribute, to_attributes
from shopgraph.data.dynamo import Dynamo, backoff_delay
from shopgraph.errors import Conflict, Throttled

CONDITION_FAILED = "ConditionalCheckFailed"
# Worth another try: another transaction held one of the items.
_TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
MAX_ATTEMPTS = 4


def _values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: to_attribute(v) for k, v in (values or {}).items()}


def _with_expressions(
    body: dict[str, Any],
    condition: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> dict[str, Any]:
    if condition:
        body["ConditionExpression"] = condition
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names:
        body["ExpressionAttributeNames"] = dict(names)
    if values:
        body["ExpressionAttributeValues"] = _values(values)
    return body


@dataclass
class TransactionBuilder:
    table_name: str

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"TableName": self.table_name, "Item": to_attributes(item)}
        return {"Put": _with_expressions(body, condition, names, values)}

    def update(
        self,
        key: Mapping[str, str],
        expression: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {
            "TableName": self.table_name,
            "Key": key_attributes(key),
            "UpdateExpression": expression,
        }
        return {"Update": _with_expressions(body, condition, names, values)}

    def delete(
        self,
        key: Mapping[str, str],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"TableName": self.table_name, "Key": key_attributes(key)}
        return {"Delete": _with_expressions(body, condition, names, values)}

    def check(
        self,
        key: Mapping[str, str],
        condition: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"TableName": self.table_name, "Key": key_attributes(key)}
        return {"ConditionCheck": _with_expressions(body, condition, names, values)}


@dataclass(frozen=True)
class Reason:
    code: str
    old_item: Item | None


class Cancelled(Exception):
    """A transaction DynamoDB cancelled for a reason other than a conflict."""

    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__(", ".join(r.code for r in reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index].code == CONDITION_FAILED


def _reasons(error: ClientError) -> list[Reason]:
    return [
        Reason(r.get("Code") or "None", from_attributes(r["Item"]) if r.get("Item") else None)
        for r in error.response.get("CancellationReasons") or []
    ]


async def transact(db: Dynamo, items: list[dict[str, Any]], attempts: int = MAX_ATTEMPTS) -> None:
    """Writes all items or none.

    A conflict with another transaction is tried again, a bounded number of
    times with backoff, then CONFLICT. Each attempt carries a ClientRequestToken,
    so the SDK's own retry of a call whose answer was lost is not applied twice.
    """
    reasons: list[Reason] = []
    for attempt in range(attempts):
        try:
            await db.transact_write(items, token=str(uuid.uuid4()))
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "TransactionInProgressException":
                reasons = [Reason("TransactionConflict", None)]
            elif code == "TransactionCanceledException":
                reasons = _reasons(exc)
            else:
                raise
        if any(r.code == CONDITION_FAILED for r in reasons) or not any(
            r.code in _TRANSIENT for r in reasons
        ):
            raise Cancelled(reasons)
        await asyncio.sleep(backoff_delay(attempt))
    if any(r.code.startswith(("Throttling", "ProvisionedThroughput")) for r in reasons):
        raise Throttled("The store is busy; retry shortly.")
    raise Conflict("Another change to the same data was in progress; try again.")
