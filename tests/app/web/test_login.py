"""Signing in and out, language of the messages, rate limit, session expiry."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.web.sessions import COOKIE_NAME, encode_session
from storage.models import LoginAttempt
from tests.support.web import TEST_SECRET_KEY, csrf_token, login


def test_login_page_is_chinese_by_default(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in response.text
    assert "用户登录" in response.text
    assert 'name="csrf_token"' in response.text


def test_anonymous_english_browser_gets_english(client):
    response = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,zh-CN;q=0.5"})
    assert '<html lang="en">' in response.text
    assert "Sign in" in response.text


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_login_and_logout(client):
    response = login(client, "designer")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development mode
    home = client.get("/")
    assert home.status_code == 200
    assert "王建国" in home.text
    assert "江城市建筑设计研究院" in home.text
    assert "我的项目" in home.text
    assert "暂无项目" in home.text

    token = csrf_token(client, "/")
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert client.get("/").status_code == 303


def test_session_cookie_is_secure_in_production(web_platform, seeded_database, tmp_path):
    from app.web import create_app
    from tests.support.web import TestClient, make_web_platform

    platform = make_web_platform(seeded_database, tmp_path / "prod", mode="production")
    try:
        with TestClient(create_app(platform), base_url="https://testserver", follow_redirects=False) as secure:
            response = login(secure, "designer")
            assert response.status_code == 303
            assert "Secure" in response.headers["set-cookie"]
    finally:
        platform.close()


def test_wrong_password_in_chinese(client):
    response = login(client, "designer", "not-the-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "wrong username or password" in response.text  # the other language beneath
    assert client.get("/").status_code == 303


def test_wrong_password_in_english(client):
    token = csrf_token(client)
    client.post("/locale", data={"csrf_token": token, "locale": "en", "next": "/login"})
    response = login(client, "designer", "not-the-password")
    assert response.status_code == 401
    assert '<html lang="en">' in response.text
    assert response.text.index("wrong username or password") < response.text.index("用户名或密码错误")


@pytest.mark.parametrize("web_settings_overrides", [{"login_attempts": "3"}])
def test_rate_limit_after_failures(client, web_platform):
    for _ in range(3):
        assert login(client, "designer", "wrong-password").status_code == 401
    response = login(client, "designer")  # even the right password is refused now
    assert response.status_code == 429
    assert "登录失败次数过多" in response.text
    assert "too many failed logins" in response.text
    assert client.get("/").status_code == 303
    with web_platform.sessions() as db:
        assert db.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.succeeded)) == 0


def test_expired_session_sends_to_login_with_notice(client, web_platform):
    assert login(client, "designer").status_code == 303
    assert client.get("/").status_code == 200
    issued = int(time.time()) - web_platform.settings.session_max_age_seconds - 60
    client.cookies.set(COOKIE_NAME, encode_session(TEST_SECRET_KEY, {"uid": 1, "csrf": "x", "iat": issued}))
    response = client.get("/")
    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    page = client.get(response.headers["location"])
    assert "登录已超时" in page.text
    assert "Your session has expired" in page.text


def test_cookie_signed_with_another_key_is_ignored(client):
    client.cookies.set(COOKIE_NAME, encode_session("another-key-another-key-another-key", {"uid": 1, "iat": 0}))
    assert client.get("/").status_code == 303


def test_next_is_followed_only_for_local_paths(client):
    token = csrf_token(client)
    from app.seed import DEMO_PASSWORD

    response = client.post(
        "/login",
        data={"username": "designer", "password": DEMO_PASSWORD, "csrf_token": token, "next": "//evil.example/"},
    )
    assert response.headers["location"] == "/"


def test_language_switch_is_saved_for_the_user(client, web_platform):
    from storage.models import User

    login(client, "designer")
    token = csrf_token(client, "/")
    response = client.post("/locale", data={"csrf_token": token, "locale": "en", "next": "/"})
    assert response.status_code == 303
    home = client.get("/")
    assert "My projects" in home.text
    assert "No projects yet" in home.text
    with web_platform.sessions() as db:
        assert db.scalar(select(User.locale).where(User.username == "designer")) == "en"
    # A new browser session of the same user starts in English.
    client.cookies.clear()
    login(client, "designer")
    assert "My projects" in client.get("/").text


@pytest.mark.parametrize("web_settings_overrides", [{"default_locale": "en"}])
def test_default_locale_setting(client):
    assert '<html lang="en">' in client.get("/login").text
    # The browser's stated preference still wins for anonymous visitors.
    assert '<html lang="zh-CN">' in client.get("/login", headers={"Accept-Language": "zh-CN"}).text
