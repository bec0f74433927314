"""The supervision page: figures for a period, validated dates, charts, CSV, access; screenshots in a browser."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from app import deadlines
from app.identity.principal import principal_for_user
from app.platform import Platform
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from storage.db import make_engine
from storage.models import ClockPause, SubmissionState, TrackReviewState, User
from tests.app.supervision.world import concluded_review, cst
from tests.support.web import sign_in, web_settings_env

MARCH = "from=2026-03-01&to=2026-03-31"


def supervised_dataset(platform: Platform) -> None:
    """The dataset of tests/app/supervision/test_supervision.py, on the demo accounts."""
    from tests.app.supervision.world import World, make_submission

    with platform.sessions() as db:
        ids = {u.username: u.id for u in db.scalars(select(User))}
        people = {name: principal_for_user(db, ids[name]) for name in ("fire.reviewer", "construction.reviewer")}
        designer = db.get_one(User, ids["designer"])
        world = World(*([None] * 6), institute_id=designer.organization_id)  # type: ignore[arg-type]
        fire, build = (people["fire.reviewer"],), (people["construction.reviewer"],)
        a = make_submission(db, world, code="P-A", tracks=(), state=SubmissionState.REVISING)
        b = make_submission(db, world, code="P-B", tracks=(), state=SubmissionState.PASSED)
        c = make_submission(db, world, code="P-C", tracks=("fire",), state=SubmissionState.IN_REVIEW)
        revise = TrackReviewState.REVISE
        concluded_review(db, a, 1, "fire", cst(2026, 3, 2), cst(2026, 3, 13, 16), reviewers=fire, state=revise)  # type: ignore[arg-type]
        concluded_review(db, a, 1, "construction", cst(2026, 3, 2), cst(2026, 3, 20, 11), reviewers=build)  # type: ignore[arg-type]
        concluded_review(db, a, 2, "fire", cst(2026, 3, 23, 9), cst(2026, 3, 31, 15), reviewers=fire)  # type: ignore[arg-type]
        concluded_review(db, b, 1, "fire", cst(2026, 3, 2), cst(2026, 3, 19, 15), reviewers=fire)  # type: ignore[arg-type]
        db.add(
            ClockPause(
                submission_id=b.id, started_at=cst(2026, 3, 5, 12), ended_at=cst(2026, 3, 10, 9), reason="revising"
            )
        )
        deadlines.start_clock(db, c.id, at=cst(2026, 3, 2, 10))
        db.commit()


def test_the_bureau_sees_the_figures(client: TestClient, web_platform: Platform) -> None:
    supervised_dataset(web_platform)
    sign_in(client, web_platform, "bureau")
    page = client.get(f"/supervision?{MARCH}")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="stat-on-time">75.0%' in text
    assert 'data-testid="stat-concluded">4<' in text
    assert 'data-key="fire/first_review"' in text
    assert ">9.5<" in text
    assert text.count('data-testid="overdue-row"') == 1
    assert "P-C" in text
    assert text.count("<svg") == 2  # nothing was received in March: no chart of submissions by state
    assert "<script" not in text
    api = client.get(f"/api/v1/supervision?{MARCH}").json()
    fire = next(s for s in api["by_track"] if s["track"] == "fire")
    assert fire == {"track": "fire", "reviews": 3, "average_days": 8.33, "p90_days": 10, "on_time_rate": 0.6667}
    assert api["rounds_per_project"] == {"P-A": 2, "P-B": 1}


def test_csv_export(client: TestClient, web_platform: Platform) -> None:
    supervised_dataset(web_platform)
    sign_in(client, web_platform, "bureau")
    answer = client.get(f"/supervision/export.csv?table=reviewers&{MARCH}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="supervision-reviewers-2026-03-01_2026-03-31.csv"' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["赵磊", "3", "25"]
    assert client.get(f"/supervision/export.csv?table=secrets&{MARCH}").status_code == 400


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-02-30", "开始日期格式错误"),
        ("from=2026-04-01&to=2026-03-01", "晚于"),
        ("to=%3Cscript%3E", "结束日期"),
    ],
)
def test_bad_dates_are_refused_clearly(client: TestClient, web_platform: Platform, query: str, message: str) -> None:
    sign_in(client, web_platform, "bureau")
    page = client.get(f"/supervision?{query}")
    assert page.status_code == 400
    assert message in page.text
    assert 'data-testid="problem"' in page.text
    assert "<script>" not in page.text
    assert client.get(f"/api/v1/supervision?{query}").status_code == 400


def test_only_the_bureau_and_admins(client: TestClient, web_platform: Platform) -> None:
    for username in ("designer", "clerk", "fire.reviewer"):
        sign_in(client, web_platform, username)
        assert client.get("/supervision").status_code == 403
        assert client.get("/supervision/export.csv").status_code == 403
        assert client.get("/api/v1/supervision").status_code == 403
    sign_in(client, web_platform, "admin")
    assert client.get("/supervision").status_code == 200
    client.cookies.clear()
    assert client.get("/supervision").status_code == 303  # to the login page


@pytest.mark.browser
def test_screenshots(chromium, live_server, screenshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(web_settings_env(tmp_path / "live"))
    platform = Platform(settings, _engine=make_engine(settings.effective_database_url))
    try:
        supervised_dataset(platform)
    finally:
        platform.close()
    for locale in ("zh-CN", "en"):
        context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.fill("#username", "bureau")
        page.fill("#password", DEMO_PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url(f"{live_server}/")
        page.goto(f"{live_server}/supervision")
        page.get_by_test_id("period-from").fill("2026-03-01")
        page.get_by_test_id("period-to").fill("2026-03-31")
        page.get_by_test_id("period-apply").click()
        page.wait_for_url(f"{live_server}/supervision?{MARCH}")
        assert page.get_by_test_id("stat-on-time").inner_text() == "75.0%"
        page.screenshot(path=screenshots / f"supervision-{locale}.png", full_page=True)
        context.close()


def test_the_top_bar_links_the_board_for_the_bureau_only(client: TestClient, web_platform: Platform) -> None:
    sign_in(client, web_platform, "bureau")
    assert 'data-testid="nav-supervision"' in client.get("/").text
    sign_in(client, web_platform, "designer")
    assert 'data-testid="nav-supervision"' not in client.get("/").text


def test_reviews_due_soon_are_listed(client: TestClient, web_platform: Platform) -> None:
    import datetime as dt

    from tests.app.supervision.world import World, make_submission

    now = dt.datetime.now(dt.UTC)
    policy, calendar = deadlines.time_limits(), deadlines.work_calendar()
    # A start from which the fire review is due soon today (at most two working days left), not overdue.
    start = next(
        now - dt.timedelta(days=days)
        for days in range(1, 30)
        if policy.status(policy.deadline("fire", 1, now - dt.timedelta(days=days), calendar), now, calendar).due_soon
    )
    with web_platform.sessions() as db:
        designer = db.scalar(select(User).where(User.username == "designer"))
        assert designer is not None
        world = World(*([None] * 6), institute_id=designer.organization_id)  # type: ignore[arg-type]
        submission = make_submission(db, world, code="P-SOON", tracks=("fire",), state=SubmissionState.IN_REVIEW)
        deadlines.start_clock(db, submission.id, at=start)
        db.commit()
    sign_in(client, web_platform, "bureau")
    page = client.get("/supervision").text
    assert page.count('data-testid="due-soon-row"') == 1
    assert "P-SOON" in page
    assert 'data-testid="stat-due-soon">1<' in page
