"""Review deadlines in the platform (审查时限): started with the review, stopped while the designer holds it.

When the clerk starts the review of a round, every track review of that round gets ``started_at``
and ``due_at``: the track's time limit in working days (first review or re-review, from the
time-limits file, see :mod:`app.deadlines.config`) on the working-day calendar of
:mod:`review.deadlines`. While the designer holds the submission the clock stands still: a
:class:`~storage.models.ClockPause` is open (:func:`pause_clock`, :func:`resume_clock`, called by
the use cases that hand the submission over); when it closes, the deadlines of the reviews still
open are computed again with every pause taken out.

Flags (due soon, overdue) are computed, never stored: :func:`open_deadlines` answers for one
moment. :func:`send_reminders` tells the reviewers of each due-soon or overdue track once a day.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deadlines.config import SHIPPED_TIME_LIMITS, load_time_limits
from app.errors import Conflict, Invalid
from app.notifications import Message, NotificationKind, notify
from app.settings import Settings, get_settings
from review.deadlines import CalendarGap, DeadlineError, DeadlinePolicy, DeadlineStatus, WorkCalendar, china_calendar
from review.deadlines.clock import SHANGHAI
from storage.models import (
    ClockPause,
    Project,
    Role,
    RoleGrant,
    Round,
    Submission,
    Track,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

OPEN_STATES = (TrackReviewState.PENDING, TrackReviewState.IN_REVIEW)
"""Track reviews whose clock runs (no conclusion yet)."""

PAUSE_REASONS = frozenset({"revising", "returned", "designer", "other"})
"""Why a clock may stand still: the designer revises (修改中), supplies what was missing (补正)…"""


def time_limits(settings: Settings | None = None) -> DeadlinePolicy:
    """The configured time limits per track (checked when the settings were read)."""
    chosen = (settings or get_settings()).time_limits_file
    return load_time_limits(SHIPPED_TIME_LIMITS if chosen is None else chosen)


class IndexedCalendar(WorkCalendar):
    """The working-day calendar counting spans with per-year running totals instead of day by day.

    Which day is a working day is still decided by :class:`~review.deadlines.WorkCalendar`; only the
    counting over a span (the supervision board counts one span per review) is faster. A year
    without data is refused exactly when a span reaches into it.
    """

    def __init__(self, base: WorkCalendar) -> None:
        super().__init__(base.years.values(), allow_provisional=base.allow_provisional)
        self._totals: dict[int, list[int]] = {}

    def _running_totals(self, year: int) -> list[int]:
        totals = self._totals.get(year)
        if totals is None:
            self.check_year(year)
            first = dt.date(year, 1, 1)
            count, totals = 0, []
            for offset in range((dt.date(year + 1, 1, 1) - first).days):
                count += self.is_working_day(first + dt.timedelta(days=offset))
                totals.append(count)
            self._totals[year] = totals
        return totals

    def working_days_in(self, first: dt.date, last: dt.date) -> int:
        """Number of working days from ``first`` to ``last``, both included (0 when ``last < first``)."""
        count = 0
        for year in range(first.year, last.year + 1) if last >= first else ():
            totals = self._running_totals(year)
            january = dt.date(year, 1, 1)
            low = (max(first, january) - january).days
            high = (min(last, dt.date(year, 12, 31)) - january).days
            count += totals[high] - (totals[low - 1] if low else 0)
        return count


@cache
def _indexed_calendar(allow_provisional: bool) -> IndexedCalendar:
    return IndexedCalendar(china_calendar(allow_provisional=allow_provisional))


def work_calendar(settings: Settings | None = None) -> WorkCalendar:
    """The working-day calendar, with provisional years only when the settings allow them."""
    return _indexed_calendar((settings or get_settings()).calendar_allow_provisional)


def aware(value: dt.datetime) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives them back without a zone)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# The clock ---------------------------------------------------------------------------------------


def _current_round(session: Session, submission_id: int) -> Round | None:
    return session.scalars(
        select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc()).limit(1)
    ).first()


def pauses_since(
    session: Session, submission_id: int, since: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """The submission's clock pauses that began at or after ``since``, oldest first."""
    rows = session.scalars(
        select(ClockPause).where(ClockPause.submission_id == submission_id).order_by(ClockPause.started_at)
    )
    found = []
    for pause in rows:
        began = aware(pause.started_at)
        if began >= since:
            found.append((began, aware(pause.ended_at) if pause.ended_at is not None else None))
    return found


