"""transferPoints: one transaction that never overdraws."""

from __future__ import annotations

from dataclasses import dataclass

from shopgraph.data import entities, model
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import User
from shopgraph.data.idempotency import KeyedRequest, once, transact_once
from shopgraph.data.transactions import Cancelled, Transaction
from shopgraph.errors import BadUserInput, InsufficientPoints, NotFound

MAX_TRANSFER = 1_000_000
TRANSFER_POINTS = "transferPoints"


@dataclass(frozen=True)
class Transfer:
    sender: User
    recipient: User
    points: int


async def transfer_points(
    db: Dynamo, sender: User, to_user_id: str, points: int, idempotency_key: str | None
) -> Transfer:
    """Moves points from the sender to another user; sent again under the same
    key, the first transfer's answer (even where that first transfer is what
    left too few points for this one)."""
    model.validate_id(to_user_id, "user id")
    if not 1 <= points <= MAX_TRANSFER:
        raise BadUserInput(f"points must be 1-{MAX_TRANSFER}")
    if to_user_id == sender.id:
        raise BadUserInput("Points cannot be sent to yourself")
    keyed = KeyedRequest.of(
        db, sender.id, idempotency_key, TRANSFER_POINTS, {"to": to_user_id, "points": points}
    )

    async def answer(result: dict[str, int]) -> Transfer:
        return await _after(db, sender.id, to_user_id, result["points"])

    async def run() -> Transfer:
        tx = Transaction(db.table_name)
        tx.update(
            "sender",
            entities.USER.key(id=sender.id),
            "SET points = points - :n",
            "attribute_exists(PK) AND points >= :n",
            values={":n": points},
        )
        tx.update(
            "recipient",
            entities.USER.key(id=to_user_id),
            "ADD points :n",
            "attribute_exists(PK) AND entityType = :user",
            values={":n": points, ":user": entities.USER.name},
        )
        if keyed is not None:
            keyed.record_in(tx, {"points": points})
        try:
            await transact_once(db, tx, keyed)
        except Cancelled as cancelled:
            if cancelled.failed("recipient"):
                raise NotFound("No such recipient") from None
            if cancelled.failed("sender"):
                raise InsufficientPoints("Not enough points") from None
            raise
        return await answer({"points": points})

    return await once(keyed, run, answer)


async def _after(db: Dynamo, sender_id: str, recipient_id: str, points: int) -> Transfer:
    """Both users as they are after the write, read strongly consistent."""
    found = await db.batch_get(
        [entities.USER.key(id=sender_id), entities.USER.key(id=recipient_id)], consistent=True
    )
    sender, recipient = (User.from_item(i) if i else None for i in found)
    if sender is None or recipient is None:
        raise NotFound("No such user")
    return Transfer(sender, recipient, points)
