"""Sign-up, log-in and log-out: the domain operation, then the request acts
as the user it signed in (or as nobody)."""

from __future__ import annotations

from shopgraph.domain import accounts
from shopgraph.domain.accounts import SignedIn
from shopgraph.domain.attempts import AttemptLimits
from shopgraph.errors import Unauthenticated
from shopgraph.resolvers.context import RequestContext


def attempt_limits(ctx: RequestContext) -> AttemptLimits:
    settings = ctx.settings
    return AttemptLimits.of(
        settings.login_max_failures, settings.address_max_attempts, settings.attempt_window_seconds
    )


async def sign_up(ctx: RequestContext, email: str, name: str, password: str) -> SignedIn:
    signed_in = await accounts.sign_up(
        ctx.db,
        email,
        name,
        password,
        admin_emails=ctx.settings.admin_emails,
        session_ttl_seconds=ctx.settings.session_ttl_seconds,
        limits=attempt_limits(ctx),
        address=ctx.client_address,
    )
    ctx.act_as(signed_in.user, signed_in.token)
    return signed_in


async def log_in(ctx: RequestContext, email: str, password: str) -> SignedIn:
    signed_in = await accounts.log_in(
        ctx.db,
        email,
        password,
        session_ttl_seconds=ctx.settings.session_ttl_seconds,
        limits=attempt_limits(ctx),
        address=ctx.client_address,
    )
    ctx.act_as(signed_in.user, signed_in.token)
    return signed_in


async def log_out(ctx: RequestContext) -> bool:
    viewer = await ctx.viewer()
    hashed = ctx.token_hash
    if viewer is None or hashed is None:
        raise Unauthenticated("Not signed in")
    await accounts.log_out(ctx.db, hashed)
    ctx.act_as(None, None)
    return True
