"""Transactions as named steps: a cancellation is read by the step's name."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from shopgraph.data.dynamo import Dynamo
from shopgraph.data.transactions import Cancelled, Transaction, transact
from tests.conftest import put_items, table_items


async def test_a_cancellation_names_the_step_whose_condition_failed(db: Dynamo) -> None:
    await put_items(db, [{"PK": "A", "SK": "A", "n": 1}, {"PK": "B", "SK": "B", "n": 5}])
    tx = Transaction(db.table_name)
    tx.update("first", {"PK": "A", "SK": "A"}, "SET n = n + :one", values={":one": 1})
    tx.update(
        "second",
        {"PK": "B", "SK": "B"},
        "SET n = n - :ten",
        "n >= :ten",
        values={":ten": 10},
    )
    tx.put("third", {"PK": "C", "SK": "C"}, "attribute_not_exists(PK)")
    with pytest.raises(Cancelled) as cancelled:
        await transact(db, tx)
    assert cancelled.value.failed("second")
    assert not cancelled.value.failed("first") and not cancelled.value.failed("third")
    assert cancelled.value.old_item("second") == {"PK": "B", "SK": "B", "n": 5}
    assert cancelled.value.old_item("first") is None
    # Nothing of it was written.
    assert await table_items(db) == [{"PK": "A", "SK": "A", "n": 1}, {"PK": "B", "SK": "B", "n": 5}]


def test_a_step_name_is_used_once() -> None:
    tx = Transaction("table")
    tx.check("order", {"PK": "O", "SK": "O"}, "attribute_exists(PK)")
    with pytest.raises(ValueError, match="order"):
        tx.delete("order", {"PK": "O", "SK": "O"})


async def test_a_transaction_sent_again_with_its_token_applies_once(db: Dynamo) -> None:
    """A retry after a lost answer: DynamoDB (and the embedded moto, which
    otherwise ignores tokens) answers from the first success and writes nothing."""
    await put_items(db, [{"PK": "N", "SK": "N", "n": 0}])

    def add(amount: int) -> list[dict[str, Any]]:
        tx = Transaction(db.table_name)
        tx.update("counter", {"PK": "N", "SK": "N"}, "ADD n :d", values={":d": amount})
        tx.put("log", {"PK": "L", "SK": "L"})
        return tx.items

    await db.transact_write(add(1), token="retry-token-1")
    await db.transact_write(add(1), token="retry-token-1")
    assert (await db.get({"PK": "N", "SK": "N"}, consistent=True))["n"] == 1
    with pytest.raises(ClientError) as mismatch:
        await db.transact_write(add(5), token="retry-token-1")
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    await db.transact_write(add(1), token="retry-token-2")
    assert (await db.get({"PK": "N", "SK": "N"}, consistent=True))["n"] == 2
