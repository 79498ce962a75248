"""Browsers on configured origins may call the API; others get no CORS grant."""

from __future__ import annotations

from typing import Any

ORIGIN = "http://127.0.0.1:5173"


async def test_a_configured_origin_passes_preflight_and_reads_the_answer(start_api: Any) -> None:
    api = await start_api(cors_origins=(ORIGIN,))
    preflight = await api.http.options(
        "/graphql",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed

    response = await api.post({"query": "{ viewer { id } }"}, Origin=ORIGIN)
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]


async def test_another_origin_gets_no_grant(start_api: Any) -> None:
    api = await start_api(cors_origins=(ORIGIN,))
    preflight = await api.http.options(
        "/graphql",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 403
    response = await api.post({"query": "{ viewer { id } }"}, Origin="http://evil.example")
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_no_origins_configured_no_cors(api: Any) -> None:
    response = await api.post({"query": "{ viewer { id } }"}, Origin=ORIGIN)
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers
