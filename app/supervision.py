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

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import deadlines, policy
from app.errors import Invalid
from app.identity.principal import Principal
from app.policy import Action
from app.settings import Settings
from review.deadlines import DeadlineError, elapsed_working_days
from review.deadlines.clock import SHANGHAI
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


def _reviewer_names(session: Session, review_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    if review_ids:
        rows = session.execute(
            select(TrackReviewer.track_review_id, User.display_name)
            .join(User, User.id == TrackReviewer.user_id)
            .where(TrackReviewer.track_review_id.in_(review_ids))
            .order_by(User.display_name)
        )
        for review_id, name in rows:
            names[review_id].append(name)
    return names


def concluded_records(
    session: Session, period: Period, settings: Settings | None = None
) -> tuple[list[RoundRecord], int]:
    """Track reviews concluded in ``period`` as statistics records, and how many could not be counted."""
    policy_, calendar = deadlines.time_limits(settings), deadlines.work_calendar(settings)
    # Plain columns, not ORM objects: a year of a city is tens of thousands of rows.
    rows = session.execute(
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
        .where(
            TrackReview.state.in_((TrackReviewState.PASSED, TrackReviewState.REVISE)),
            TrackReview.started_at.is_not(None),
            TrackReview.concluded_at >= period.start,
            TrackReview.concluded_at < period.end,
        )
        .order_by(TrackReview.concluded_at, TrackReview.id)
    ).all()
    names = _reviewer_names(session, [row.id for row in rows])
    concluder_ids = {row.concluded_by_id for row in rows if row.concluded_by_id}
    concluders: dict[int | None, str] = dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(concluder_ids))).tuples().all()
    )
    pauses_by_submission: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
    for pause in session.execute(
        select(ClockPause.submission_id, ClockPause.started_at, ClockPause.ended_at)
        .where(ClockPause.submission_id.in_({row.submission_id for row in rows}))
        .order_by(ClockPause.started_at)
    ):
        ended = deadlines.aware(pause.ended_at) if pause.ended_at else None
        pauses_by_submission[pause.submission_id].append((deadlines.aware(pause.started_at), ended))
    records, uncounted = [], 0
    for row in rows:
        start, end = deadlines.aware(row.started_at), deadlines.aware(row.concluded_at)
        pauses = [p for p in pauses_by_submission[row.submission_id] if p[0] >= start]
        people = names.get(row.id) or ([concluders[row.concluded_by_id]] if row.concluded_by_id in concluders else [])
        try:
            days = elapsed_working_days(_running(start, end, pauses), calendar)
            limit = policy_.days_for(row.track_code, row.number)
        except DeadlineError:
            uncounted += 1
            continue
        records.append(RoundRecord(row.code, row.track_code, row.number, days, limit, tuple(people)))
    return records, uncounted


def board(
    session: Session, actor: Principal, period: Period, *, now: dt.datetime, settings: Settings | None = None
) -> Board:
    """The supervision board for ``period`` as seen at ``now`` (bureau officers and administrators only)."""
    policy.require(actor, Action.VIEW_SUPERVISION)
    tracks = list(session.scalars(select(Track).order_by(Track.sort_order, Track.code)))
    by_state = Counter(
        state.value
        for state in session.scalars(
            select(Submission.state).where(Submission.created_at >= period.start, Submission.created_at < period.end)
        )
    )
    started = session.execute(
        select(TrackReview.track_code, TrackReview.state).where(
            TrackReview.started_at >= period.start, TrackReview.started_at < period.end
        )
    ).all()
    per_track: dict[str, Counter[str]] = defaultdict(Counter)
    for code, state in started:
        per_track[code][state.value] += 1
    records, uncounted = concluded_records(session, period, settings)
    open_now = deadlines.open_deadlines(session, now, settings=settings)
    assigned = session.execute(
        select(User.display_name)
        .join(TrackReviewer, TrackReviewer.user_id == User.id)
        .join(TrackReview, TrackReview.id == TrackReviewer.track_review_id)
        .where(TrackReview.state.in_(deadlines.OPEN_STATES))
    ).scalars()
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
        open_by_reviewer=dict(sorted(Counter(assigned).items())),
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
