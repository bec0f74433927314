"""Supervision for the construction bureau (电子监察): where work stands and how long it takes.

For a period of days (Beijing dates, both included) the bureau sees:

* submissions received in the period (``created_at``) by state, and the track reviews started in
  it by track and state;
* track reviews concluded in the period: working days taken (pauses taken out, as the deadlines
  count them), average and 90th percentile (nearest rank) per track and per track and round kind,
  on-time rate, rounds per project, workload per reviewer — with :mod:`review.deadlines.statistics`;
* open reviews overdue or due soon *now*, whatever the period.

Only bureau officers and administrators may look (``Action.VIEW_SUPERVISION``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app import deadlines, policy
from app.errors import Invalid
from app.identity.principal import Principal
from app.policy import Action
from app.settings import Settings
from review.deadlines import DeadlineError, DeadlinePolicy, InvalidDeadlineInput, WorkCalendar, elapsed_working_days
from review.deadlines.clock import DEFAULT_HOURS, SHANGHAI
from review.deadlines.statistics import (
    ReviewerLoad,
    RoundRecord,
    TrackSummary,
    on_time_rate,
    reviewer_workload,
    rounds_per_project,
    summarize_tracks,
    to_csv,
)
from storage.models import (
    ClockPause,
    Project,
    Round,
    Submission,
    SubmissionState,
    Track,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
)

DEFAULT_DAYS = 90
MAX_DAYS = 5 * 366


@dataclass(frozen=True)
class Period:
    """A span of Beijing dates, both ends included."""

    first: dt.date
    last: dt.date

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(0), tzinfo=SHANGHAI)

    @property
    def end(self) -> dt.datetime:
        """Exclusive: 00:00 of the day after ``last``."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(0), tzinfo=SHANGHAI)

    def holds(self, moment: dt.datetime | None) -> bool:
        return moment is not None and self.start <= deadlines.aware(moment) < self.end


