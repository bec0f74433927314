"""Each role's home page, the header, and the bilingual error pages."""

from __future__ import annotations

import pytest

from app import errors
from app.web.errors import status_for
from storage.errors import StoreUnavailable
from tests.support.web import login

HOME_SECTIONS = {
    "designer": ("section-projects", "暂无项目"),
    "clerk": ("section-intake", "当前没有待受理的报审"),
    "fire.reviewer": ("section-review", "待审图纸 · 消防审查"),
    "airdef.lead": ("section-lead", "专项审查进度 · 人防审查"),
    "construction.signer": ("section-signing", "当前没有待签章的联审结果"),
    "bureau": ("section-overview", "监管概览"),
    "admin": ("section-users", "江城市消防救援支队"),
}


@pytest.mark.parametrize(("username", "expected"), HOME_SECTIONS.items())
def test_home_page_per_role(client, username, expected):
    section, text = expected
    login(client, username)
    page = client.get("/")
    assert page.status_code == 200
    assert f'data-testid="{section}"' in page.text
    assert text in page.text
    others = {s for s, _ in HOME_SECTIONS.values()} - {section}
    if username == "admin":
        others -= {"section-organizations"}
    assert not any(f'data-testid="{other}"' in page.text for other in others)


def test_header_shows_name_organisation_and_roles(client):
    login(client, "fire.signer")
    page = client.get("/").text
    assert "陈刚" in page
    assert "江城市消防救援支队" in page
    assert "部门签章人 · 消防审查" in page
    assert 'data-testid="locale-switch"' in page


def test_user_text_is_escaped(client, web_platform):
    from sqlalchemy import select

    from storage.models import User

    with web_platform.sessions() as db, db.begin():
        db.scalar(select(User).where(User.username == "designer")).display_name = "<script>alert(1)</script>"
    login(client, "designer")
    page = client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_not_found_page_is_bilingual(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "页面不存在" in response.text
    assert "Page not found" in response.text


def test_not_found_in_english(client):
    response = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert response.text.index("Page not found") < response.text.index("页面不存在")


def test_static_css_is_served(client):
    response = client.get("/static/liantu.css")
    assert response.status_code == 200
    assert "Noto Sans CJK SC" in response.text


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.NotFound("", ""), 404),
        (errors.Forbidden("", ""), 403),
        (errors.NotAuthenticated("", ""), 401),
        (errors.Conflict("", ""), 409),
        (errors.Invalid("", ""), 400),
        (errors.RateLimited("", ""), 429),
        (errors.ServiceUnavailable("", ""), 503),
        (StoreUnavailable("down"), 503),
        (RuntimeError("bug"), 500),
    ],
)
def test_status_of_each_error(exc, status):
    assert status_for(exc) == status


def test_operational_error_is_503():
    from sqlalchemy.exc import OperationalError

    assert status_for(OperationalError("SELECT 1", {}, Exception("gone"))) == 503
