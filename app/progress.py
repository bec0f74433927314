"""The progress of a submission (办理进度): where it stands, what waits on whom, days left, and what happened.

Everything is read from the records the other use cases keep (the submission and its rounds, track
reviews, clock pauses, fee invoices, result signatures, permit and the audit log); nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import deadlines
from app.fees import FeeState, fee_state, invoices_of
from app.identity import Principal
from app.projects import load_submission
from app.settings import Settings
from review.deadlines import CalendarGap, DeadlineError, deadline_status
from storage.models import (
    AuditEvent,
    ClockPause,
    Organization,
    Permit,
    ResultSignature,
    ReviewResult,
    Submission,
    SubmissionState,
    Track,
    TrackReview,
    TrackReviewState,
)

TIMELINE_LIMIT = 200

S = SubmissionState


class Party(StrEnum):
    """Who a submission waits on."""

    DESIGNER = "designer"
    INTAKE_CLERK = "intake_clerk"
    REVIEWERS = "reviewers"
    SIGNERS = "signers"
    BUREAU = "bureau"
    NOBODY = "nobody"


class Task(StrEnum):
    """What they must do."""

    UPLOAD_AND_SUBMIT = "upload_and_submit"
    INTAKE = "intake"
    CORRECT_AND_RESUBMIT = "correct_and_resubmit"
    PAY_FEE = "pay_fee"
    START_REVIEW = "start_review"
    REVIEW = "review"
    CONCLUDE = "conclude"
    ANSWER_AND_RESUBMIT = "answer_and_resubmit"
    COMPOSING_RESULT = "composing_result"
    SIGN = "sign"
    ISSUE_PERMIT = "issue_permit"
    DONE = "done"


@dataclass(frozen=True)
class Waiting:
    """Who must act next, and on what (keys of the interface catalogue, with parameters)."""

    party: Party
    task: Task
    detail: str = ""
    """A name to show beside it: the track or the organisation whose turn it is."""


@dataclass(frozen=True)
class TrackProgress:
    track_code: str
    name_zh: str
    name_en: str
    round_number: int
    state: TrackReviewState
    started_at: dt.datetime | None
    due_at: dt.datetime | None
    concluded_at: dt.datetime | None
    working_days_left: int | None
    """None when there is no deadline, the track is concluded, or the calendar does not reach it."""
    due_soon: bool
    overdue: bool
    clock_stopped: bool


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    actor: str
    action: str
    summary: str


@dataclass(frozen=True)
class Progress:
    submission: Submission
    waiting: tuple[Waiting, ...]
    tracks: tuple[TrackProgress, ...]
    timeline: tuple[TimelineEntry, ...]
    rounds: int
    clock_stopped_since: dt.datetime | None
    fee_state: str | None


def progress(
    session: Session,
    principal: Principal,
    submission_id: int,
    *,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> Progress:
    """The progress of a submission ``principal`` may see (else :class:`~app.errors.NotFound`).

    Days left are counted on the same calendar, with the same "due soon" threshold, as the reminders and
    the supervision board (:mod:`app.deadlines`).
    """
    submission = load_submission(session, principal, submission_id)
    moment = now or dt.datetime.now(dt.UTC)
    pause = session.scalar(
        select(ClockPause)
        .where(ClockPause.submission_id == submission.id, ClockPause.ended_at.is_(None))
        .order_by(ClockPause.id.desc())
        .limit(1)
    )
    stopped_since = _aware(pause.started_at) if pause is not None else None
    fee = fee_state(invoices_of(session, submission.id))  # supplementary invoices (补充收费) count too
    tracks = _tracks(session, submission, moment, stopped=stopped_since is not None, settings=settings)
    return Progress(
        submission=submission,
        waiting=_waiting(session, submission, tracks, fee),
        tracks=tracks,
        timeline=_timeline(session, submission),
        rounds=len(submission.rounds),
        clock_stopped_since=stopped_since,
        fee_state=fee.value if fee is not None else None,
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _tracks(
    session: Session, submission: Submission, now: dt.datetime, *, stopped: bool, settings: Settings | None
) -> tuple[TrackProgress, ...]:
    current = submission.rounds[-1] if submission.rounds else None
    if current is None:
        return ()
    rows = session.execute(
        select(TrackReview, Track)
        .join(Track, Track.code == TrackReview.track_code)
        .where(TrackReview.round_id == current.id)
        .order_by(Track.sort_order, Track.code)
    ).all()
    calendar = deadlines.work_calendar(settings)
    due_soon_days = deadlines.time_limits(settings).due_soon_days
    found = []
    for review, track in rows:
        left: int | None = None
        due_soon = overdue = False
        open_ = review.state in (TrackReviewState.PENDING, TrackReviewState.IN_REVIEW)
        if review.due_at is not None and open_ and not stopped:
            try:
                status = deadline_status(_aware(review.due_at), now, calendar, due_soon_days=due_soon_days)
            except (CalendarGap, DeadlineError):
                status = None
            if status is not None:
                left, due_soon, overdue = status.working_days_left, status.due_soon, status.overdue
        found.append(
            TrackProgress(
                track_code=track.code,
                name_zh=track.name_zh,
                name_en=track.name_en,
                round_number=current.number,
                state=review.state,
                started_at=review.started_at,
                due_at=review.due_at,
                concluded_at=review.concluded_at,
                working_days_left=left,
                due_soon=due_soon,
                overdue=overdue,
                clock_stopped=stopped and open_,
            )
        )
    return tuple(found)


SIMPLE_WAITS: dict[SubmissionState, Waiting] = {
    S.DRAFT: Waiting(Party.DESIGNER, Task.UPLOAD_AND_SUBMIT),
    S.SUBMITTED: Waiting(Party.INTAKE_CLERK, Task.INTAKE),
    S.RETURNED: Waiting(Party.DESIGNER, Task.CORRECT_AND_RESUBMIT),
    S.REVISING: Waiting(Party.DESIGNER, Task.ANSWER_AND_RESUBMIT),
    S.PASSED: Waiting(Party.NOBODY, Task.COMPOSING_RESULT),
    S.SEALED: Waiting(Party.BUREAU, Task.ISSUE_PERMIT),
}
"""States in which one party alone can move the submission on."""


def _waiting(
    session: Session, submission: Submission, tracks: tuple[TrackProgress, ...], fee: FeeState | None
) -> tuple[Waiting, ...]:
    state = submission.state
    fee_open = fee is FeeState.UNPAID
    pay = (Waiting(Party.DESIGNER, Task.PAY_FEE),) if fee_open else ()
    if state in SIMPLE_WAITS:
        return (SIMPLE_WAITS[state],)
    if state is S.ACCEPTED:
        return pay or (Waiting(Party.INTAKE_CLERK, Task.START_REVIEW),)
    if state is S.IN_REVIEW:
        open_tracks = [t for t in tracks if t.state in (TrackReviewState.PENDING, TrackReviewState.IN_REVIEW)]
        reviews = tuple(Waiting(Party.REVIEWERS, Task.REVIEW, detail=t.track_code) for t in open_tracks)
        return pay + (reviews or (Waiting(Party.REVIEWERS, Task.CONCLUDE),))
    if state is S.SEALING:
        return (Waiting(Party.SIGNERS, Task.SIGN, detail=_next_signer(session, submission.id)),)
    permit = session.scalar(select(Permit.number).where(Permit.submission_id == submission.id))
    return (Waiting(Party.NOBODY, Task.DONE, detail=permit or ""),)


def _next_signer(session: Session, submission_id: int) -> str:
    name = session.scalar(
        select(Organization.name)
        .join(ResultSignature, ResultSignature.organization_id == Organization.id)
        .join(ReviewResult, ReviewResult.id == ResultSignature.result_id)
        .where(ReviewResult.submission_id == submission_id, ResultSignature.signed_at.is_(None))
        .order_by(ResultSignature.position)
        .limit(1)
    )
    return name or ""


def _timeline(session: Session, submission: Submission) -> tuple[TimelineEntry, ...]:
    """What happened to the submission, its files and sheets, oldest first, from the audit log."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            or_(
                (AuditEvent.object_type == "submission") & (AuditEvent.object_id == str(submission.id)),
                (AuditEvent.object_type == "project") & (AuditEvent.object_id == str(submission.project_id)),
            )
        )
        .order_by(AuditEvent.id)
        .limit(TIMELINE_LIMIT)
    ).all()
    return tuple(TimelineEntry(_aware(e.at), e.actor_name, e.action, e.summary) for e in events)
