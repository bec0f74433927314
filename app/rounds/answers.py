"""The designer's answers and resubmission (答复与修改后重新提交).

While the designer holds the submission (修改中), they answer every open or reopened comment of the
concluded round (text and an optional file, through :func:`app.review_desk.comments.act_on_comment`) and
upload the revised sheets, only the changed ones if they wish, with the ordinary upload API: the files go
into the round opened when the previous one concluded, and through intake like any other file.

:func:`resubmit` hands the submission back: it is refused while a comment is unanswered (the message lists
them) or a file is still being split; then the new round's sheets are matched (:mod:`app.rounds.matching`),
sheets not resubmitted are carried forward, comparisons are queued, the review clock runs again and the
submission goes to the intake clerk (已提交). Once it is with the clerk or the reviewers, the designer can
neither answer nor upload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, deadlines, policy, submissions
from app.errors import Conflict, Invalid, NotFound
from app.identity.principal import Principal
from app.notifications import Message, NotificationKind, notify
from app.policy import Action
from app.review_desk.access import issued_tracks
from app.review_desk.comments import Attachment, CommentQuery, act_on_comment, list_submission_comments
from app.rounds.carry import carry_unplaced
from app.rounds.letters import LetterEntry, comment_numbers, letters_of
from app.rounds.matching import MatchOutcome, match_round, pending_files
from storage.blobstore import BlobStore
from storage.models import (
    Comment,
    DrawingFile,
    Project,
    Role,
    RoleGrant,
    Round,
    Sheet,
    Submission,
    SubmissionState,
    TrackReview,
    User,
)

TO_ANSWER = ("open", "reopened")


def _submission(db: Session, who: Principal, submission_id: int) -> Submission:
    submission = db.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.VIEW_SUBMISSION, submission=submission)
    return submission


def concluded_round(db: Session, submission_id: int) -> Round | None:
    """The last round that was concluded (its comments are the ones to answer)."""
    return db.scalar(
        select(Round)
        .where(Round.submission_id == submission_id, Round.closed_at.is_not(None))
        .order_by(Round.number.desc())
        .limit(1)
    )


def latest_round(db: Session, submission_id: int) -> Round | None:
    return db.scalar(select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc()).limit(1))


def unanswered(db: Session, round_id: int) -> list[tuple[Comment, str]]:
    """Issued comments of the round still waiting for the designer's answer, with their numbers."""
    issued = {track for _, track in issued_tracks(db, [round_id])}
    comments = list(db.scalars(select(Comment).where(Comment.round_id == round_id).order_by(Comment.id)))
    numbers = comment_numbers(comments)
    return [(c, numbers[c.id]) for c in comments if c.track_code in issued and c.status in TO_ANSWER]


def _holds(submission: Submission) -> None:
    if submission.state is not SubmissionState.REVISING:
        raise Conflict(
            "报审当前不在设计单位修改阶段，不能答复或重新提交",
            "the submission is not with the designer for revision now; it cannot be answered or resubmitted",
        )


@dataclass(frozen=True)
class AnswerDesk:
    """Everything the designer's answer page shows."""

    submission: Submission
    project: Project
    round: Round | None
    """The concluded round whose comments are answered."""
    next_round: Round | None
    """The round the revised sheets go into."""
    comments: list[dict[str, Any]]
    """The round's issued comments (review API JSON), numbered."""
    numbers: dict[int, str]
    unanswered: tuple[str, ...]
    letters: tuple[LetterEntry, ...]
    files: tuple[DrawingFile, ...]
    """Files uploaded into the new round."""
    holds: bool
    """Whether the designer holds the submission now (may answer and resubmit)."""
    designer: bool


def answer_desk(db: Session, who: Principal, submission_id: int) -> AnswerDesk:
    """The designer's view: comments to answer, letters, uploaded revisions."""
    submission = _submission(db, who, submission_id)
    designer = policy.can(who, Action.RESPOND, submission=submission)
    round_ = concluded_round(db, submission_id)
    latest = latest_round(db, submission_id)
    next_round = latest if latest is not None and latest.closed_at is None and round_ is not None else None
    comments: list[dict[str, Any]] = []
    numbers: dict[int, str] = {}
    waiting: tuple[str, ...] = ()
    if round_ is not None:
        comments = [
            c
            for c in list_submission_comments(db, who, submission_id, CommentQuery(round_number=round_.number))
            if c["status"] != "withdrawn"
        ]
        rows = list(db.scalars(select(Comment).where(Comment.round_id == round_.id)))
        numbers = comment_numbers(rows)
        waiting = tuple(number for _, number in unanswered(db, round_.id))
    files: tuple[DrawingFile, ...] = ()
    if next_round is not None:
        files = tuple(
            db.scalars(select(DrawingFile).where(DrawingFile.round_id == next_round.id).order_by(DrawingFile.id))
        )
    return AnswerDesk(
        submission=submission,
        project=submission.project,
        round=round_,
        next_round=next_round,
        comments=comments,
        numbers=numbers,
        unanswered=waiting,
        letters=tuple(letters_of(db, submission_id)),
        files=files,
        holds=submission.state is SubmissionState.REVISING and designer,
        designer=designer,
    )


