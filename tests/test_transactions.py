"""Transactions as named steps: a cancellation is read by the step's name."""

from __future__ import annotations

import pytest

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
