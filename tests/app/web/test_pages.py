"""Each role's home page, the header, and the bilingual error pages."""

from __future__ import annotations

import pytest

from app import errors
from app.web.errors import status_for
from storage.errors import StoreUnavailable
from tests.support.web import sign_in

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
def test_home_page_per_role(client, username, expected, web_platform):
    section, text = expected
    sign_in(client, web_platform, username)
    page = client.get("/")
    assert page.status_code == 200
    assert f'data-testid="{section}"' in page.text
    assert text in page.text
    others = {s for s, _ in HOME_SECTIONS.values()} - {section}
    if username == "admin":
        others -= {"section-organizations"}
    assert not any(f'data-testid="{other}"' in page.text for other in others)


def test_header_shows_name_organisation_and_roles(client, web_platform):
    sign_in(client, web_platform, "fire.signer")
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
    sign_in(client, web_platform, "designer")
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


@pytest.fixture
def work_in_progress(web_platform):
    """A submitted case waiting at intake, and one in review with an overdue fire review assigned to fire.reviewer."""
    import datetime as dt

    from sqlalchemy import select

    from storage.models import (
        Organization,
        Project,
        Round,
        Submission,
        SubmissionState,
        TrackReview,
        TrackReviewer,
        User,
    )

    with web_platform.sessions() as db, db.begin():
        org = db.scalar(select(Organization).where(Organization.name == "江城市建筑设计研究院"))
        waiting = Project(organization_id=org.id, code="JC-2026-010", name="江城市滨江花园3号楼")
        reviewed = Project(organization_id=org.id, code="JC-2026-011", name="江城市人民医院门诊楼")
        db.add_all([waiting, reviewed])
        db.flush()
        db.add(Submission(project_id=waiting.id, review_number="SC-2026-0101", state=SubmissionState.SUBMITTED))
        in_review = Submission(project_id=reviewed.id, review_number="SC-2026-0102", state=SubmissionState.IN_REVIEW)
        db.add(in_review)
        db.flush()
        round_ = Round(submission_id=in_review.id, number=1)
        db.add(round_)
        db.flush()
        review = TrackReview(
            round_id=round_.id, track_code="fire", due_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        )
        db.add(review)
        db.flush()
        reviewer = db.scalar(select(User.id).where(User.username == "fire.reviewer"))
        db.add(TrackReviewer(track_review_id=review.id, user_id=reviewer))


def test_queues_show_work(client, work_in_progress, web_platform):
    sign_in(client, web_platform, "clerk")
    page = client.get("/").text
    assert "SC-2026-0101" in page
    assert "江城市滨江花园3号楼" in page
    assert "SC-2026-0102" not in page  # in review, not waiting for intake

    client.post("/logout", data={"csrf_token": re_token(client)})
    sign_in(client, web_platform, "fire.reviewer")
    page = client.get("/").text
    assert "江城市人民医院门诊楼" in page
    assert "已超期" in page
    assert "第 1 轮" in page

    client.post("/logout", data={"csrf_token": re_token(client)})
    sign_in(client, web_platform, "airdef.reviewer")
    assert "江城市人民医院门诊楼" not in client.get("/").text

    client.post("/logout", data={"csrf_token": re_token(client)})
    sign_in(client, web_platform, "bureau")
    page = client.get("/").text
    assert '<span class="stat-value">2</span><span class="stat-label">建设项目</span>' in page
    assert '<span class="stat-value">1</span><span class="stat-label">超期审查</span>' in page

    client.post("/logout", data={"csrf_token": re_token(client)})
    sign_in(client, web_platform, "designer")
    page = client.get("/").text
    assert "JC-2026-010" in page
    assert "已提交" in page
    assert "审查中" in page


def re_token(client) -> str:
    from tests.support.web import csrf_token

    return csrf_token(client, "/")


@pytest.mark.parametrize(
    ("exc", "status", "zh", "en"),
    [
        (RuntimeError("secret detail"), 500, "系统内部错误", "Internal error"),
        (errors.ServiceUnavailable("签章服务不可用", "signing service unavailable"), 503, "签章服务不可用", "signing"),
        (errors.Forbidden("您无权执行此操作", "you are not allowed to do this"), 403, "无权访问", "Access denied"),
    ],
)
def test_error_pages_for_handler_failures(web_app, exc, status, zh, en):
    from starlette.routing import Route

    from tests.support.web import TestClient

    def fail(request):
        raise exc

    web_app.router.routes.append(Route("/fail", fail))
    web_app.router.routes.insert(0, Route("/api/v1/fail", fail))
    with TestClient(web_app, raise_server_exceptions=False) as failing:
        page = failing.get("/fail")
        assert page.status_code == status
        assert zh in page.text
        assert en in page.text
        assert "secret detail" not in page.text
        api = failing.get("/api/v1/fail")
        assert api.status_code == status
        assert set(api.json()["error"]) == {"code", "message_zh", "message_en"}


def test_security_headers(client):
    for path in ("/login", "/no/such/page", "/healthz"):
        response = client.get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


def test_anonymous_session_that_aged_shows_no_expiry_notice(client):
    import time as clock

    from app.web.sessions import COOKIE_NAME, encode_session
    from tests.support.web import TEST_SECRET_KEY

    client.cookies.set(COOKIE_NAME, encode_session(TEST_SECRET_KEY, {"csrf": "x", "iat": int(clock.time()) - 10**6}))
    page = client.get("/login")
    assert "登录已超时" not in page.text
    assert csrf_meta(page.text) != "x"


def csrf_meta(text: str) -> str:
    from tests.support.web import CSRF_META

    found = CSRF_META.search(text)
    assert found
    return found.group(1)
