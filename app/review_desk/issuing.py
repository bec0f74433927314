"""Issuing a track's comments of a round to the designer (发出审查意见).

Until then the designer sees none of the track's comments or markups of that round; the rounds pages call
:func:`issue_comments` when the track lead issues the round's opinion.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, policy
from app.errors import NotFound
from app.identity.principal import Principal
from app.notifications import Message, NotificationKind, notify
from app.policy import Action
from storage.models import Comment, Role, RoleGrant, Round, Submission, TrackReview, User


def issue_comments(session: Session, actor: Principal, round_id: int, track: str) -> int:
    """Issue ``track``'s comments of the round to the designer (发出审查意见); returns how many were issued.

    Sets the track review's ``comments_issued_at`` and each comment's ``issued_at``, and tells the project's
    designers. Issuing again issues only comments written since, and tells nobody twice. Only the track lead
    issues (:data:`app.policy.Action.ISSUE_OPINION`).
    """
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise NotFound("没有该轮次", "no such round")
    submission = session.get_one(Submission, round_.submission_id)
    policy.require(actor, Action.ISSUE_OPINION, submission=submission, track=track)
    review = session.scalar(
        select(TrackReview).where(TrackReview.round_id == round_id, TrackReview.track_code == track)
    )
    if review is None:
        raise NotFound("该轮次没有此专项", "this track is not part of the round")
    now = dt.datetime.now(dt.UTC)
    first = review.comments_issued_at is None
    if first:
        review.comments_issued_at = now
    pending = session.scalars(
        select(Comment).where(Comment.round_id == round_id, Comment.track_code == track, Comment.issued_at.is_(None))
    ).all()
    for comment in pending:
        comment.issued_at = now
    session.flush()
    designers = session.scalars(
        select(User.id)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(User.organization_id == submission.project.organization_id, RoleGrant.role == Role.DESIGNER)
    ).all()
    number = submission.review_number or f"#{submission.id}"
    if first or pending:
        notify(
            session,
            designers,
            Message(
                kind=NotificationKind.COMMENTS_ISSUED,
                subject_zh=f"{number} 第 {round_.number} 轮审查意见已发出（{track}）",
                subject_en=f"{number}: review comments of round {round_.number} issued ({track})",
                body_zh=f"共 {len(pending)} 条意见，请逐条答复。",
                body_en=f"{len(pending)} comment(s); please answer each one.",
                link=f"/submissions/{submission.id}",
                submission_id=submission.id,
            ),
            dedupe_key=f"comments-issued:{round_id}:{track}" if first else None,
        )
    audit.record(
        session,
        actor_id=actor.user_id,
        actor_name=actor.username,
        action="comments.issued",
        object_type="track_review",
        object_id=review.id,
        summary=f"{number} round {round_.number} [{track}]: {len(pending)} comment(s) issued",
    )
    return len(pending)
