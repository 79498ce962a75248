"""Guessing is limited: failed log-ins per email and per address, sign-ups per address.

The counters are items of the table, so a second server sees the first's.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.conftest import Api, error_codes, table_items

LOG_IN = "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }"
SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { token } }"
RIGHT = "correct-horse"


async def log_in(api: Api, email: str, password: str, **headers: str) -> dict[str, Any]:
    response = await api.post(
        {"query": LOG_IN, "variables": {"e": email, "p": password}}, **headers
    )
    assert response.status == 200
    return await response.json()


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None, body
    (error,) = body["errors"]
    return error


async def test_ten_wrong_passwords_lock_the_email_even_for_the_right_one(start_api: Any) -> None:
    api = await start_api(login_max_failures=10, attempt_window_seconds=900)
    await api.sign_up("guessed@example.com", RIGHT)
    for _ in range(10):
        assert error_codes(await log_in(api, "guessed@example.com", "wrong")) == [
            "INVALID_CREDENTIALS"
        ]

    refused = only_error(await log_in(api, "guessed@example.com", RIGHT))
    assert refused["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    assert 0 < refused["extensions"]["retryAfter"] <= 900
    # Another account is not touched, and a second server sees the same count.
    await api.sign_up("other@example.com", RIGHT)
    await api.log_in("other@example.com", RIGHT)
    second = await start_api(login_max_failures=10, attempt_window_seconds=900)
    assert error_codes(await log_in(second, "guessed@example.com", RIGHT)) == ["TOO_MANY_ATTEMPTS"]


async def test_an_unknown_email_is_limited_exactly_like_a_known_one(start_api: Any) -> None:
    api = await start_api(login_max_failures=3, attempt_window_seconds=900)
    await api.sign_up("known@example.com", RIGHT)

    async def story(email: str) -> list[tuple[str, str, list[str]]]:
        errors = [only_error(await log_in(api, email, "wrong")) for _ in range(5)]
        # The seconds left move on between the two stories: their shape may not.
        shapes = []
        for e in errors:
            message = re.sub(r"\d+ s", "N s", e["message"])
            shapes.append((e["extensions"]["code"], message, sorted(e["extensions"])))
        return shapes

    known, unknown = await story("known@example.com"), await story("nobody@example.com")
    assert known == unknown
    assert [code for code, _, _ in known] == ["INVALID_CREDENTIALS"] * 3 + ["TOO_MANY_ATTEMPTS"] * 2


async def test_the_lock_ends_with_its_window(start_api: Any) -> None:
    api = await start_api(login_max_failures=2, attempt_window_seconds=2)
    await api.sign_up("patient@example.com", RIGHT)
    for _ in range(2):
        await log_in(api, "patient@example.com", "wrong")
    refused = only_error(await log_in(api, "patient@example.com", RIGHT))
    assert refused["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    await asyncio.sleep(refused["extensions"]["retryAfter"] + 0.2)
    await api.log_in("patient@example.com", RIGHT)


async def test_failures_from_one_address_are_limited_across_emails(start_api: Any, db: Any) -> None:
    api = await start_api(login_max_failures=100, address_max_attempts=4)
    for n in range(4):
        assert error_codes(await log_in(api, f"spray{n}@example.com", "x")) == [
            "INVALID_CREDENTIALS"
        ]
    assert error_codes(await log_in(api, "spray9@example.com", "x")) == ["TOO_MANY_ATTEMPTS"]
    # A forwarded address from an untrusted peer changes nothing.
    spoofed = await log_in(api, "spray9@example.com", "x", **{"X-Forwarded-For": "203.0.113.9"})
    assert error_codes(spoofed) == ["TOO_MANY_ATTEMPTS"]
    # No email or address is stored in the counters' keys.
    keys = " ".join(i["PK"] for i in await table_items(db) if i["entityType"] == "AttemptCounter")
    assert keys and "spray" not in keys and "127.0.0.1" not in keys


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(
    start_api: Any,
) -> None:
    api = await start_api(
        login_max_failures=100, address_max_attempts=2, trusted_proxies=("127.0.0.1",)
    )
    first = {"X-Forwarded-For": "198.51.100.1"}
    for _ in range(2):
        await log_in(api, "a@example.com", "x", **first)
    assert error_codes(await log_in(api, "a@example.com", "x", **first)) == ["TOO_MANY_ATTEMPTS"]
    # Another client behind the same proxy; what a client wrote itself before
    # the proxy's hop is not believed.
    other = {"X-Forwarded-For": "198.51.100.1, 198.51.100.2"}
    assert error_codes(await log_in(api, "a@example.com", "x", **other)) == ["INVALID_CREDENTIALS"]


async def test_sign_ups_from_one_address_are_limited(start_api: Any) -> None:
    api = await start_api(address_max_attempts=3)
    for n in range(3):
        await api.sign_up(f"new{n}@example.com")
    response = await api.post(
        {
            "query": SIGN_UP,
            "variables": {"i": {"email": "new9@example.com", "name": "N", "password": RIGHT}},
        }
    )
    refused = only_error(await response.json())
    assert refused["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    assert refused["extensions"]["retryAfter"] > 0
