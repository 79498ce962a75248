"""Accounts: signing up, in and out, and how passwords and sessions are kept."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api, error_codes, shop_items
from tests.ids import stored

SIGN_UP = """
mutation($i: SignUpInput!) {
  signUp(input: $i) { token expiresAt user { id name email role points createdAt } }
}
"""
LOG_IN = """
mutation($e: String!, $p: String!) {
  logIn(email: $e, password: $p) { token expiresAt user { id email role } }
}
"""
VIEWER = "{ viewer { id name email role points createdAt } }"
PASSWORD = "correct-horse"


def sign_up_vars(email: str, password: str = PASSWORD, name: str = "Tester") -> dict[str, Any]:
    return {"i": {"email": email, "name": name, "password": password}}


def epoch(instant: str) -> float:
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp()


def strings_in(value: Any) -> list[str]:
    """Every string inside an item: attribute names and values, nested or not."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, (bytes, bytearray)):
        return [bytes(value).decode("latin-1")]
    return [str(value)]


def mentions(items: list[dict[str, Any]], secret: str) -> list[dict[str, Any]]:
    return [i for i in items if any(secret in s for s in strings_in(i))]


# --- signing up -------------------------------------------------------------------------------


async def test_sign_up_returns_a_token_that_works(api: Api, db) -> None:
    before = time.time()
    body = await api.data(SIGN_UP, sign_up_vars("new@example.com", name="Nina New"))
    payload = body["signUp"]

    # The payload's own user is the new viewer: its private fields answer in the same response.
    user = payload["user"]
    assert user["email"] == "new@example.com"
    assert user["name"] == "Nina New"
    assert user["role"] == "CUSTOMER"
    assert user["points"] == 0
    assert before - 1 <= epoch(user["createdAt"]) <= time.time() + 1
    assert before + 86400 - 5 <= epoch(payload["expiresAt"]) <= time.time() + 86400 + 5

    viewer = (await api.data(VIEWER, token=payload["token"]))["viewer"]
    assert viewer == user


async def test_an_admin_email_signs_up_as_admin(start_api, db) -> None:
    api = await start_api(admin_emails=frozenset({"boss@example.com"}))

    boss = await api.data(SIGN_UP, sign_up_vars("Boss@Example.com"))
    clerk = await api.data(SIGN_UP, sign_up_vars("clerk@example.com"))

    assert boss["signUp"]["user"]["role"] == "ADMIN"
    assert boss["signUp"]["user"]["email"] == "boss@example.com"
    assert clerk["signUp"]["user"]["role"] == "CUSTOMER"
    boss_token = boss["signUp"]["token"]
    assert (await api.data("{ viewer { role } }", token=boss_token))["viewer"]["role"] == "ADMIN"
    # An admin may do what only admins may.
    found = await api.data('{ userByEmail(email: "CLERK@example.com") { id } }', token=boss_token)
    assert found["userByEmail"]["id"] == clerk["signUp"]["user"]["id"]


async def test_an_email_is_taken_whatever_its_case(api: Api, db) -> None:
    await api.sign_up("foo@example.com")
    before = await shop_items(db)

    body = await api.gql(SIGN_UP, sign_up_vars("Foo@Example.com", password="another-password"))

    assert error_codes(body) == ["EMAIL_TAKEN"]
    assert body["errors"][0]["path"] == ["signUp"]
    assert body["data"] is None
    assert await shop_items(db) == before  # no user, guard or session written
    # The first account is untouched: its password still opens it.
    assert await api.log_in("foo@example.com", PASSWORD)


@pytest.mark.parametrize(
    ("email", "password", "name"),
    [
        pytest.param("short@example.com", "seven-7", "Tester", id="password of 7 characters"),
        pytest.param("short@example.com", "", "Tester", id="empty password"),
        pytest.param("not-an-email", PASSWORD, "Tester", id="email without @"),
        pytest.param("a@b", PASSWORD, "Tester", id="email without a dot in its domain"),
        pytest.param("two@@example.com", PASSWORD, "Tester", id="email with two @"),
        pytest.param("sp ace@example.com", PASSWORD, "Tester", id="email with a space"),
        pytest.param("a#b@example.com", PASSWORD, "Tester", id="email with the key separator"),
        pytest.param("", PASSWORD, "Tester", id="empty email"),
        pytest.param("x" * 250 + "@example.com", PASSWORD, "Tester", id="email too long"),
        pytest.param("blank@example.com", PASSWORD, "   ", id="blank name"),
    ],
)
async def test_sign_up_rejects_bad_input(
    api: Api, db, email: str, password: str, name: str
) -> None:
    body = await api.gql(SIGN_UP, sign_up_vars(email, password, name))

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] is None
    assert await shop_items(db) == []


