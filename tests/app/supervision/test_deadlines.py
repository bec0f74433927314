"""Deadlines in the platform: set when the review starts, moved by pauses, flagged, reminded once a day."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import deadlines, fees, intake_desk
from app.deadlines.config import check_calendar, load_time_limits
from app.errors import Conflict, Invalid
from app.settings import SettingsError, load_settings
from storage.models import ClockPause, Notification, Round, Submission, SubmissionState, TrackReview, TrackReviewer
from tests.app.supervision.world import cst, make_submission, make_world


def _reviews(session: Session, submission_id: int) -> dict[str, TrackReview]:
    rows = session.scalars(select(TrackReview).join(Round).where(Round.submission_id == submission_id))
    return {row.track_code: row for row in rows}


def _due(review: TrackReview) -> dt.datetime:
    assert review.due_at is not None
    return deadlines.aware(review.due_at)


def test_the_clock_starts_with_the_review_after_the_fee_is_settled(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world)
    fees.issue_invoice(session, submission.id)  # as acceptance does
    session.commit()
    with pytest.raises(Conflict, match="审查费尚未缴纳"):
        intake_desk.start_review(session, world.clerk, submission.id, expected_version=None)
    session.rollback()
    assert all(review.started_at is None for review in _reviews(session, submission.id).values())
    fees.defer_fee(session, world.clerk, submission.id, reason="政府投资项目，财政统一结算")
    before = dt.datetime.now(dt.UTC)
    intake_desk.start_review(session, world.clerk, submission.id, expected_version=None)
    session.commit()
    assert session.get_one(Submission, submission.id).state is SubmissionState.IN_REVIEW
    reviews = _reviews(session, submission.id)
    policy, calendar = deadlines.time_limits(), deadlines.work_calendar()
    for code, review in reviews.items():
        assert review.started_at is not None
        assert deadlines.aware(review.started_at) >= before
        expected = policy.deadline(code, 1, deadlines.aware(review.started_at), calendar)
        assert _due(review) == expected
    # construction allows 15 working days, fire 10: the construction deadline is later
    assert _due(reviews["construction"]) > _due(reviews["fire"])


def test_deadline_by_hand_and_a_pause_moves_it(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world)
    deadlines.start_clock(session, submission.id, at=cst(2026, 3, 2, 10))
    fire = _reviews(session, submission.id)["fire"]
    # Received Monday 3/2; day 1 is 3/3; ten working days end on Monday 3/16 at 17:30.
    assert _due(fire) == cst(2026, 3, 16, 17, 30)
    assert _due(_reviews(session, submission.id)["construction"]) == cst(2026, 3, 23, 17, 30)

    pause = deadlines.pause_clock(session, submission.id, "revising", at=cst(2026, 3, 4, 15))
    assert deadlines.pause_clock(session, submission.id, "revising", at=cst(2026, 3, 5, 9)) is pause
    assert _due(fire) == cst(2026, 3, 16, 17, 30)  # unknown while paused: the last known stays
    # 3/3 and 3/4 were used; the return on Monday 3/9 is a new receipt day; 8 days from 3/10 end on 3/19.
    deadlines.resume_clock(session, submission.id, at=cst(2026, 3, 9, 9))
    assert _due(fire) == cst(2026, 3, 19, 17, 30)
    assert deadlines.resume_clock(session, submission.id, at=cst(2026, 3, 10)) is None
    assert session.scalar(select(ClockPause.ended_at).where(ClockPause.id == pause.id)) is not None


def test_bad_pauses_are_refused(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world)
    with pytest.raises(Invalid):
        deadlines.pause_clock(session, submission.id, "coffee")
    deadlines.pause_clock(session, submission.id, "revising", at=cst(2026, 3, 4, 15))
    with pytest.raises(Invalid):
        deadlines.resume_clock(session, submission.id, at=cst(2026, 3, 3))


def test_flags_with_a_fixed_now(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world, tracks=("fire",))
    deadlines.start_clock(session, submission.id, at=cst(2026, 3, 2, 10))
    session.commit()

    def status(now: dt.datetime) -> tuple[int, bool, bool]:
        (entry,) = deadlines.open_deadlines(session, now)
        assert entry.status is not None
        return entry.status.working_days_left, entry.status.due_soon, entry.status.overdue

    assert status(cst(2026, 3, 10)) == (4, False, False)  # 3/11, 3/12, 3/13, 3/16 left
    assert status(cst(2026, 3, 12)) == (2, True, False)
    assert status(cst(2026, 3, 16, 17, 0)) == (0, True, False)
    assert status(cst(2026, 3, 16, 18, 0)) == (0, False, True)
    deadlines.pause_clock(session, submission.id, "revising", at=cst(2026, 3, 12, 9))
    (held,) = deadlines.open_deadlines(session, cst(2026, 3, 20))
    assert held.clock_stopped
    assert held.status is None


def test_reminders_are_sent_once_a_day(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world)
    deadlines.start_clock(session, submission.id, at=cst(2026, 3, 2, 10))
    fire = _reviews(session, submission.id)["fire"]
    session.add(TrackReviewer(track_review_id=fire.id, user_id=world.fire_reviewer.user_id))
    session.commit()
    # 3/12: fire has 2 working days left (due soon), construction 7 (not yet).
    assert deadlines.send_reminders(session, cst(2026, 3, 12, 9)) == 2
    assert deadlines.send_reminders(session, cst(2026, 3, 12, 16)) == 0
    notes = session.scalars(select(Notification).order_by(Notification.user_id)).all()
    assert [n.user_id for n in notes] == sorted([world.fire_reviewer.user_id, world.fire_lead.user_id])
    assert {n.kind for n in notes} == {"deadline_near"}
    assert "即将到期" in notes[0].subject_zh
    assert notes[0].link == f"/submissions/{submission.id}/progress"
    # The next day brings another reminder; after the deadline the reminder says overdue.
    assert deadlines.send_reminders(session, cst(2026, 3, 13, 9)) == 2
    assert deadlines.send_reminders(session, cst(2026, 3, 17, 9)) == 2
    overdue = session.scalars(select(Notification).where(Notification.kind == "deadline_passed")).all()
    assert len(overdue) == 2
    assert all("已超期" in n.subject_zh for n in overdue)


def test_time_limits_with_holes_are_refused(tmp_path: Path) -> None:
    shipped = json.loads(Path(deadlines.SHIPPED_TIME_LIMITS).read_text(encoding="utf-8"))
    assert load_time_limits().days_for("fire", 2) == shipped["tracks"]["fire"]["re_review"]
    del shipped["tracks"]["planning"]
    holed = tmp_path / "limits.json"
    holed.write_text(json.dumps(shipped), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"LIANTU_TIME_LIMITS_FILE.*planning"):
        load_settings({"LIANTU_TIME_LIMITS_FILE": str(holed)})
    shipped["tracks"]["planning"] = {"first_review": 0, "re_review": 5}
    holed.write_text(json.dumps(shipped), encoding="utf-8")
    with pytest.raises(SettingsError, match="positive"):
        load_settings({"LIANTU_TIME_LIMITS_FILE": str(holed)})
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({"LIANTU_TIME_LIMITS_FILE": str(tmp_path / "missing.json")})


def test_a_year_missing_from_the_calendar_is_refused() -> None:
    check_calendar(today=dt.date(2026, 6, 1))
    check_calendar(today=dt.date(2027, 6, 1))  # provisional: refused when a deadline reaches it, not at start-up
    with pytest.raises(ValueError, match="holidays_cn_2031"):
        check_calendar(today=dt.date(2031, 1, 2))


def test_start_is_refused_when_the_deadline_reaches_an_unknown_year(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world)
    with pytest.raises(Conflict, match="LIANTU_CALENDAR_ALLOW_PROVISIONAL"):
        deadlines.start_clock(session, submission.id, at=cst(2026, 12, 28, 10))  # 15 days reach into 2027


def test_the_indexed_calendar_counts_as_the_calendar_does() -> None:
    from review.deadlines import CalendarGap, china_calendar

    plain, indexed = china_calendar(), deadlines.work_calendar()
    rng = random.Random(6)
    first_day = dt.date(2025, 1, 1)
    for _ in range(300):
        first = first_day + dt.timedelta(days=rng.randrange(730))
        last = first + dt.timedelta(days=rng.randrange(-5, 400))
        last = min(last, dt.date(2026, 12, 31))
        assert indexed.working_days_in(first, last) == plain.working_days_in(first, last), (first, last)
    with pytest.raises(CalendarGap):
        indexed.working_days_in(dt.date(2026, 12, 1), dt.date(2027, 1, 10))
