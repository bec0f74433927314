"""In a real browser: every demo user signs in, sees their own home page, and switches to English."""

from __future__ import annotations

import pytest

from app.seed import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEMO_HOMES = {
    "designer": ("section-projects", "我的项目"),
    "clerk": ("section-intake", "待受理"),
    "fire.reviewer": ("section-review", "待审图纸 · 消防审查"),
    "fire.lead": ("section-lead", "专项审查进度 · 消防审查"),
    "airdef.reviewer": ("section-review", "待审图纸 · 人防审查"),
    "airdef.lead": ("section-lead", "专项审查进度 · 人防审查"),
    "construction.reviewer": ("section-review", "待审图纸 · 施工图审查"),
    "construction.lead": ("section-lead", "专项审查进度 · 施工图审查"),
    "fire.signer": ("section-signing", "待签章"),
    "airdef.signer": ("section-signing", "待签章"),
    "construction.signer": ("section-signing", "待签章"),
    "bureau": ("section-overview", "监管概览"),
    "admin": ("section-organizations", "单位"),
}


def _sign_in(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_test_id("login-submit").click()


def test_each_demo_user_sees_their_home(chromium, live_server, screenshots):
    for username, (section, heading) in DEMO_HOMES.items():
        context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
        page = context.new_page()
        _sign_in(page, live_server, username)
        page.wait_for_url(f"{live_server}/")
        block = page.get_by_test_id(section).first
        assert block.is_visible(), username
        assert heading in block.inner_text(), username
        page.screenshot(path=screenshots / f"home-{username}.png", full_page=True)
        context.close()


def test_login_error_and_language_switch(chromium, live_server, screenshots):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server}/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.screenshot(path=screenshots / "login-zh.png", full_page=True)

    _sign_in(page, live_server, "designer", "wrong-password")
    error = page.get_by_test_id("login-error")
    assert "用户名或密码错误" in error.inner_text()
    page.screenshot(path=screenshots / "login-wrong-password-zh.png", full_page=True)

    _sign_in(page, live_server, "designer")
    page.wait_for_url(f"{live_server}/")
    page.get_by_test_id("locale-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    projects = page.get_by_test_id("section-projects")
    assert "My projects" in projects.inner_text()
    assert "No projects yet" in projects.inner_text()
    page.screenshot(path=screenshots / "home-designer-en.png", full_page=True)

    page.goto(f"{live_server}/no/such/page")
    assert "Page not found" in page.content()
    page.screenshot(path=screenshots / "not-found-en.png", full_page=True)

    page.get_by_test_id("locale-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    context.close()


def test_narrow_screen(chromium, live_server, screenshots):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.screenshot(path=screenshots / "login-mobile.png", full_page=True)
    _sign_in(page, live_server, "admin")
    page.wait_for_url(f"{live_server}/")
    assert page.get_by_test_id("section-users").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no horizontal scrolling on a phone"
    page.screenshot(path=screenshots / "home-admin-mobile.png", full_page=True)
    context.close()