async def test_a_password_of_eight_characters_is_enough(api: Api) -> None:
    token = await api.sign_up("eight@example.com", password="8-chars!")
    assert await api.log_in("eight@example.com", "8-chars!")
    assert (await api.data("{ viewer { email } }", token=token))["viewer"]["email"] == (
        "eight@example.com"
    )


# --- logging in -------------------------------------------------------------------------------


async def test_log_in_ignores_the_case_of_the_email(api: Api, db) -> None:
    first = await api.sign_up("case@example.com")
    someone_else = await api.sign_up("else@example.com")

    # Even when sent with another user's token, the payload is the new session's user.
    body = await api.data(LOG_IN, {"e": "  CASE@Example.COM ", "p": PASSWORD}, token=someone_else)

    payload = body["logIn"]
    assert payload["user"]["email"] == "case@example.com"
    assert payload["user"]["role"] == "CUSTOMER"
    assert payload["token"] != first
    me = (await api.data("{ viewer { id email } }", token=payload["token"]))["viewer"]
    assert me == {"id": payload["user"]["id"], "email": "case@example.com"}
    old = (await api.data("{ viewer { id } }", token=first))["viewer"]
    assert old == {"id": me["id"]}  # the sign-up session still works too


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("known@example.com", "wrong-password", id="wrong password"),
        pytest.param("known@example.com", "Correct-horse", id="password in another case"),
        pytest.param("known@example.com", "", id="empty password"),
        pytest.param("unknown@example.com", PASSWORD, id="unknown email"),
        pytest.param("not-an-email", PASSWORD, id="malformed email"),
    ],
)
async def test_log_in_failures_all_look_the_same(api: Api, db, email: str, password: str) -> None:
    await api.sign_up("known@example.com")
    wrong_password = await api.gql(LOG_IN, {"e": "known@example.com", "p": "wrong-password"})
    before = await shop_items(db)

    body = await api.gql(LOG_IN, {"e": email, "p": password})

    assert error_codes(body) == ["INVALID_CREDENTIALS"]
    assert body["data"] is None
    # The same message whichever part was wrong: nothing tells an attacker the email exists.
    assert body["errors"][0]["message"] == wrong_password["errors"][0]["message"]
    assert set(body["errors"][0]["extensions"]) == {"code"}
    assert await shop_items(db) == before  # no session opened


# --- what is stored ---------------------------------------------------------------------------


async def test_passwords_are_stored_only_as_salted_slow_hashes(api: Api, db) -> None:
    shared = "the very same password"
    await api.sign_up("first@example.com", password=shared)
    await api.sign_up("second@example.com", password=shared)

    items = await shop_items(db)

    assert mentions(items, shared) == []
    assert mentions(items, shared.encode().hex()) == []
    users = [i for i in items if i["PK"].startswith("USER#") and i["SK"] == "PROFILE"]
    assert len(users) == 2
    hashes = []
    for user in users:
        (stored,) = [v for k, v in user.items() if "password" in k.lower()]
        scheme, n, r, p, salt, digest = stored.split("$")
        assert scheme in {"scrypt", "argon2id"}
        assert int(n) >= 2**14 and int(r) >= 8 and int(p) >= 1  # slow by design
        assert len(salt) >= 16 and len(digest) >= 32
        hashes.append((salt, digest))
    # Salted: the same password gives different salts and different hashes.
    assert hashes[0][0] != hashes[1][0]
    assert hashes[0][1] != hashes[1][1]
    # Not a fast, unsalted digest of the password either.
    fast = {
        hashlib.new(alg, shared.encode()).hexdigest() for alg in ("md5", "sha1", "sha256", "sha512")
    }
    assert not any(f in s for f in fast for i in items for s in strings_in(i))