def answer_comment(
    db: Session,
    store: BlobStore | None,
    who: Principal,
    comment_id: int,
    *,
    expected_version: int,
    text: str,
    attachment: Attachment | None = None,
) -> Comment:
    """设计答复: answer one comment while the designer holds the submission."""
    comment = db.get(Comment, comment_id)
    if comment is None:
        raise NotFound("没有该意见", "no such comment")
    submission = _submission(db, who, comment.submission_id)
    policy.require(who, Action.RESPOND, submission=submission)
    _holds(submission)
    return act_on_comment(
        db, store, who, comment_id, expected_version=expected_version, action="answer", text=text, attachment=attachment
    )


@dataclass(frozen=True)
class Resubmission:
    """What a resubmission did."""

    round: Round
    matches: MatchOutcome
    carried_comments: int


def _listed(numbers: Sequence[str]) -> str:
    return "、".join(numbers[:20]) + ("…" if len(numbers) > 20 else "")


def resubmit(
    db: Session, store: BlobStore, who: Principal, submission_id: int, *, expected_version: int | None = None
) -> Resubmission:
    """修改后重新提交: every comment answered, the new round's sheets matched, the submission back to intake."""
    submission = db.get(Submission, submission_id, with_for_update=True)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.SUBMIT, submission=submission)
    _holds(submission)
    previous = concluded_round(db, submission_id)
    current = latest_round(db, submission_id)
    if previous is None or current is None or current.closed_at is not None:
        raise Conflict("没有待提交的修改轮次", "there is no revision round to submit")
    waiting = [number for _, number in unanswered(db, previous.id)]
    if waiting:
        raise Invalid(
            f"以下审查意见尚未答复，请逐条答复后再提交：{_listed(waiting)}",
            f"these comments are not answered yet; answer each one before resubmitting: {_listed(waiting)}",
        )
    busy = pending_files(db, current.id)
    if busy:
        names = "、".join(f.original_name for f in busy[:5])
        raise Conflict(
            f"以下文件仍在处理中，请稍后再提交：{names}",
            f"these files are still being processed; resubmit once they are done: {names}",
        )
    outcome = match_round(db, store, previous, current)
    carried_comments = carry_unplaced(db, previous.id, current.id)
    submissions.submit(db, who, submission_id, expected_version=expected_version)
    deadlines.resume_clock(db, submission_id)
    uploaded = len(outcome.by_number) + len(outcome.by_content) + len(outcome.unmatched)
    to_confirm = len(outcome.by_content) + len(outcome.unmatched)
    audit.record(
        db,
        actor_id=who.user_id,
        actor_name=who.username,
        action="round.resubmitted",
        object_type="submission",
        object_id=submission_id,
        summary=(
            f"第 {current.number} 轮：上传 {uploaded} 张，沿用 {len(outcome.carried)} 张，待确认匹配 {to_confirm} 张 / "
            f"round {current.number}: {uploaded} uploaded, {len(outcome.carried)} carried forward, "
            f"{to_confirm} matches to confirm"
        ),
    )
    _tell_reviewers(db, submission, previous)
    return Resubmission(current, outcome, carried_comments)


def _tell_reviewers(db: Session, submission: Submission, previous: Round) -> None:
    tracks = set(db.scalars(select(TrackReview.track_code).where(TrackReview.round_id == previous.id)))
    people = db.scalars(
        select(User.id)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.role.in_((Role.REVIEWER, Role.TRACK_LEAD)), RoleGrant.track_code.in_(tracks))
    ).all()
    clerks = db.scalars(
        select(User.id).join(RoleGrant, RoleGrant.user_id == User.id).where(RoleGrant.role == Role.INTAKE_CLERK)
    ).all()
    label = submission.review_number or f"#{submission.id}"
    notify(
        db,
        [*people, *clerks],
        Message(
            kind=NotificationKind.ANSWERS_RECEIVED,
            subject_zh=f"{label} 设计单位已答复审查意见并重新提交",
            subject_en=f"{label}: the designer answered the comments and resubmitted",
            body_zh=f"{submission.project.name}：请受理窗口确认图纸匹配后受理。",
            body_en=f"{submission.project.name}: the intake desk confirms the sheet matches, then accepts.",
            link=f"/rounds/submissions/{submission.id}/matches",
            submission_id=submission.id,
        ),
    )


def sheet_of(db: Session, sheet_id: int | None) -> Sheet | None:
    return db.get(Sheet, sheet_id) if sheet_id is not None else None
