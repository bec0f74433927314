"""In a real browser: a designer's inbox leads to the progress page; the administrators' outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.notifications import Message, NotificationKind, notify
from app.seed import DEMO_PASSWORD
from storage.db import make_engine, make_session_factory, transaction
from storage.models import (
    Organization,
    OrgKind,
    Project,
    Round,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
    User,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{base}/")


def _prepare(database) -> int:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with transaction(make_session_factory(engine)) as db:
            org = db.scalar(select(Organization).where(Organization.kind == OrgKind.DESIGN_INSTITUTE))
            project = Project(organization_id=org.id, code="JC-2026-031", name="江城第一中学教学楼", floors_above=5)
            db.add(project)
            db.flush()
            submission = Submission(
                project_id=project.id, review_number="JCSC-2026-0031", state=SubmissionState.IN_REVIEW
            )
            db.add(submission)
            db.flush()
            round_ = Round(submission_id=submission.id, number=1)
            db.add(round_)
            db.flush()
            now = dt.datetime.now(dt.UTC)
            for code, state, days in (
                ("fire", TrackReviewState.IN_REVIEW, 6),
                ("civil_air_defence", TrackReviewState.PASSED, 4),
                ("construction", TrackReviewState.IN_REVIEW, -1),
            ):
                db.add(
                    TrackReview(
                        round_id=round_.id,
                        track_code=code,
                        state=state,
                        started_at=now - dt.timedelta(days=5),
                        due_at=now + dt.timedelta(days=days),
                        concluded_at=now if state is TrackReviewState.PASSED else None,
                    )
                )
            designer = db.scalar(select(User).where(User.username == "designer"))
            designer.email = "wangjianguo@example.cn"
            notify(
                db,
                [designer.id],
                Message(
                    kind=NotificationKind.SUBMISSION_ACCEPTED,
                    subject_zh="报审已受理：江城第一中学教学楼",
                    subject_en="Submission accepted: Jiangcheng No. 1 Middle School",
                    body_zh="审查编号 JCSC-2026-0031，审查费已缓缴。",
                    body_en="Review number JCSC-2026-0031; the fee was deferred.",
                    link=f"/submissions/{submission.id}/progress",
                    submission_id=submission.id,
                ),
            )
            return submission.id
    finally:
        engine.dispose()


def test_inbox_to_progress_and_outbox(chromium, live_server, tmp_path, screenshots):
    submission_id = _prepare(tmp_path / "live" / "liantu.sqlite3")
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, live_server, "designer")
    assert page.get_by_test_id("nav-inbox-count").inner_text() == "1"
    page.get_by_test_id("nav-inbox").click()
    page.wait_for_url(f"{live_server}/inbox")
    assert "报审已受理：江城第一中学教学楼" in page.get_by_test_id("inbox-list").inner_text()
    page.screenshot(path=str(screenshots / "inbox-zh.png"), full_page=True)
    page.get_by_test_id("inbox-open").first.click()
    page.wait_for_url(f"{live_server}/submissions/{submission_id}/progress")
    waiting = page.get_by_test_id("progress-waiting").inner_text()
    assert "审查人员" in waiting
    assert "消防" in waiting
    overdue_row = page.locator('[data-testid="track-row"][data-track="construction"]')
    assert "已超期" in overdue_row.inner_text()
    assert page.get_by_test_id("nav-inbox-count").count() == 0
    page.screenshot(path=str(screenshots / "progress-zh.png"), full_page=True)
    page.get_by_test_id("locale-switch").click()
    page.wait_for_load_state()
    assert "Waiting on" in page.get_by_test_id("progress-waiting").inner_text()
    page.screenshot(path=str(screenshots / "progress-en.png"), full_page=True)
    page.close()
    context.clear_cookies()

    admin = context.new_page()
    _sign_in(admin, live_server, "admin")
    admin.goto(f"{live_server}/admin/outbox")
    row = admin.get_by_test_id("outbox-row").first
    assert row.get_attribute("data-state") == "queued"  # no worker here; the mail waits in the outbox
    assert "wangjianguo@example.cn" in row.inner_text()
    admin.screenshot(path=str(screenshots / "outbox-zh.png"), full_page=True)
    context.close()
