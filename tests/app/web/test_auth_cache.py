"""Principals kept between requests: changes in this process count at once, others within the lifetime."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text

from app.identity import create_api_token, find_user, grant_role, revoke_api_token, revoke_role, set_user_active
from app.identity.cache import PrincipalCache
from app.platform import Platform
from app.web.auth import AuthenticationMiddleware
from app.web.sessions import COOKIE_NAME, encode_session
from storage.db import transaction
from storage.models import ApiToken, Role
from tests.support.web import TEST_SECRET_KEY, TestClient, sign_in


def principal_cache_of(client: TestClient) -> PrincipalCache:
    """The cache of the app's authentication middleware (the stack is built by the first request)."""
    node = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(node, AuthenticationMiddleware):
        node = node.app
    return node.cache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _roles(client: TestClient, **headers: str) -> set[tuple[str, str | None]]:
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 200, answer.text
    return {(grant["role"], grant["track"]) for grant in answer.json()["roles"]}


def test_a_signed_in_user_is_read_once_within_the_lifetime(client: TestClient, web_platform: Platform) -> None:
    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(web_platform.engine, "before_cursor_execute", count)
    try:
        assert _roles(client) == {("reviewer", "fire")}
    finally:
        event.remove(web_platform.engine, "before_cursor_execute", count)
    assert statements == []


def test_a_role_change_counts_at_once_in_this_process(client: TestClient, web_platform: Platform) -> None:
    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    with transaction(web_platform.sessions) as db:
        grant_role(db, find_user(db, "fire.reviewer"), Role.TRACK_LEAD, "fire")
    assert _roles(client) == {("reviewer", "fire"), ("track_lead", "fire")}
    with transaction(web_platform.sessions) as db:
        revoke_role(db, find_user(db, "fire.reviewer"), Role.REVIEWER, "fire")
    assert _roles(client) == {("track_lead", "fire")}


def test_a_deactivated_user_is_signed_out_at_once(client: TestClient, web_platform: Platform) -> None:
    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    with transaction(web_platform.sessions) as db:
        set_user_active(db, find_user(db, "fire.reviewer"), False)
    assert client.get("/api/v1/me").status_code == 401


def test_a_revoked_token_is_refused_at_once(client: TestClient, web_platform: Platform) -> None:
    with transaction(web_platform.sessions) as db:
        token = create_api_token(db, find_user(db, "fire.reviewer").id, "脚本")
    bearer = {"Authorization": f"Bearer {token}"}
    assert _roles(client, **bearer) == {("reviewer", "fire")}
    assert _roles(client, **bearer) == {("reviewer", "fire")}
    with transaction(web_platform.sessions) as db:
        token_id = db.scalars(select(ApiToken.id)).one()
        revoke_api_token(db, token_id)
    refused = client.get("/api/v1/me", headers=bearer)
    assert refused.status_code == 401
    assert "revoked" in refused.text


def test_logout_forgets_the_user(client: TestClient, web_platform: Platform) -> None:
    from tests.support.web import csrf_token

    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    cache = principal_cache_of(client)
    user_id = client.get("/api/v1/me").json()["user_id"]
    assert cache.user(user_id) is not None
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 303
    assert cache.user(user_id) is None


def test_a_change_made_by_another_process_counts_within_the_lifetime(
    client: TestClient, web_platform: Platform
) -> None:
    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    cache = principal_cache_of(client)
    clock = Clock()
    cache.clock = clock
    cache.clear()
    assert _roles(client) == {("reviewer", "fire")}
    # Plain SQL on a connection of its own: no ORM event of this process sees it, as with another process.
    with web_platform.engine.begin() as connection:
        connection.execute(text("UPDATE users SET is_active = false WHERE username = 'fire.reviewer'"))
    clock.now += cache.ttl - 0.1
    assert client.get("/api/v1/me").status_code == 200
    clock.now += 0.2
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("web_settings_overrides", [{"principal_cache_seconds": "0"}])
def test_a_lifetime_of_zero_reads_the_user_every_time(client: TestClient, web_platform: Platform) -> None:
    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    with web_platform.engine.begin() as connection:
        connection.execute(text("UPDATE users SET is_active = false WHERE username = 'fire.reviewer'"))
    assert client.get("/api/v1/me").status_code == 401


def test_a_remembered_cookie_is_not_shared_between_requests_or_forged(
    client: TestClient, web_platform: Platform
) -> None:
    sign_in(client, web_platform, "fire.reviewer")
    assert _roles(client) == {("reviewer", "fire")}
    genuine = client.cookies[COOKIE_NAME]
    # The same payload signed with another key is refused although its twin is remembered.
    forged = encode_session("another-secret-key-of-sufficient-length-0123456789", {"uid": 1, "iat": 2**31})
    client.cookies.set(COOKIE_NAME, forged)
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.set(COOKIE_NAME, genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"))
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.set(COOKIE_NAME, genuine)
    assert _roles(client) == {("reviewer", "fire")}


def test_an_old_remembered_cookie_still_expires(client: TestClient, web_platform: Platform) -> None:
    import time

    with web_platform.sessions() as db:
        user_id = find_user(db, "fire.reviewer").id
    old = encode_session(TEST_SECRET_KEY, {"uid": user_id, "csrf": "x", "iat": int(time.time()) - 9 * 3600})
    client.cookies.set(COOKIE_NAME, old)
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 401