def compute_due(
    review: TrackReview,
    round_number: int,
    pauses: Sequence[tuple[dt.datetime, dt.datetime | None]],
    policy: DeadlinePolicy,
    calendar: WorkCalendar,
) -> dt.datetime | None:
    """The deadline of a started track review, as UTC; None while a pause is open."""
    if review.started_at is None:
        return None
    due = policy.deadline(review.track_code, round_number, aware(review.started_at), calendar, pauses=pauses)
    return due.astimezone(dt.UTC) if due is not None else None


def start_clock(
    session: Session, submission_id: int, *, at: dt.datetime | None = None, settings: Settings | None = None
) -> list[TrackReview]:
    """Start the clock of every track review of the current round that has not started yet.

    Called in the transaction that starts the review. A deadline the calendar cannot compute
    (a year without holiday data) refuses the start with ``Conflict``: nothing is changed.
    """
    moment = aware(at or utcnow())
    current = _current_round(session, submission_id)
    if current is None:
        return []
    policy, calendar = time_limits(settings), work_calendar(settings)
    reviews = list(
        session.scalars(select(TrackReview).where(TrackReview.round_id == current.id, TrackReview.started_at.is_(None)))
    )
    for review in reviews:
        review.started_at = moment
        try:
            review.due_at = compute_due(review, current.number, [], policy, calendar)
        except DeadlineError as exc:
            hint_zh, hint_en = "", ""
            if isinstance(exc, CalendarGap) and exc.provisional:
                hint_zh, hint_en = (
                    "（或设置 LIANTU_CALENDAR_ALLOW_PROVISIONAL=true）",
                    " (or set LIANTU_CALENDAR_ALLOW_PROVISIONAL=true)",
                )
            raise Conflict(
                f"无法计算审查期限：{exc.zh}{hint_zh}", f"the review deadline cannot be computed: {exc.en}{hint_en}"
            ) from exc
    session.flush()
    return reviews


def pause_clock(session: Session, submission_id: int, reason: str, *, at: dt.datetime | None = None) -> ClockPause:
    """Stop the submission's clock (the designer holds it); an already open pause is returned as it is."""
    if reason not in PAUSE_REASONS:
        raise Invalid(f"未知的暂停计时原因：{reason}", f"unknown reason to stop the clock: {reason}")
    open_pause = session.scalars(
        select(ClockPause).where(ClockPause.submission_id == submission_id, ClockPause.ended_at.is_(None))
    ).first()
    if open_pause is not None:
        return open_pause
    pause = ClockPause(submission_id=submission_id, started_at=aware(at or utcnow()), reason=reason)
    session.add(pause)
    session.flush()
    return pause


def resume_clock(
    session: Session, submission_id: int, *, at: dt.datetime | None = None, settings: Settings | None = None
) -> ClockPause | None:
    """Restart the clock; the deadlines of the reviews still open move by the working days paused.

    Returns the pause closed, or None when the clock was running. A deadline the calendar cannot
    compute is left as it was (and logged): handing the drawings back must not fail for want of
    holiday data.
    """
    pause = session.scalars(
        select(ClockPause).where(ClockPause.submission_id == submission_id, ClockPause.ended_at.is_(None))
    ).first()
    if pause is None:
        return None
    moment = aware(at or utcnow())
    if moment < aware(pause.started_at):
        raise Invalid("恢复计时早于暂停时间", "the clock cannot resume before it stopped")
    pause.ended_at = moment
    session.flush()
    recompute(session, submission_id, settings=settings)
    return pause


def recompute(session: Session, submission_id: int, *, settings: Settings | None = None) -> None:
    """Compute again the deadlines of the submission's started, open track reviews."""
    policy, calendar = time_limits(settings), work_calendar(settings)
    rows = session.execute(
        select(TrackReview, Round.number)
        .join(Round, Round.id == TrackReview.round_id)
        .where(
            Round.submission_id == submission_id,
            TrackReview.started_at.is_not(None),
            TrackReview.state.in_(OPEN_STATES),
        )
    ).all()
    for review, number in rows:
        assert review.started_at is not None
        pauses = pauses_since(session, submission_id, aware(review.started_at))
        try:
            due = compute_due(review, number, pauses, policy, calendar)
        except DeadlineError:
            log.warning("deadline of track review %s cannot be computed; left as it was", review.id, exc_info=True)
            continue
        if due is not None:
            review.due_at = due
    session.flush()


