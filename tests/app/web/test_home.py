"""The home page queries on each database backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.identity import principal_for_user
from app.seed import seed_demo
from app.web.home import home_data
from storage.models import Organization, Project, Round, Submission, SubmissionState, TrackReview, TrackReviewer, User


@pytest.fixture(scope="module")
def demo_password_hash() -> str:
    from app.identity import hash_password
    from app.seed import DEMO_PASSWORD

    return hash_password(DEMO_PASSWORD)


@pytest.fixture
def demo(session, demo_password_hash, monkeypatch):
    # Argon2 is deliberately slow; these tests are about queries, so the hash is computed once.
    monkeypatch.setattr("app.seed.hash_password", lambda _password: demo_password_hash)
    seed_demo(session)
    org = session.scalar(select(Organization).where(Organization.name == "江城市建筑设计研究院"))
    waiting = Project(organization_id=org.id, code="T-001", name="滨江花园3号楼")
    reviewed = Project(organization_id=org.id, code="T-002", name="人民医院门诊楼")
    sealing = Project(organization_id=org.id, code="T-003", name="第一中学教学楼")
    session.add_all([waiting, reviewed, sealing])
    session.flush()
    session.add(Submission(project_id=waiting.id, review_number="R-1", state=SubmissionState.SUBMITTED))
    in_review = Submission(project_id=reviewed.id, review_number="R-2", state=SubmissionState.IN_REVIEW)
    at_seal = Submission(project_id=sealing.id, review_number="R-3", state=SubmissionState.SEALING)
    session.add_all([in_review, at_seal])
    session.flush()
    for submission, track, overdue in ((in_review, "fire", True), (at_seal, "construction", False)):
        round_ = Round(submission_id=submission.id, number=1)
        session.add(round_)
        session.flush()
        due = dt.datetime.now(dt.UTC) + dt.timedelta(days=-1 if overdue else 5)
        review = TrackReview(round_id=round_.id, track_code=track, due_at=due)
        session.add(review)
        session.flush()
        reviewer = session.scalar(select(User.id).where(User.username == f"{track}.reviewer"))
        session.add(TrackReviewer(track_review_id=review.id, user_id=reviewer))
    session.flush()
    return session


def _home(session, username):
    user_id = session.scalar(select(User.id).where(User.username == username))
    return home_data(session, principal_for_user(session, user_id))


def test_designer(demo):
    data = _home(demo, "designer")
    assert {row["code"] for row in data.projects} == {"T-001", "T-002", "T-003"}
    assert data.intake is None
    assert data.review_queues == []


def test_clerk(demo):
    assert [row["review_number"] for row in _home(demo, "clerk").intake] == ["R-1"]


def test_reviewers_and_leads(demo):
    fire = _home(demo, "fire.reviewer").review_queues
    assert [(q.track_code, [r["review_number"] for r in q.rows]) for q in fire] == [("fire", ["R-2"])]
    assert fire[0].rows[0]["overdue"] is True
    assert _home(demo, "airdef.reviewer").review_queues[0].rows == []
    lead = _home(demo, "construction.lead").lead_queues
    assert [r["review_number"] for r in lead[0].rows] == ["R-3"]
    assert lead[0].rows[0]["overdue"] is False


def test_signers_see_only_their_tracks(demo):
    assert [row["review_number"] for row in _home(demo, "construction.signer").signing] == ["R-3"]
    assert _home(demo, "fire.signer").signing == []


def test_bureau_overview(demo):
    overview = _home(demo, "bureau").overview
    assert overview["projects"] == 3
    assert overview["overdue"] == 1
    assert overview["by_state"][SubmissionState.SUBMITTED] == 1
    assert overview["by_state"][SubmissionState.DRAFT] == 0


def test_admin_lists(demo):
    data = _home(demo, "admin")
    assert len(data.organizations) == 7
    assert {user["username"] for user in data.users} >= {"designer", "admin", "fire.signer"}
    review_agency = next(org for org in data.organizations if org["name"] == "江城市施工图审查中心")
    assert review_agency["users"] == 7