def _date(text: str, which_zh: str, which_en: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(
            f"{which_zh}格式错误：{text[:40]}（应为 YYYY-MM-DD）", f"{which_en} is not a date: {text[:40]} (YYYY-MM-DD)"
        ) from None


def parse_period(first: str | None, last: str | None, *, today: dt.date) -> Period:
    """The period asked for; the last :data:`DEFAULT_DAYS` days up to ``today`` for what is left out."""
    end = _date(last, "结束日期", "the end date") if last else today
    start = _date(first, "开始日期", "the start date") if first else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise Invalid("开始日期晚于结束日期", "the start date lies after the end date")
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(f"统计区间不能超过 {MAX_DAYS} 天", f"the period cannot exceed {MAX_DAYS} days")
    return Period(start, end)


@dataclass(frozen=True)
class TrackCounts:
    """Track reviews started in the period, by state, for one track."""

    track: Track
    by_state: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


@dataclass(frozen=True)
class Board:
    """Everything the supervision page shows."""

    period: Period
    now: dt.datetime
    submissions_by_state: dict[str, int]
    """Submissions received in the period, by state (every state listed, zeros included)."""
    track_counts: tuple[TrackCounts, ...]
    records: tuple[RoundRecord, ...]
    """Track reviews concluded in the period, as the statistics take them."""
    uncounted: int
    """Concluded reviews whose working days the calendar could not compute (a year without data)."""
    by_track: tuple[TrackSummary, ...]
    by_track_and_round: tuple[TrackSummary, ...]
    on_time: Fraction | None
    rounds: dict[str, int]
    """Project code → rounds, for projects with a review concluded in the period."""
    workload: tuple[ReviewerLoad, ...]
    open_by_reviewer: dict[str, int]
    """Reviewer → open track reviews assigned now."""
    overdue: tuple[deadlines.ReviewDeadline, ...]
    due_soon: tuple[deadlines.ReviewDeadline, ...]
    track_names: dict[str, tuple[str, str]]


def _running(
    start: dt.datetime, end: dt.datetime, pauses: list[tuple[dt.datetime, dt.datetime | None]]
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spans from ``start`` to ``end`` in which the clock ran."""
    spans = []
    since = start
    for began, ended in pauses:
        if began >= end:
            break
        spans.append((since, began))
        if ended is None or ended >= end:
            return spans
        since = ended
    spans.append((since, end))
    return spans


def _concluded_in(period: Period) -> tuple[ColumnElement[bool], ...]:
    """Track reviews concluded in ``period`` (the conditions, so that related rows join on them, not on ID lists)."""
    return (
        TrackReview.state.in_((TrackReviewState.PASSED, TrackReviewState.REVISE)),
        TrackReview.started_at.is_not(None),
        TrackReview.concluded_at >= period.start,
        TrackReview.concluded_at < period.end,
    )


def _reviewer_names(session: Session, period: Period) -> dict[int, tuple[str, ...]]:
    """Reviewers of each review concluded in ``period``, by name (users are few; their pairs with reviews are not)."""
    pairs = session.execute(
        select(TrackReviewer.track_review_id, TrackReviewer.user_id)
        .join(TrackReview, TrackReview.id == TrackReviewer.track_review_id)
        .where(*_concluded_in(period))
    ).all()
    users = {user_id for _, user_id in pairs}
    display = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(users))).tuples().all())
    names: dict[int, list[str]] = defaultdict(list)
    for review_id, user_id in pairs:
        names[review_id].append(display[user_id])
    return {review_id: tuple(sorted(people)) for review_id, people in names.items()}


def _pauses(session: Session, period: Period) -> dict[int, list[tuple[dt.datetime, dt.datetime | None]]]:
    """Clock pauses of the submissions with a review concluded in ``period``, by submission, in order."""
    submissions = select(Round.submission_id).join(TrackReview, TrackReview.round_id == Round.id)
    found: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    for submission_id, began, ended in session.execute(
        select(ClockPause.submission_id, ClockPause.started_at, ClockPause.ended_at)
        .where(ClockPause.submission_id.in_(submissions.where(*_concluded_in(period))))
        .order_by(ClockPause.started_at)
    ).tuples():
        found[submission_id].append((deadlines.aware(began), deadlines.aware(ended) if ended else None))
    return found


class _SpanCounter:
    """Working days of single running spans, worked out once per distinct (receipt, last day) pair.

    A city's year holds tens of thousands of reviews but only a few thousand distinct pairs of a
    start's receipt-day key (its Beijing date, before or after the close of office hours) and an
    end's last counted day, so each pair goes to the calendar once; the answers are those of
    :func:`review.deadlines.working_days_between`, refusals (a year without data) included.
    """

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self._receipts: dict[tuple[dt.date, bool], dt.date | DeadlineError] = {}
        self._counts: dict[tuple[dt.date, dt.date], int | DeadlineError] = {}

    def _receipt(self, day: dt.date, before_close: bool) -> dt.date:
        key = (day, before_close)
        found = self._receipts.get(key)
        if found is None:
            try:
                working = self.calendar.is_working_day(day)
                found = day if working and before_close else self.calendar.next_working_day(day)
            except DeadlineError as exc:
                found = exc
            self._receipts[key] = found
        if isinstance(found, DeadlineError):
            raise found
        return found

    def days(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working days used from ``start`` to ``end`` (aware); :class:`DeadlineError` as the calendar refuses."""
        local_start, local_end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
        if local_end < local_start:
            raise InvalidDeadlineInput("结束时间早于开始时间", "end lies before start")
        receipt = self._receipt(local_start.date(), local_start.time() < DEFAULT_HOURS.close)
        last = local_end.date()
        if local_end.time() == _MIDNIGHT:
            last -= _ONE_DAY
        key = (receipt, last)
        found = self._counts.get(key)
        if found is None:
            try:
                found = self.calendar.working_days_in(receipt + _ONE_DAY, last)
            except DeadlineError as exc:
                found = exc
            self._counts[key] = found
        if isinstance(found, DeadlineError):
            raise found
        return found


def _limit(limits: DeadlinePolicy, track: str, number: int) -> int | DeadlineError:
    try:
        return limits.days_for(track, number)
    except DeadlineError as exc:
        return exc


_MIDNIGHT = dt.time(0)
_ONE_DAY = dt.timedelta(days=1)


def concluded_records(
    session: Session, period: Period, settings: Settings | None = None
) -> tuple[list[RoundRecord], int]:
    """Track reviews concluded in ``period`` as statistics records, and how many could not be counted."""
    policy_, calendar = deadlines.time_limits(settings), deadlines.work_calendar(settings)
    # Plain columns, not ORM objects: a year of a city is tens of thousands of rows.
    rows = (
        session.execute(
            select(
                TrackReview.id,
                TrackReview.track_code,
                TrackReview.started_at,
                TrackReview.concluded_at,
                TrackReview.concluded_by_id,
                Round.number,
                Round.submission_id,
                Project.code,
            )
            .join(Round, Round.id == TrackReview.round_id)
            .join(Submission, Submission.id == Round.submission_id)
            .join(Project, Project.id == Submission.project_id)
            .where(*_concluded_in(period))
            .order_by(TrackReview.id)  # any stable order: no figure depends on it
        )
        .tuples()
        .all()
    )
    names = _reviewer_names(session, period)
    concluder_ids = {row[4] for row in rows if row[4]}
    concluders: dict[int | None, tuple[str, ...]] = {
        user_id: (name,)
        for user_id, name in session.execute(select(User.id, User.display_name).where(User.id.in_(concluder_ids)))
    }
    pauses = _pauses(session, period)
    spans = _SpanCounter(calendar)
    limits: dict[tuple[str, int], int | DeadlineError] = {}
    records, uncounted = [], 0
    for review_id, track, started_at, concluded_at, concluded_by, number, submission_id, project in rows:
        if started_at is None or concluded_at is None:  # the query asks for both; this tells the type checker
            continue
        start, end = deadlines.aware(started_at), deadlines.aware(concluded_at)
        people = names.get(review_id) or concluders.get(concluded_by, ())
        paused = pauses.get(submission_id)
        try:
            if paused and any(start <= began < end for began, _ in paused):
                # The clock stood still during this review: each running span counts on its own.
                running = _running(start, end, [p for p in paused if p[0] >= start])
                days = elapsed_working_days(running, calendar)
            else:
                days = spans.days(start, end)
            limit = limits.get((track, number))
            if limit is None:
                limit = limits[track, number] = _limit(policy_, track, number)
            if isinstance(limit, DeadlineError):
                raise limit
        except DeadlineError:
            uncounted += 1
            continue
        records.append(RoundRecord(project, track, number, days, limit, people))
    return records, uncounted


def board(
    session: Session, actor: Principal, period: Period, *, now: dt.datetime, settings: Settings | None = None
) -> Board:
    """The supervision board for ``period`` as seen at ``now`` (bureau officers and administrators only)."""
    policy.require(actor, Action.VIEW_SUPERVISION)
    tracks = list(session.scalars(select(Track).order_by(Track.sort_order, Track.code)))
    by_state: dict[str, int] = {
        state.value: count
        for state, count in session.execute(
            select(Submission.state, func.count())
            .where(Submission.created_at >= period.start, Submission.created_at < period.end)
            .group_by(Submission.state)
        ).tuples()
    }
    per_track: dict[str, Counter[str]] = defaultdict(Counter)
    for code, state, count in session.execute(
        select(TrackReview.track_code, TrackReview.state, func.count())
        .where(TrackReview.started_at >= period.start, TrackReview.started_at < period.end)
        .group_by(TrackReview.track_code, TrackReview.state)
    ).tuples():
        per_track[code][state.value] += count
    records, uncounted = concluded_records(session, period, settings)
    open_now = deadlines.open_deadlines(session, now, settings=settings)
    assigned = session.execute(
        select(User.display_name, func.count())
        .join(TrackReviewer, TrackReviewer.user_id == User.id)
        .join(TrackReview, TrackReview.id == TrackReviewer.track_review_id)
        .where(TrackReview.state.in_(deadlines.OPEN_STATES))
        .group_by(User.display_name)
        .order_by(User.display_name)
    ).tuples()
    return Board(
        period=period,
        now=now,
        submissions_by_state={state.value: by_state.get(state.value, 0) for state in SubmissionState},
        track_counts=tuple(
            TrackCounts(track, {state.value: per_track[track.code].get(state.value, 0) for state in TrackReviewState})
            for track in tracks
            if track.enabled or per_track[track.code]
        ),
        records=tuple(records),
        uncounted=uncounted,
        by_track=tuple(summarize_tracks(records)),
        by_track_and_round=tuple(summarize_tracks(records, split_rounds=True)),
        on_time=on_time_rate(records) if records else None,
        rounds=rounds_per_project(records),
        workload=tuple(reviewer_workload(records)),
        open_by_reviewer=dict(sorted(assigned)),
        overdue=tuple(entry for entry in open_now if entry.status and entry.status.overdue),
        due_soon=tuple(entry for entry in open_now if entry.status and entry.status.due_soon),
        track_names={track.code: (track.name_zh, track.name_en) for track in tracks},
    )


# CSV export ------------------------------------------------------------------------------------------

EXPORTS = ("tracks", "rounds", "reviewers", "projects", "overdue")
"""Tables that can be exported."""


def export_csv(data: Board, table: str) -> bytes:
    """One table of the board as CSV (UTF-8 with BOM, formula-safe; see :func:`review.deadlines.statistics.to_csv`)."""
    period = f"{data.period.first.isoformat()}..{data.period.last.isoformat()}"
    if table in ("tracks", "rounds"):
        rows = data.by_track if table == "tracks" else data.by_track_and_round
        return to_csv(
            [
                "专项 Track",
                "审查次数 Reviews",
                "平均工作日 Average",
                "90%分位 P90",
                "按时办结率 On-time rate",
                "区间 Period",
            ],
            ([s.track, s.rounds, s.average_days, s.p90_days, s.on_time_rate, period] for s in rows),
        )
    if table == "reviewers":
        return to_csv(
            ["审查人员 Reviewer", "审查次数 Reviews", "工作日合计 Working days", "在审 Open now", "区间 Period"],
            (
                [load.reviewer, load.reviews, load.working_days, data.open_by_reviewer.get(load.reviewer, 0), period]
                for load in data.workload
            ),
        )
    if table == "projects":
        return to_csv(
            ["项目编号 Project", "审查轮次 Rounds", "区间 Period"],
            ([code, rounds, period] for code, rounds in data.rounds.items()),
        )
    if table == "overdue":
        return to_csv(
            ["项目编号 Project", "项目名称 Name", "专项 Track", "轮次 Round", "审查期限 Due (UTC+8)"],
            (
                [
                    entry.project.code,
                    entry.project.name,
                    entry.track.code,
                    entry.round_number,
                    entry.status.deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if entry.status else "",
                ]
                for entry in data.overdue
            ),
        )
    raise Invalid(f"未知的导出表：{table[:40]}", f"unknown export table: {table[:40]}")
