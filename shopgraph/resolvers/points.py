"""transferPoints: one transaction that never overdraws."""

from __future__ import annotations

from dataclasses import dataclass

from shopgraph.data import entities, idempotency, model
from shopgraph.data.entities import User
from shopgraph.data.transactions import Cancelled, Transaction, transact
from shopgraph.errors import BadUserInput, InsufficientPoints, NotFound
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext

MAX_TRANSFER = 1_000_000
TRANSFER_POINTS = "transferPoints"


@dataclass(frozen=True)
class Transfer:
    sender: User
    recipient: User
    points: int


async def _users(ctx: RequestContext, sender_id: str, recipient_id: str, points: int) -> Transfer:
    """Both users as they are after the write, read strongly consistent."""
    found = await ctx.db.batch_get(
        [entities.USER.key(id=sender_id), entities.USER.key(id=recipient_id)], consistent=True
    )
    sender, recipient = (User.from_item(i) if i else None for i in found)
    if sender is None or recipient is None:
        raise NotFound("No such user")
    for user in (sender, recipient):
        ctx.loaders.users.clear(user.id).prime(user.id, user)
    return Transfer(sender, recipient, points)


async def transfer_points(
    ctx: RequestContext, to_user_id: str, points: int, idempotency_key: str | None
) -> Transfer:
    viewer = await auth.require_viewer(ctx)
    model.validate_id(to_user_id, "user id")
    if not 1 <= points <= MAX_TRANSFER:
        raise BadUserInput(f"points must be 1-{MAX_TRANSFER}")
    if to_user_id == viewer.id:
        raise BadUserInput("Points cannot be sent to yourself")
    request = idempotency.fingerprint({"to": to_user_id, "points": points})
    record = None
    if idempotency_key is not None:
        idempotency.validate_key(idempotency_key)
        existing = await idempotency.find(ctx.db, viewer.id, idempotency_key, TRANSFER_POINTS)
        if existing is not None:
            idempotency.check_same_request(existing, request)
            return await _users(ctx, viewer.id, to_user_id, existing.result["points"])
        record = idempotency.new_record(
            viewer.id, idempotency_key, TRANSFER_POINTS, request, {"points": points}
        )

    tx = Transaction(ctx.db.table_name)
    tx.update(
        "sender",
        entities.USER.key(id=viewer.id),
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
    if record is not None:
        tx.put("idempotency", record.to_item(), **idempotency.put_condition())
    try:
        await transact(ctx.db, tx)
    except Cancelled as cancelled:
        # The same key won a concurrent race: answer with its result, even where
        # that first transfer is what left too few points for this attempt.
        if record is not None and cancelled.failed("idempotency"):
            existing = await idempotency.find(ctx.db, viewer.id, record.key, TRANSFER_POINTS)
            if existing is not None:
                idempotency.check_same_request(existing, request)
                return await _users(ctx, viewer.id, to_user_id, existing.result["points"])
        if cancelled.failed("recipient"):
            raise NotFound("No such recipient") from None
        if cancelled.failed("sender"):
            raise InsufficientPoints("Not enough points") from None
        raise
    return await _users(ctx, viewer.id, to_user_id, points)