# Where deadlines stand -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewDeadline:
    """An open, started track review and where its deadline stands at one moment."""

    track_review: TrackReview
    """The review."""
    round_number: int
    """Its round."""
    submission: Submission
    """Its submission."""
    project: Project
    """Its project."""
    track: Track
    """Its track."""
    status: DeadlineStatus | None
    """Due-soon and overdue flags; None while the clock stands still or the calendar does not reach the deadline."""
    clock_stopped: bool
    """The designer holds the submission."""


def open_deadlines(session: Session, now: dt.datetime, *, settings: Settings | None = None) -> list[ReviewDeadline]:
    """Every started, unconcluded track review with its deadline status at ``now``, earliest deadline first."""
    policy, calendar = time_limits(settings), work_calendar(settings)
    stopped = set(session.scalars(select(ClockPause.submission_id).where(ClockPause.ended_at.is_(None))))
    rows = session.execute(
        select(TrackReview, Round.number, Submission, Project, Track)
        .join(Round, Round.id == TrackReview.round_id)
        .join(Submission, Submission.id == Round.submission_id)
        .join(Project, Project.id == Submission.project_id)
        .join(Track, Track.code == TrackReview.track_code)
        .where(TrackReview.state.in_(OPEN_STATES), TrackReview.due_at.is_not(None), TrackReview.concluded_at.is_(None))
        .order_by(TrackReview.due_at, TrackReview.id)
    ).all()
    found = []
    for review, number, submission, project, track in rows:
        held = submission.id in stopped
        status = None
        if not held and review.due_at is not None:
            try:
                status = policy.status(aware(review.due_at), now, calendar)
            except DeadlineError:
                status = None
        found.append(ReviewDeadline(review, number, submission, project, track, status, held))
    return found


# Reminders -------------------------------------------------------------------------------------------


def reminder_recipients(session: Session, review: TrackReview) -> list[int]:
    """The reviewers assigned to the review and the track's leads; every reviewer of the track when none is assigned."""
    assigned = set(session.scalars(select(TrackReviewer.user_id).where(TrackReviewer.track_review_id == review.id)))
    wanted_roles = [Role.TRACK_LEAD] if assigned else [Role.TRACK_LEAD, Role.REVIEWER]
    by_role = set(
        session.scalars(
            select(RoleGrant.user_id)
            .join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.track_code == review.track_code, RoleGrant.role.in_(wanted_roles))
        )
    )
    return sorted(assigned | by_role)


def _reminder(entry: ReviewDeadline) -> Message | None:
    status = entry.status
    if status is None or not (status.overdue or status.due_soon):
        return None
    project, track = entry.project, entry.track
    due = status.deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    name = project.name
    if status.overdue:
        return Message(
            kind=NotificationKind.DEADLINE_PASSED,
            subject_zh=f"{name}：{track.name_zh}第 {entry.round_number} 轮已超期",
            subject_en=f"{name}: {track.name_en}, round {entry.round_number}, is overdue",
            body_zh=f"审查期限为 {due}（北京时间），已经超过。请尽快完成审查并给出结论。",
            body_en=f"The review was due on {due} (Beijing time) and is overdue. Please conclude it soon.",
            link=f"/submissions/{entry.submission.id}/progress",
            submission_id=entry.submission.id,
        )
    return Message(
        kind=NotificationKind.DEADLINE_NEAR,
        subject_zh=f"{name}：{track.name_zh}第 {entry.round_number} 轮即将到期",
        subject_en=f"{name}: {track.name_en}, round {entry.round_number}, is due soon",
        body_zh=f"审查期限为 {due}（北京时间），今天之后还剩 {status.working_days_left} 个工作日。",
        body_en=f"The review is due on {due} (Beijing time); {status.working_days_left} working day(s) left.",
        link=f"/submissions/{entry.submission.id}/progress",
        submission_id=entry.submission.id,
    )


def send_reminders(session: Session, now: dt.datetime, *, settings: Settings | None = None) -> int:
    """Remind the reviewers of every due-soon or overdue track review; once a day per review and kind.

    Returns the number of messages written (0 when run again on the same day).
    """
    day = aware(now).astimezone(SHANGHAI).date().isoformat()
    written = 0
    for entry in open_deadlines(session, now, settings=settings):
        message = _reminder(entry)
        if message is None:
            continue
        key = f"deadline:{message.kind.value}:{entry.track_review.id}:{day}"
        written += len(notify(session, reminder_recipients(session, entry.track_review), message, dedupe_key=key))
    return written
