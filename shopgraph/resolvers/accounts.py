"""Sign-up, log-in and log-out."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from shopgraph.data import entities, sessions, users
from shopgraph.data.entities import Role, Session, User
from shopgraph.data.timefmt import format_instant, now_iso
from shopgraph.errors import InvalidCredentials, Unauthenticated
from shopgraph.resolvers.context import RequestContext
from shopgraph.resolvers.validation import check_name, check_password, normalize_email
from shopgraph.security import (
    burn_password_check,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: str
    user: User


def new_user_id() -> str:
    return secrets.token_urlsafe(12)  # 16 characters of [A-Za-z0-9_-]


async def open_session(ctx: RequestContext, user: User) -> SignedIn:
    token = new_token()
    expires = time.time() + ctx.settings.session_ttl_seconds
    session = Session(
        token_hash=token_hash(token),
        user_id=user.id,
        created_at=now_iso(),
        expires_at=format_instant(datetime.fromtimestamp(expires, UTC)),
        # Rounded up: the session must not end before the expiresAt it announces.
        ttl=math.ceil(expires),
    )
    await sessions.put_session(ctx.db, session)
    ctx.act_as(user, token)
    return SignedIn(token, session.expires_at, user)


async def sign_up(ctx: RequestContext, email: str, name: str, password: str) -> SignedIn:
    email = normalize_email(email)
    user = User(
        id=new_user_id(),
        name=check_name(name),
        email=email,
        role=Role.ADMIN if email in ctx.settings.admin_emails else Role.CUSTOMER,
        points=0,
        created_at=now_iso(),
        password_hash=await hash_password(check_password(password)),
    )
    await users.create_user(ctx.db, user)
    return await open_session(ctx, user)


async def log_in(ctx: RequestContext, email: str, password: str) -> SignedIn:
    failure = InvalidCredentials("Wrong email or password")
    try:
        email = normalize_email(email)
    except Exception:
        await burn_password_check(password)
        raise failure from None
    # The email guard, read strongly consistent, finds an account created a
    # moment ago, which the eventually consistent email index might not yet.
    guard = await ctx.db.get(entities.EMAIL_GUARD.key(email=email), consistent=True)
    user_item = (
        await ctx.db.get(entities.USER.key(id=guard["userId"]), consistent=True) if guard else None
    )
    if user_item is None:
        await burn_password_check(password[:256])
        raise failure
    user = User.from_item(user_item)
    if not await verify_password(password[:256], user.password_hash):
        raise failure
    return await open_session(ctx, user)


async def log_out(ctx: RequestContext) -> bool:
    viewer = await ctx.viewer()
    hashed = ctx.token_hash
    if viewer is None or hashed is None:
        raise Unauthenticated("Not signed in")
    await sessions.delete_session(ctx.db, hashed)
    ctx.act_as(None, None)
    return True
