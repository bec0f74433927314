"""Every state-changing browser request needs the session's CSRF token; without it nothing happens."""

from __future__ import annotations

from sqlalchemy import func, select

from app.identity import create_api_token
from storage.models import LoginAttempt, User
from tests.support.web import csrf_token, login, sign_in


def _locale_of(platform, username: str) -> str | None:
    with platform.sessions() as db:
        return db.scalar(select(User.locale).where(User.username == username))


def test_forged_token_on_logout_is_refused_and_session_survives(client, web_platform):
    sign_in(client, web_platform, "designer")
    response = client.post("/logout", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert "安全校验失败" in response.text
    assert "Security check failed" in response.text
    assert client.get("/").status_code == 200


def test_missing_token_changes_nothing(client, web_platform):
    sign_in(client, web_platform, "designer")
    response = client.post("/locale", data={"locale": "en", "next": "/"})
    assert response.status_code == 403
    assert _locale_of(web_platform, "designer") is None
    assert "我的项目" in client.get("/").text


def test_login_itself_needs_the_pre_session_token(client, web_platform):
    from app.seed import DEMO_PASSWORD

    client.get("/login")
    response = client.post("/login", data={"username": "designer", "password": DEMO_PASSWORD})
    assert response.status_code == 403
    assert client.get("/").status_code == 303
    with web_platform.sessions() as db:
        assert db.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_token_from_before_login_is_void_afterwards(client):
    before = csrf_token(client, "/login")
    login(client, "designer")
    assert client.post("/logout", data={"csrf_token": before}).status_code == 403
    assert csrf_token(client, "/") != before


def test_header_token_for_fetch(client, web_platform):
    sign_in(client, web_platform, "designer")
    token = csrf_token(client, "/")
    wrong = client.post("/locale", data={"locale": "en"}, headers={"X-CSRF-Token": token + "x"})
    assert wrong.status_code == 403
    assert _locale_of(web_platform, "designer") is None
    right = client.post("/locale", data={"locale": "en"}, headers={"X-CSRF-Token": token})
    assert right.status_code == 303
    assert _locale_of(web_platform, "designer") == "en"


def test_multipart_token_must_be_the_first_field(client, web_platform):
    sign_in(client, web_platform, "designer")
    token = csrf_token(client, "/")
    upload = {"attachment": ("note.txt", b"x" * 200_000, "text/plain")}
    late = client.post("/locale", data={"locale": "en"}, files=upload | {"csrf_token": (None, token)})
    assert late.status_code == 403
    assert _locale_of(web_platform, "designer") is None
    first = client.post("/locale", files={"csrf_token": (None, token), "locale": (None, "en")} | upload)
    assert first.status_code == 303
    assert _locale_of(web_platform, "designer") == "en"


def test_api_with_cookie_needs_the_header_and_answers_json(client, web_platform):
    sign_in(client, web_platform, "designer")
    response = client.post("/api/v1/projects", json={"name": "x"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "CSRF" in error["message_zh"]
    assert "CSRF" in error["message_en"]


def test_bearer_token_requests_are_exempt(client, web_platform):
    with web_platform.sessions() as db, db.begin():
        user_id = db.scalar(select(User.id).where(User.username == "designer"))
        token = create_api_token(db, user_id, "script")
    response = client.post("/api/v1/projects", json={}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405  # past the CSRF check, to the router: no POST here
    assert response.json()["error"]["code"] == "http_405"