async def test_sessions_are_stored_only_as_the_sha256_of_the_token(api: Api, db) -> None:
    signed_up = await api.sign_up("keeper@example.com")
    logged_in = await api.log_in("keeper@example.com", PASSWORD)
    me = (await api.data("{ viewer { id } }", token=signed_up))["viewer"]["id"]

    items = await shop_items(db)

    sessions = [i for i in items if i["PK"].startswith("SESSION#")]
    assert len(sessions) == 2
    for token in (signed_up, logged_in):
        assert mentions(items, token) == []
        digest = hashlib.sha256(token.encode()).hexdigest()
        (session,) = [s for s in sessions if s["PK"] == f"SESSION#{digest}"]
        assert session["userId"] == stored(me)
        assert session["entityType"] == "Session"


async def test_a_session_expires_no_earlier_than_it_says(start_api, db) -> None:
    api = await start_api(session_ttl_seconds=3600)
    before = time.time()
    body = await api.data(SIGN_UP, sign_up_vars("clock@example.com"))
    after = time.time()

    expires_at = epoch(body["signUp"]["expiresAt"])
    assert before + 3600 - 0.01 <= expires_at <= after + 3600 + 0.01
    (session,) = [i for i in await shop_items(db) if i["PK"].startswith("SESSION#")]
    # The TTL attribute is whole epoch seconds; rounding it down would end the
    # session (and let TTL delete it) up to a second before the expiresAt it announced.
    assert int(session["ttl"]) >= expires_at


# --- logging out ------------------------------------------------------------------------------


async def test_log_out_ends_that_token_at_once_and_only_that_one(api: Api, db) -> None:
    first = await api.sign_up("leaver@example.com")
    second = await api.log_in("leaver@example.com", PASSWORD)
    me = (await api.data("{ viewer { id } }", token=first))["viewer"]["id"]

    assert await api.data("mutation { logOut }", token=first) == {"logOut": True}

    assert (await api.data("{ viewer { id } }", token=first))["viewer"] is None
    private = await api.gql(
        "query($id: ID!) { user(id: $id) { id name } mine: user(id: $id) { email } }",
        {"id": me},
        token=first,
    )
    assert error_codes(private) == ["UNAUTHENTICATED"]
    assert private["errors"][0]["path"] == ["mine", "email"]
    assert private["data"]["user"] == {"id": me, "name": "Tester"}
    again = await api.gql("mutation { logOut }", token=first)
    assert error_codes(again) == ["UNAUTHENTICATED"]

    # The other session of the same user still works.
    still = await api.data("{ viewer { id email } }", token=second)
    assert still["viewer"] == {"id": me, "email": "leaver@example.com"}
    first_digest = hashlib.sha256(first.encode()).hexdigest()
    sessions = {i["PK"] for i in await shop_items(db) if i["PK"].startswith("SESSION#")}
    assert sessions == {f"SESSION#{hashlib.sha256(second.encode()).hexdigest()}"}
    assert f"SESSION#{first_digest}" not in sessions


async def test_log_out_without_a_token_is_unauthenticated(api: Api, db) -> None:
    await api.sign_up("stays@example.com")
    before = await shop_items(db)

    body = await api.gql("mutation { logOut }")

    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["path"] == ["logOut"]
    assert body["data"] is None
    assert await shop_items(db) == before


# --- expiry -----------------------------------------------------------------------------------


async def test_a_session_past_its_ttl_is_refused_while_its_item_remains(start_api, db) -> None:
    api = await start_api(session_ttl_seconds=1)
    body = await api.data(SIGN_UP, sign_up_vars("brief@example.com"))
    token = body["signUp"]["token"]
    me = body["signUp"]["user"]["id"]
    assert (await api.data("{ viewer { id } }", token=token))["viewer"] == {"id": me}

    await asyncio.sleep(2.2)

    assert (await api.data("{ viewer { id } }", token=token))["viewer"] is None
    private = await api.gql(
        "query($id: ID!) { user(id: $id) { name } mine: user(id: $id) { points } }",
        {"id": me},
        token=token,
    )
    assert error_codes(private) == ["UNAUTHENTICATED"]
    assert private["data"]["user"] == {"name": "Tester"}
    # Refused by the read, not because TTL deletion has removed it: the item is still there.
    digest = hashlib.sha256(token.encode()).hexdigest()
    sessions = [i for i in await shop_items(db) if i["PK"].startswith("SESSION#")]
    assert [s["PK"] for s in sessions] == [f"SESSION#{digest}"]
    assert int(sessions[0]["ttl"]) < time.time()
