"""transferPoints: the viewer sends; the users' loaders learn the new balances."""

from __future__ import annotations

from shopgraph.domain import points
from shopgraph.domain.points import Transfer
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext


async def transfer_points(
    ctx: RequestContext, to_user_id: str, amount: int, idempotency_key: str | None
) -> Transfer:
    viewer = await auth.require_viewer(ctx)
    transfer = await points.transfer_points(ctx.db, viewer, to_user_id, amount, idempotency_key)
    for user in (transfer.sender, transfer.recipient):
        ctx.loaders.users.clear(user.id).prime(user.id, user)
    return transfer
