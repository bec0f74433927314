"""Workflow steps tell the designers: accepted (容缺受理 or not) and returned with the reasons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import submissions
from app.identity import principal_for_user
from app.seed import seed_demo
from storage.models import Notification, Organization, OrgKind, Project, Submission, SubmissionState, User


@pytest.fixture(scope="module")
def demo_password_hash() -> str:
    from app.identity import hash_password
    from app.seed import DEMO_PASSWORD

    return hash_password(DEMO_PASSWORD)


@pytest.fixture
def submitted(session, demo_password_hash, monkeypatch):
    monkeypatch.setattr("app.seed.hash_password", lambda _password: demo_password_hash)
    seed_demo(session)
    org = session.scalar(select(Organization).where(Organization.kind == OrgKind.DESIGN_INSTITUTE))
    project = Project(organization_id=org.id, code="ANN-1", name="江城图书馆")
    session.add(project)
    session.flush()
    submission = Submission(project_id=project.id, review_number="JCSC-2026-0100", state=SubmissionState.SUBMITTED)
    session.add(submission)
    session.flush()
    return submission


def _principal(session, username):
    return principal_for_user(session, session.scalar(select(User.id).where(User.username == username)))


def _designer_messages(session):
    designer = session.scalar(select(User.id).where(User.username == "designer"))
    return session.scalars(select(Notification).where(Notification.user_id == designer)).all()


def test_acceptance_on_commitment_is_announced(session, submitted):
    submissions.accept(
        session, _principal(session, "clerk"), submitted.id, deficiency_tolerated=True, commitment="十日内补交"
    )
    [message] = _designer_messages(session)
    assert message.kind == "submission_accepted"
    assert message.subject_zh == "报审已受理：江城图书馆（JCSC-2026-0100）"
    assert "容缺受理" in message.body_zh
    assert message.link == f"/submissions/{submitted.id}/progress"
    clerk = session.scalar(select(User.id).where(User.username == "clerk"))
    assert session.scalars(select(Notification).where(Notification.user_id == clerk)).all() == []


def test_return_lists_the_reasons(session, submitted):
    submissions.return_submission(session, _principal(session, "clerk"), submitted.id, ["缺消防设计说明", "图签不清"])
    [message] = _designer_messages(session)
    assert message.kind == "submission_returned"
    assert message.body_zh == "退回理由：\n1. 缺消防设计说明\n2. 图签不清"


def test_a_refused_step_tells_nobody(session, submitted):
    from app.errors import LiantuError

    with pytest.raises(LiantuError):
        submissions.return_submission(session, _principal(session, "clerk"), submitted.id, [])
    assert _designer_messages(session) == []


def test_acceptance_gives_the_next_review_number_of_the_year(session, submitted):
    import datetime as dt

    from app.submissions import next_review_number

    submitted.review_number = None
    session.flush()
    submissions.accept(session, _principal(session, "clerk"), submitted.id)
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    assert submitted.review_number == f"SCSC-{year}-00001"
    assert next_review_number(session) == f"SCSC-{year}-00002"
    # Beijing's new year begins at 16:00 UTC on 31 December.
    new_year = dt.datetime(year, 12, 31, 16, 30, tzinfo=dt.UTC)
    assert next_review_number(session, now=new_year) == f"SCSC-{year + 1}-00001"
