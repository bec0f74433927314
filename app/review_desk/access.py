"""Who reads and who writes the review work of a submission (审查数据的查看与编辑权限).

- reviewers and track leads write only in their own track(s), and read every track of the submissions routed
  to them: the departments share what they found;
- the project's designers read a track's comments and markups of a round once the track has issued its
  comments for that round (``track_reviews.comments_issued_at``); they answer and reply, never resolve;
- bureau officers and administrators read everything;
- anybody else is told the object does not exist.

Writing needs, besides the role, that the track's review of the round is under way (审查中); the designer's
answers and replies need the submission in the designer's hands (修改中).
The decisions about roles are :mod:`app.policy`'s; this module applies them to one submission and round.

Every decision reads the submission with its project, rounds and track reviews, loaded in one query
(:data:`_WITH_ROUTING`): they are a handful of rows, and every request of the review desk needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from app import policy
from app.errors import Conflict, Forbidden, NotFound
from app.identity.principal import Principal
from app.policy import Action
from review.comments import CommentRole
from storage.models import (
    Role,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
)


@dataclass(frozen=True)
class Standing:
    """What one principal may do with the review work of one submission."""

    principal: Principal
    submission: Submission
    reads_all: bool
    """Reviewer of a routed track, track lead, bureau officer or administrator: every track is read."""
    designer: bool
    """A designer of the project: reads issued tracks, answers and replies."""
    review_tracks: frozenset[str]
    """Tracks the principal writes in (reviewer or track lead of a routed track)."""
    lead_tracks: frozenset[str]
    """Tracks the principal leads."""

    @property
    def designer_holds(self) -> bool:
        """A designer of the project while the submission is with the designer for revision (修改中)."""
        return self.designer and self.submission.state is SubmissionState.REVISING

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    def comment_roles(self, track: str) -> frozenset[CommentRole]:
        """The principal's standing towards a comment of ``track`` (:mod:`review.comments`)."""
        roles: set[CommentRole] = set()
        if track in self.review_tracks and self.principal.has_role(Role.REVIEWER, track):
            roles.add(CommentRole.REVIEWER)
        if track in self.lead_tracks:
            roles.add(CommentRole.TRACK_LEAD)
        if self.designer_holds:
            roles.add(CommentRole.DESIGNER)
        return frozenset(roles)

    def require_designer_holds(self) -> None:
        """Raise :class:`Conflict` unless the submission is in the designer's hands (修改中) now."""
        if not self.designer_holds:
            raise Conflict(
                "报审当前不在设计单位修改阶段，不能答复或回复审查意见",
                "the submission is not with the designer for revision now; comments cannot be answered or replied to",
            )


def _not_found(what: str) -> NotFound:
    if what == "submission":
        return NotFound("没有该报审", "no such submission")
    return NotFound("没有该图纸", "no such sheet")


def standing(db: Session, who: Principal, submission: Submission | None, *, what: str = "submission") -> Standing:
    """The principal's standing on the submission; NotFound when they may not know it exists."""
    if submission is None or not policy.can(who, Action.VIEW_SUBMISSION, submission=submission):
        raise _not_found(what)
    routed = policy.routed_tracks(submission)
    review_tracks = frozenset(
        track for track in routed if policy.can(who, Action.REVIEW_TRACK, submission=submission, track=track)
    )
    lead_tracks = frozenset(track for track in review_tracks if who.has_role(Role.TRACK_LEAD, track))
    reads_all = bool(review_tracks) or who.is_admin or who.has_role(Role.BUREAU_OFFICER)
    designer = policy.can(who, Action.RESPOND, submission=submission)
    if not (reads_all or designer):
        raise _not_found(what)
    return Standing(who, submission, reads_all, designer, review_tracks, lead_tracks)


_WITH_ROUTING = (joinedload(Submission.project), joinedload(Submission.rounds).joinedload(Round.track_reviews))
"""Loader options of a submission for an access decision: one query, joined (rounds × track reviews rows)."""


def load_submission(db: Session, submission_id: int) -> Submission | None:
    """The submission with its project, rounds and track reviews, which every access decision reads."""
    return db.scalars(select(Submission).where(Submission.id == submission_id).options(*_WITH_ROUTING)).unique().first()


