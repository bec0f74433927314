"""Supervision figures on a known dataset, worked out by hand; the period filter; CSV; access."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from fractions import Fraction

import pytest
from sqlalchemy.orm import Session

from app import supervision
from app.errors import Forbidden, Invalid
from storage.models import ClockPause, Submission, SubmissionState, TrackReviewState
from tests.app.supervision.world import World, concluded_review, cst, make_submission, make_world

MARCH = supervision.Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = cst(2026, 4, 1, 10)


def dataset(session: Session) -> World:
    """Two projects; working days counted from the day after the start, pauses left out.

    P-A round 1: fire 3/2 → 3/13 = 9 days (limit 10, on time); construction 3/2 → 3/20 = 14 (limit 15, on time).
    P-A round 2: fire 3/23 → 3/31 = 6 days (re-review limit 5, late).
    P-B round 1: fire 3/2 → 3/19 with a pause 3/5 12:00 → 3/10 09:00: 3 + 7 = 10 days (on time).
    P-C: an open fire review started 3/2, due 3/16 17:30, overdue on 4/1.
    """
    world = make_world(session)
    a = make_submission(session, world, code="P-A", tracks=(), state=SubmissionState.REVISING)
    b = make_submission(session, world, code="P-B", tracks=(), state=SubmissionState.PASSED)
    c = make_submission(session, world, code="P-C", tracks=("fire",), state=SubmissionState.IN_REVIEW)
    fire, build = (world.fire_reviewer,), (world.construction_reviewer,)
    concluded_review(
        session, a, 1, "fire", cst(2026, 3, 2), cst(2026, 3, 13, 16), reviewers=fire, state=TrackReviewState.REVISE
    )
    concluded_review(session, a, 1, "construction", cst(2026, 3, 2), cst(2026, 3, 20, 11), reviewers=build)
    concluded_review(session, a, 2, "fire", cst(2026, 3, 23, 9), cst(2026, 3, 31, 15), reviewers=fire)
    concluded_review(session, b, 1, "fire", cst(2026, 3, 2), cst(2026, 3, 19, 15), reviewers=fire)
    session.add(
        ClockPause(submission_id=b.id, started_at=cst(2026, 3, 5, 12), ended_at=cst(2026, 3, 10, 9), reason="revising")
    )
    from app import deadlines

    deadlines.start_clock(session, c.id, at=cst(2026, 3, 2, 10))
    for submission in (a, b, c):
        session.get_one(Submission, submission.id).created_at = cst(2026, 2, 27)
    session.commit()
    return world


def test_figures_on_a_known_dataset(session: Session) -> None:
    world = dataset(session)
    board = supervision.board(session, world.bureau, MARCH, now=NOW)
    assert sorted((r.project, r.track, r.round_number, r.working_days, r.on_time) for r in board.records) == [
        ("P-A", "construction", 1, 14, True),
        ("P-A", "fire", 1, 9, True),
        ("P-A", "fire", 2, 6, False),
        ("P-B", "fire", 1, 10, True),
    ]
    by_track = {s.track: s for s in board.by_track}
    assert by_track["fire"].rounds == 3
    assert by_track["fire"].average_days == Fraction(25, 3)
    assert by_track["fire"].p90_days == 10  # nearest rank: ⌈0.9 × 3⌉ = 3rd of 6, 9, 10
    assert by_track["fire"].on_time_rate == Fraction(2, 3)
    assert (by_track["construction"].average_days, by_track["construction"].p90_days) == (14, 14)
    split = {s.track: s for s in board.by_track_and_round}
    assert split["fire/first_review"].average_days == Fraction(19, 2)
    assert (split["fire/re_review"].average_days, split["fire/re_review"].on_time_rate) == (6, 0)
    assert board.on_time == Fraction(3, 4)
    assert board.rounds == {"P-A": 2, "P-B": 1}
    assert [(w.reviewer, w.reviews, w.working_days) for w in board.workload] == [("赵磊", 3, 25), ("吴静", 1, 14)]
    assert [(e.project.code, e.track.code) for e in board.overdue] == [("P-C", "fire")]
    counts = {row.track.code: row.by_state for row in board.track_counts}
    assert counts["fire"] == {"pending": 1, "in_review": 0, "revise": 1, "passed": 2}
    assert counts["construction"]["passed"] == 1
    # Submissions were received in February: none in March.
    assert sum(board.submissions_by_state.values()) == 0
    february = supervision.board(
        session, world.bureau, supervision.Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28)), now=NOW
    )
    assert february.submissions_by_state["revising"] == 1
    assert february.records == ()


def test_the_period_filters_what_was_concluded(session: Session) -> None:
    world = dataset(session)
    early = supervision.board(
        session, world.bureau, supervision.Period(dt.date(2026, 3, 1), dt.date(2026, 3, 20)), now=NOW
    )
    assert sorted(r.working_days for r in early.records if r.track == "fire") == [9, 10]
    assert early.rounds == {"P-A": 1, "P-B": 1}


def test_period_validation() -> None:
    today = dt.date(2026, 11, 27)
    default = supervision.parse_period(None, None, today=today)
    assert (default.first, default.last) == (dt.date(2026, 8, 30), today)
    assert supervision.parse_period("2026-03-01", "2026-03-31", today=today) == MARCH
    for first, last, message in (
        ("2026-13-01", None, "开始日期格式错误"),
        ("2026-03-01", "yesterday", "结束日期格式错误"),
        ("2026-04-01", "2026-03-01", "晚于"),
        ("2000-01-01", "2026-03-01", "不能超过"),
    ):
        with pytest.raises(Invalid, match=message):
            supervision.parse_period(first, last, today=today)


def test_csv_export(session: Session) -> None:
    world = dataset(session)
    board = supervision.board(session, world.bureau, MARCH, now=NOW)
    data = supervision.export_csv(board, "rounds")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "专项 Track"
    assert ["fire/first_review", "2", "9.50", "10", "1.00", "2026-03-01..2026-03-31"] in rows
    reviewers = list(csv.reader(io.StringIO(supervision.export_csv(board, "reviewers").decode("utf-8-sig"))))
    assert reviewers[1][:4] == ["赵磊", "3", "25", "0"]
    overdue = list(csv.reader(io.StringIO(supervision.export_csv(board, "overdue").decode("utf-8-sig"))))
    assert overdue[1][0] == "P-C"
    assert overdue[1][4] == "2026-03-16 17:30"
    with pytest.raises(Invalid):
        supervision.export_csv(board, "passwords")


def test_csv_cells_cannot_run_as_formulas(session: Session) -> None:
    world = make_world(session)
    submission = make_submission(session, world, code="=HYPERLINK(1)", tracks=())
    concluded_review(session, submission, 1, "fire", cst(2026, 3, 2), cst(2026, 3, 6), reviewers=(world.fire_reviewer,))
    session.commit()
    board = supervision.board(session, world.bureau, MARCH, now=NOW)
    rows = list(csv.reader(io.StringIO(supervision.export_csv(board, "projects").decode("utf-8-sig"))))
    assert rows[1][0] == "'=HYPERLINK(1)"


def test_only_the_bureau_and_admins_may_look(session: Session) -> None:
    world = dataset(session)
    for who in (world.designer, world.clerk, world.fire_reviewer):
        with pytest.raises(Forbidden):
            supervision.board(session, who, MARCH, now=NOW)


def test_working_days_match_the_span_by_span_count_on_a_generated_year(session: Session) -> None:
    """Starts before and after office hours, on rest days, across holidays, ends at midnight, pauses inside."""
    from app import deadlines
    from review.deadlines import elapsed_working_days

    world = make_world(session)
    rng = random.Random(11)
    calendar = deadlines.work_calendar()
    expected: dict[tuple[str, str, int], int] = {}
    for index in range(60):
        code = f"G-{index:03d}"
        submission = make_submission(session, world, code=code, tracks=(), state=SubmissionState.PASSED)
        start = cst(2026, 1, 1, 0) + dt.timedelta(days=rng.randrange(330), hours=rng.choice((0, 9, 17, 18, 23)))
        pause = None
        if index % 3 == 0:
            began = start + dt.timedelta(days=rng.randrange(1, 6), hours=rng.randrange(24))
            pause = (began, began + dt.timedelta(days=rng.randrange(1, 9), minutes=rng.randrange(600)))
            session.add(ClockPause(submission_id=submission.id, started_at=pause[0], ended_at=pause[1], reason="other"))
        for track in ("fire", "construction"):
            end = start + dt.timedelta(days=rng.randrange(0, 30), hours=rng.randrange(24))
            if rng.random() < 0.2:
                end = dt.datetime.combine(end.date(), dt.time(0), tzinfo=end.tzinfo)
            end = max(end, start)
            concluded_review(session, submission, 1, track, start, end)
            running = [(start, end)]
            if pause is not None and start <= pause[0] < end:
                running = [(start, pause[0])] + ([(pause[1], end)] if pause[1] < end else [])
            expected[code, track, 1] = elapsed_working_days(running, calendar)
    session.commit()

    board = supervision.board(
        session, world.bureau, supervision.Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31)), now=NOW
    )

    assert board.uncounted == 0
    assert {(r.project, r.track, r.round_number): r.working_days for r in board.records} == expected
    assert len(set(expected.values())) > 10
