"""TransactWriteItems: building the items, retrying conflicts, reading why it failed.

Every multi-item change is one transaction, built as named steps. When
DynamoDB cancels one, the reasons come back item by item; `Cancelled` keeps
them by step name (with the item as it was, where a condition failed) so each
caller can turn the failing step into the matching domain error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shopgraph.data.codec import Item, from_attributes, key_attributes, to_attributes
from shopgraph.data.dynamo import Dynamo, backoff_delay, expression_params
from shopgraph.errors import Conflict, Throttled

CONDITION_FAILED = "ConditionalCheckFailed"
# Worth another try: another transaction held one of the items.
_TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
MAX_ATTEMPTS = 4


def _with_expressions(
    body: dict[str, Any],
    condition: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body.update(expression_params(condition, names, values))
    if condition:
        # The item as it was comes back with a failed condition: callers read it.
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return body


class Transaction:
    """The steps of one TransactWriteItems, each under a name of its own.

    DynamoDB answers a cancellation with one reason per item, by position;
    naming the steps lets a caller ask `cancelled.failed("sender")` instead of
    counting, so adding a step never shifts what another step's failure means.
    """

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self.names: list[str] = []
        self.items: list[dict[str, Any]] = []

    def _add(self, name: str, action: str, body: dict[str, Any]) -> None:
        if name in self.names:
            raise ValueError(f"a transaction step named {name!r} is there already")
        self.names.append(name)
        self.items.append({action: body})

    def put(
        self,
        name: str,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        body = {"TableName": self.table_name, "Item": to_attributes(item)}
        self._add(name, "Put", _with_expressions(body, condition, names, values))

    def update(
        self,
        name: str,
        key: Mapping[str, str],
        expression: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        body = {
            "TableName": self.table_name,
            "Key": key_attributes(key),
            "UpdateExpression": expression,
        }
        self._add(name, "Update", _with_expressions(body, condition, names, values))

    def delete(
        self,
        name: str,
        key: Mapping[str, str],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        body = {"TableName": self.table_name, "Key": key_attributes(key)}
        self._add(name, "Delete", _with_expressions(body, condition, names, values))

    def check(
        self,
        name: str,
        key: Mapping[str, str],
        condition: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        body = {"TableName": self.table_name, "Key": key_attributes(key)}
        self._add(name, "ConditionCheck", _with_expressions(body, condition, names, values))


@dataclass(frozen=True)
class Reason:
    code: str
    old_item: Item | None


class Cancelled(Exception):
    """A transaction DynamoDB cancelled for a reason other than a conflict,
    with the reason of each step by the step's name."""

    def __init__(self, reasons: dict[str, Reason]) -> None:
        super().__init__(", ".join(f"{n}: {r.code}" for n, r in reasons.items()))
        self.reasons = reasons

    def failed(self, step: str) -> bool:
        """Whether the step's condition failed."""
        reason = self.reasons.get(step)
        return reason is not None and reason.code == CONDITION_FAILED

    def old_item(self, step: str) -> Item | None:
        """The item as it was where the step's condition failed (ALL_OLD)."""
        return self.reasons[step].old_item if self.failed(step) else None


def _reasons(error: ClientError) -> list[Reason]:
    return [
        Reason(r.get("Code") or "None", from_attributes(r["Item"]) if r.get("Item") else None)
        for r in error.response.get("CancellationReasons") or []
    ]


async def transact(db: Dynamo, tx: Transaction, attempts: int = MAX_ATTEMPTS) -> None:
    """Writes all of tx's steps or none.

    A conflict with another transaction is tried again, a bounded number of
    times with backoff, then CONFLICT. Each attempt carries a ClientRequestToken,
    so the SDK's own retry of a call whose answer was lost is not applied twice.
    """
    reasons: list[Reason] = []
    for attempt in range(attempts):
        try:
            await db.transact_write(tx.items, token=str(uuid.uuid4()))
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
            raise Cancelled(dict(zip(tx.names, reasons, strict=False)))
        await asyncio.sleep(backoff_delay(attempt))
    if any(r.code.startswith(("Throttling", "ProvisionedThroughput")) for r in reasons):
        raise Throttled("The store is busy; retry shortly.")
    raise Conflict("Another change to the same data was in progress; try again.")
