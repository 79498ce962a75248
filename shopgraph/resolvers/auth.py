"""Who may do what: one check per rule, used field by field."""

from __future__ import annotations

from shopgraph.data.entities import User
from shopgraph.errors import Forbidden, Unauthenticated
from shopgraph.resolvers.context import RequestContext


async def require_viewer(ctx: RequestContext) -> User:
    viewer = await ctx.viewer()
    if viewer is None:
        raise Unauthenticated("Sign in to see this")
    return viewer


async def require_admin(ctx: RequestContext) -> User:
    viewer = await require_viewer(ctx)
    if not viewer.is_admin:
        raise Forbidden("Only an admin may see this")
    return viewer


async def require_self_or_admin(ctx: RequestContext, user_id: str) -> User:
    viewer = await require_viewer(ctx)
    if viewer.id != user_id and not viewer.is_admin:
        raise Forbidden("Only this user or an admin may see this")
    return viewer