def submission_standing(db: Session, who: Principal, submission_id: int) -> Standing:
    """:func:`standing` for a submission id."""
    return standing(db, who, load_submission(db, submission_id))


def lookup(db: Session, query: Select[tuple[Any, Any]]) -> dict[Any, Any]:
    """The rows of a two-column query as a mapping of the first column to the second."""
    return dict(db.execute(query).tuples().all())


def issued_tracks(db: Session, round_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(round id, track) pairs whose comments were issued to the designer."""
    ids = sorted(set(round_ids))
    if not ids:
        return set()
    rows = db.execute(
        select(TrackReview.round_id, TrackReview.track_code).where(
            TrackReview.round_id.in_(ids), TrackReview.comments_issued_at.is_not(None)
        )
    )
    return {(round_id, track) for round_id, track in rows}


def loaded_issued_tracks(submission: Submission, round_ids: Iterable[int]) -> set[tuple[int, str]]:
    """:func:`issued_tracks` from the track reviews loaded with the submission (no query)."""
    wanted = set(round_ids)
    return {
        (round_.id, review.track_code)
        for round_ in submission.rounds
        if round_.id in wanted
        for review in round_.track_reviews
        if review.comments_issued_at is not None
    }


def reads_track(db: Session, standing: Standing, round_id: int, track: str) -> bool:
    """Whether the principal reads ``track``'s markups and comments of the round."""
    if standing.reads_all:
        return True
    return (round_id, track) in loaded_issued_tracks(standing.submission, [round_id])


@dataclass(frozen=True)
class RevisionView:
    """A sheet revision with its sheet, round and submission, as one principal sees it."""

    revision: SheetRevision
    sheet: Sheet
    round: Round
    standing: Standing
    readable: frozenset[str] | None
    """Tracks whose markups and comments are read; None for every track."""

    def reads(self, track: str) -> bool:
        return self.readable is None or track in self.readable


def revision_view(db: Session, who: Principal, revision_id: int) -> RevisionView:
    """The revision as ``who`` may read it; NotFound when they may not know it exists.

    One query reads the revision, its sheet and the submission with everything the decision needs.
    """
    found_row = (
        db.execute(
            select(SheetRevision, Sheet, Submission)
            .join(Sheet, Sheet.id == SheetRevision.sheet_id)
            .join(Submission, Submission.id == Sheet.submission_id)
            .where(SheetRevision.id == revision_id)
            .options(*_WITH_ROUTING)
        )
        .unique()
        .first()
    )
    if found_row is None:
        raise _not_found("sheet")
    revision, sheet, submission = found_row
    found = standing(db, who, submission, what="sheet")
    round_ = next((r for r in submission.rounds if r.id == revision.round_id), None) or db.get_one(
        Round, revision.round_id
    )
    readable = (
        None if found.reads_all else frozenset(track for _, track in loaded_issued_tracks(submission, [round_.id]))
    )
    return RevisionView(revision, sheet, round_, found, readable)


def track_review(round_: Round, track: str) -> TrackReview | None:
    """The round's review of ``track`` (the round's track reviews are loaded with the submission)."""
    return next((review for review in round_.track_reviews if review.track_code == track), None)


def writable(db: Session, standing: Standing, round_: Round, track: str) -> bool:
    """Whether the principal may draw and write comments in ``track`` on a revision of ``round_`` now."""
    if track not in standing.review_tracks or round_.closed_at is not None:
        return False
    review = track_review(round_, track)
    return review is not None and review.state is TrackReviewState.IN_REVIEW


def require_writable(db: Session, standing: Standing, round_: Round, track: str) -> None:
    """Raise unless the principal may write in ``track`` in ``round_``: Forbidden (not theirs) or Conflict (not now)."""
    if not isinstance(track, str) or not track:
        raise Forbidden("请选择您审查的专项", "choose a track you review")
    if track not in standing.review_tracks:
        raise Forbidden("您不是该专项的审查人员，只能查看", "you do not review this track; you may only read it")
    if not writable(db, standing, round_, track):
        raise Conflict(
            "本专项在该轮次不处于审查中，不能修改批注或意见",
            "this track's review of the round is not under way; markups and comments cannot be changed",
        )
