"""The progress of a submission: who it waits on, days left on the working-day calendar, the history."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.errors import NotFound
from app.identity import principal_for_user
from app.progress import Party, Task, progress
from app.seed import seed_demo
from storage.models import (
    ClockPause,
    FeeInvoice,
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

CST = dt.timezone(dt.timedelta(hours=8))
# Friday 2026-11-27 10:00 in Beijing; the fire track is due Wednesday 2026-12-02 17:30.
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=CST)
DUE = dt.datetime(2026, 12, 2, 17, 30, tzinfo=CST)


@pytest.fixture(scope="module")
def demo_password_hash() -> str:
    from app.identity import hash_password
    from app.seed import DEMO_PASSWORD

    return hash_password(DEMO_PASSWORD)


@pytest.fixture
def demo(session, demo_password_hash, monkeypatch):
    monkeypatch.setattr("app.seed.hash_password", lambda _password: demo_password_hash)
    seed_demo(session)
    return session


def _principal(session, username):
    return principal_for_user(session, session.scalar(select(User.id).where(User.username == username)))


def _submission(session, state: SubmissionState, *, code: str = "P-1") -> Submission:
    org = session.scalar(select(Organization).where(Organization.kind == OrgKind.DESIGN_INSTITUTE))
    project = Project(organization_id=org.id, code=code, name="江城第一中学教学楼")
    session.add(project)
    session.flush()
    submission = Submission(project_id=project.id, review_number=f"R-{code}", state=state)
    session.add(submission)
    session.flush()
    return submission


def _round(session, submission, states: dict[str, TrackReviewState]) -> Round:
    round_ = Round(submission_id=submission.id, number=1)
    session.add(round_)
    session.flush()
    for track, state in states.items():
        session.add(
            TrackReview(
                round_id=round_.id,
                track_code=track,
                state=state,
                due_at=DUE,
                started_at=NOW - dt.timedelta(days=3),
            )
        )
    session.flush()
    session.refresh(submission)
    return round_


def test_in_review_waits_on_open_tracks_with_days_left(demo):
    submission = _submission(demo, SubmissionState.IN_REVIEW)
    _round(
        demo,
        submission,
        {"fire": TrackReviewState.IN_REVIEW, "civil_air_defence": TrackReviewState.PASSED},
    )
    view = progress(demo, _principal(demo, "designer"), submission.id, now=NOW)
    assert [(w.party, w.task, w.detail) for w in view.waiting] == [(Party.REVIEWERS, Task.REVIEW, "fire")]
    fire = next(t for t in view.tracks if t.track_code == "fire")
    # Monday 30 Nov, Tuesday 1 Dec, Wednesday 2 Dec: three working days after today.
    assert (fire.working_days_left, fire.due_soon, fire.overdue) == (3, False, False)
    passed = next(t for t in view.tracks if t.track_code == "civil_air_defence")
    assert passed.working_days_left is None
    late = progress(demo, _principal(demo, "designer"), submission.id, now=DUE + dt.timedelta(hours=1))
    assert next(t for t in late.tracks if t.track_code == "fire").overdue


def test_unpaid_fee_comes_first(demo):
    submission = _submission(demo, SubmissionState.ACCEPTED)
    demo.add(FeeInvoice(submission_id=submission.id, number="F-1", total_fen=120000, state="unpaid"))
    demo.flush()
    view = progress(demo, _principal(demo, "designer"), submission.id, now=NOW)
    assert [(w.party, w.task) for w in view.waiting] == [(Party.DESIGNER, Task.PAY_FEE)]
    assert view.fee_state == "unpaid"


def test_an_unpaid_supplementary_fee_waits_on_the_designer(demo):
    submission = _submission(demo, SubmissionState.ACCEPTED)
    demo.add(FeeInvoice(submission_id=submission.id, number="F-1", total_fen=120000, state="paid"))
    demo.flush()
    assert progress(demo, _principal(demo, "designer"), submission.id, now=NOW).fee_state == "paid"
    demo.add(
        FeeInvoice(submission_id=submission.id, number="F-2", kind="supplementary", total_fen=50000, state="unpaid")
    )
    demo.flush()
    view = progress(demo, _principal(demo, "designer"), submission.id, now=NOW)
    assert [(w.party, w.task) for w in view.waiting] == [(Party.DESIGNER, Task.PAY_FEE)]
    assert view.fee_state == "unpaid"


def test_revising_stops_the_clock(demo):
    submission = _submission(demo, SubmissionState.REVISING)
    _round(demo, submission, {"fire": TrackReviewState.IN_REVIEW})
    demo.add(ClockPause(submission_id=submission.id, started_at=NOW - dt.timedelta(days=1), reason="revising"))
    demo.flush()
    view = progress(demo, _principal(demo, "designer"), submission.id, now=NOW)
    assert [(w.party, w.task) for w in view.waiting] == [(Party.DESIGNER, Task.ANSWER_AND_RESUBMIT)]
    assert view.clock_stopped_since is not None
    assert view.tracks[0].clock_stopped
    assert view.tracks[0].working_days_left is None


def test_history_comes_from_the_audit_log(demo):
    from app import submissions

    submission = _submission(demo, SubmissionState.DRAFT)
    submissions.submit(demo, _principal(demo, "designer"), submission.id)
    view = progress(demo, _principal(demo, "designer"), submission.id, now=NOW)
    assert [e.action for e in view.timeline] == ["submission.submit"]
    assert view.waiting[0].party is Party.INTAKE_CLERK


def test_another_institute_sees_nothing(demo):
    submission = _submission(demo, SubmissionState.SUBMITTED)
    other = Organization(name="别的设计院", kind=OrgKind.DESIGN_INSTITUTE)
    demo.add(other)
    demo.flush()
    designer = demo.scalar(select(User).where(User.username == "designer"))
    stranger = User(organization_id=other.id, username="stranger", display_name="外人", password_hash="x")
    stranger.roles = [type(grant)(role=grant.role, track_code=grant.track_code) for grant in designer.roles]
    demo.add(stranger)
    demo.flush()
    with pytest.raises(NotFound):
        progress(demo, _principal(demo, "stranger"), submission.id, now=NOW)


def test_progress_page(client, web_platform):
    from storage.db import transaction
    from tests.support.web import sign_in

    with transaction(web_platform.sessions) as db:
        submission = _submission(db, SubmissionState.IN_REVIEW, code="P-PAGE")
        _round(db, submission, {"fire": TrackReviewState.IN_REVIEW})
        submission_id = submission.id
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/progress")
    assert page.status_code == 200
    assert "办理进度" in page.text
    assert 'data-party="reviewers"' in page.text
    assert 'data-track="fire"' in page.text
    sign_in(client, web_platform, "airdef.reviewer")
    assert client.get(f"/submissions/{submission_id}/progress").status_code == 404
