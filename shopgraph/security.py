"""Passwords (salted scrypt) and session tokens (256 random bits after the
user's id, stored only as SHA-256)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

# scrypt cost: ~16 MiB and tens of milliseconds per hash, so guessing is slow.
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32)


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    b64 = base64.b64encode
    return f"{_SCHEME}${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


async def hash_password(password: str) -> str:
    # scrypt holds the CPU for tens of ms: keep it off the event loop.
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_password_sync, password, stored)


# Compared against when the email is unknown, so that an unknown email and a
# wrong password take the same time.
_DUMMY_HASH = hash_password_sync(secrets.token_urlsafe(16))


async def burn_password_check(password: str) -> None:
    await verify_password(password, _DUMMY_HASH)


# Between the user id and the secret: neither an id nor token_urlsafe uses it.
TOKEN_SEPARATOR = "."


def new_token(user_id: str) -> str:
    """`<userId>.<256 random bits>`. The id is public (anyone may read a user's
    id and name); it lets the session and its user be read in one batch."""
    return f"{user_id}{TOKEN_SEPARATOR}{secrets.token_urlsafe(32)}"


def claimed_user_id(token: str) -> str | None:
    """The user id a token names, or None for a token without one (those
    issued before tokens carried it); the session must still agree."""
    user_id, separator, secret = token.partition(TOKEN_SEPARATOR)
    return user_id if separator and user_id and secret else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
