"""Accounts: signing up, logging in and out, each answered with a session."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from shopgraph.data import entities, sessions, users
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Role, Session, User
from shopgraph.data.timefmt import format_instant, now_iso
from shopgraph.domain.attempts import AttemptLimits, count, refuse_if_over
from shopgraph.domain.validation import check_name, check_password, normalize_email
from shopgraph.errors import InvalidCredentials
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


async def open_session(db: Dynamo, user: User, ttl_seconds: int) -> SignedIn:
    token = new_token(user.id)
    expires = time.time() + ttl_seconds
    session = Session(
        token_hash=token_hash(token),
        user_id=user.id,
        created_at=now_iso(),
        expires_at=format_instant(datetime.fromtimestamp(expires, UTC)),
        # Rounded up: the session must not end before the expiresAt it announces.
        ttl=math.ceil(expires),
    )
    await sessions.put_session(db, session)
    return SignedIn(token, session.expires_at, user)


async def sign_up(
    db: Dynamo,
    email: str,
    name: str,
    password: str,
    *,
    admin_emails: frozenset[str],
    session_ttl_seconds: int,
    limits: AttemptLimits,
    address: str | None,
) -> SignedIn:
    """A new customer (an admin where the email is one of `admin_emails`) and
    its session; the email is unique, case-insensitively. Sign-ups from one
    client address are limited per window."""
    email = normalize_email(email)
    tallies = limits.for_sign_up(address)
    if tallies:
        await refuse_if_over(db, tallies, time.time())
        await count(db, tallies)
    user = User(
        id=new_user_id(),
        name=check_name(name),
        email=email,
        role=Role.ADMIN if email in admin_emails else Role.CUSTOMER,
        points=0,
        created_at=now_iso(),
        password_hash=await hash_password(check_password(password)),
    )
    await users.create_user(db, user)
    return await open_session(db, user, session_ttl_seconds)


async def log_in(
    db: Dynamo,
    email: str,
    password: str,
    *,
    session_ttl_seconds: int,
    limits: AttemptLimits,
    address: str | None,
) -> SignedIn:
    """A session for the right password; the same INVALID_CREDENTIALS, after
    the same work, for a wrong password and for an unknown email. Failures
    are counted per email and per client address; past a limit, every
    attempt is TOO_MANY_ATTEMPTS until its window ends."""
    failure = InvalidCredentials("Wrong email or password")
    tallies = limits.for_login(email[:320], address)
    try:
        normalized: str | None = normalize_email(email)
    except Exception:
        normalized = None
    # The email guard comes in the counters' batch, strongly consistent: it
    # finds an account created a moment ago, which the eventually consistent
    # email index might not yet.
    guard_key = [entities.EMAIL_GUARD.key(email=normalized)] if normalized else []
    found = await refuse_if_over(db, tallies, time.time(), also=guard_key)
    if normalized is None:
        await burn_password_check(password)
        await count(db, tallies)
        raise failure
    guard = found[0]
    user_item = (
        await db.get(entities.USER.key(id=guard["userId"]), consistent=True) if guard else None
    )
    if user_item is None:
        await burn_password_check(password[:256])
        await count(db, tallies)
        raise failure
    user = User.from_item(user_item)
    if not await verify_password(password[:256], user.password_hash):
        await count(db, tallies)
        raise failure
    return await open_session(db, user, session_ttl_seconds)


async def log_out(db: Dynamo, hashed_token: str) -> None:
    await sessions.delete_session(db, hashed_token)
