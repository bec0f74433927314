"""Concluding a round for one track (本轮结论): issue the comments, pass or ask for revision, letters follow.

:func:`conclude_track` is the track lead's one step: the track's comments of the round are issued to the
designer (:func:`app.review_desk.comments.issue_comments`), the conclusion is recorded on the track review,
the worker is asked to build the letters (:mod:`app.rounds.letters`), and when it was the last track of the
round, the submission moves on (:func:`app.submissions.conclude_round`: 修改中 or 各专项通过); the review
clock stops while the designer revises.

Rules: ``revise`` needs at least one open (or reopened) comment once issued; ``pass`` is refused while a
mandatory or general comment is still open, answered or reopened (suggestions do not hold a pass). Errors
leave everything as it was: the caller's transaction is rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, deadlines, policy, submissions
from app.errors import Conflict, Invalid, NotFound
from app.identity.principal import Principal
from app.policy import Action
from app.review_desk.comments import issue_comments
from app.rounds.letters import comment_numbers
from app.tasks.dispatch import enqueue
from storage.models import Comment, Round, Submission, SubmissionState, TrackReview, TrackReviewState, utcnow

BUILD_LETTERS = "round.letters"
NOTE_LIMIT = 2000
OPEN = ("open", "reopened")
UNSETTLED = ("open", "answered", "reopened")


class Outcome(StrEnum):
    """What the track lead decides for the round."""

    PASSED = "passed"  # 通过
    REVISE = "revise"  # 需修改


def parse_outcome(value: object) -> Outcome:
    try:
        return Outcome(str(value))
    except ValueError as exc:
        raise Invalid("请选择结论：通过或需修改", "choose the conclusion: passed or revise") from exc


def _listed(comments: Sequence[Comment], numbers: dict[int, str]) -> str:
    shown = "、".join(numbers[c.id] for c in comments[:10])
    return shown + ("…" if len(comments) > 10 else "")


def conclude_track(
    db: Session,
    actor: Principal,
    round_id: int,
    track: str,
    outcome: object,
    *,
    note: str = "",
) -> TrackReview:
    """专项结论: issue ``track``'s comments of the round and record the lead's conclusion (flushed; caller commits)."""
    round_ = db.get(Round, round_id)
    if round_ is None:
        raise NotFound("没有该轮次", "no such round")
    # One conclusion of a submission at a time: two leads concluding the last two tracks must not both miss
    # that the round is complete.
    submission = db.get_one(Submission, round_.submission_id, with_for_update=True)
    policy.require(actor, Action.ISSUE_OPINION, submission=submission, track=track)
    decided = parse_outcome(outcome)
    review = db.scalar(select(TrackReview).where(TrackReview.round_id == round_id, TrackReview.track_code == track))
    if review is None:
        raise NotFound("该轮次没有此专项", "this track is not part of the round")
    if submission.state is not SubmissionState.IN_REVIEW or round_.closed_at is not None:
        raise Conflict(
            "该报审当前不在审查中，不能给出本轮结论", "the submission is not in review; the round cannot be concluded"
        )
    if review.state not in (TrackReviewState.PENDING, TrackReviewState.IN_REVIEW):
        raise Conflict("本专项已给出本轮结论", "this track has already concluded the round")
    text = note.strip()
    if len(text) > NOTE_LIMIT:
        raise Invalid(f"结论说明不能超过 {NOTE_LIMIT} 字", f"the note is longer than {NOTE_LIMIT} characters")

    issue_comments(db, actor, round_id, track)
    comments = list(db.scalars(select(Comment).where(Comment.round_id == round_id, Comment.track_code == track)))
    numbers = comment_numbers(comments)
    if decided is Outcome.REVISE and not any(c.status in OPEN for c in comments):
        raise Invalid(
            "结论为“需修改”时，至少应有一条待答复的审查意见",
            "a conclusion of revise needs at least one open comment",
        )
    if decided is Outcome.PASSED:
        holding = sorted(
            (c for c in comments if c.status in UNSETTLED and c.severity != "suggestion"), key=lambda c: c.id
        )
        if holding:
            raise Invalid(
                f"以下意见尚未关闭，不能通过：{_listed(holding, numbers)}",
                f"these comments are not resolved yet, the track cannot pass: {_listed(holding, numbers)}",
            )

    review.state = TrackReviewState.PASSED if decided is Outcome.PASSED else TrackReviewState.REVISE
    review.concluded_at = utcnow()
    review.concluded_by_id = actor.user_id
    review.conclusion_note = text
    db.flush()
    audit.record(
        db,
        actor_id=actor.user_id,
        actor_name=actor.username,
        action="track_review.concluded",
        object_type="track_review",
        object_id=review.id,
        summary=f"第 {round_.number} 轮 [{track}]：{'通过' if decided is Outcome.PASSED else '需修改'} "
        f"/ round {round_.number} [{track}]: {decided.value}",
    )
    enqueue(db, BUILD_LETTERS, object_type="round", object_id=round_id, round_id=round_id)
    states = list(db.scalars(select(TrackReview.state).where(TrackReview.round_id == round_id)))
    if all(state in (TrackReviewState.PASSED, TrackReviewState.REVISE) for state in states):
        moved = submissions.conclude_round(db, submissions.SYSTEM, submission.id)
        if moved.state is SubmissionState.REVISING:
            deadlines.pause_clock(db, submission.id, "revising")
            open_next_round(db, submission.id)
    return review


def open_next_round(db: Session, submission_id: int) -> Round:
    """The round the revised drawings go into (修改后图纸所属轮次); opened when the last one is closed.

    Uploads made while the designer revises are recorded in it (:func:`app.drawings.add_original` takes the
    latest round); the intake clerk's acceptance adds its track reviews (:func:`app.intake_desk.open_round`).
    """
    latest = db.scalar(select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc()).limit(1))
    if latest is not None and latest.closed_at is None:
        return latest
    opened = Round(submission_id=submission_id, number=1 if latest is None else latest.number + 1)
    db.add(opened)
    db.flush()
    return opened
