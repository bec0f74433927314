"""Carry-over (意见与批注延续): open comments of round N and their markups follow the sheet into round N+1.

A comment that is open, answered or reopened when round N ends becomes a comment of round N+1 with
``carried_from_id`` naming it, the same track, author, severity, text, clauses and status, and its thread
(answers, replies, attachments) copied, so that the reviewer resolves or reopens it in the new round. Its
markups are copied onto the sheet's new revision with ``carried_from_id``; a copy is flagged
``region_changed`` (区域已修改) when it meets one of the sheet's change regions
(:func:`review.markups.geometry.intersects_changes`). Round N keeps its comments as issued.

Running it again changes nothing but the flags: copies are found by ``carried_from_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.review_desk.markups import stored_shape
from review.markups.geometry import intersects_changes
from review.markups.model import Rect
from storage.models import Comment, CommentEntry, Markup, SheetRevision

CARRIED_STATUSES = ("open", "answered", "reopened")


def rectangles(regions: Iterable[dict[str, object]]) -> list[Rect]:
    """The stored change regions as rectangles."""
    found = []
    for region in regions:
        x0, y0, x1, y1 = (float(region[k]) for k in ("x0", "y0", "x1", "y1"))  # type: ignore[arg-type]
        found.append(Rect(x0, y0, x1, y1))
    return found


def _copy_comment(db: Session, old: Comment, round_id: int, revision: SheetRevision | None) -> Comment:
    existing = db.scalar(select(Comment).where(Comment.carried_from_id == old.id, Comment.round_id == round_id))
    if existing is not None:
        return existing
    new = Comment(
        submission_id=old.submission_id,
        round_id=round_id,
        track_code=old.track_code,
        sheet_id=revision.sheet_id if revision is not None else old.sheet_id,
        sheet_revision_id=revision.id if revision is not None else None,
        author_id=old.author_id,
        severity=old.severity,
        text=old.text,
        clause_ids=list(old.clause_ids),
        status=old.status,
        issued_at=None,
        carried_from_id=old.id,
        created_at=old.created_at,
    )
    db.add(new)
    db.flush()
    for entry in old.entries:
        db.add(
            CommentEntry(
                comment_id=new.id,
                author_id=entry.author_id,
                role=entry.role,
                action=entry.action,
                text=entry.text,
                attachment_key=entry.attachment_key,
                attachment_name=entry.attachment_name,
                attachment_sha256=entry.attachment_sha256,
                at=entry.at,
            )
        )
    return new


def _open_comments(db: Session, revision_id: int) -> Sequence[Comment]:
    return db.scalars(
        select(Comment)
        .where(Comment.sheet_revision_id == revision_id, Comment.status.in_(CARRIED_STATUSES))
        .options(selectinload(Comment.entries))
        .order_by(Comment.id)
    ).all()


def carry_sheet(db: Session, previous: SheetRevision, revision: SheetRevision, changes: Sequence[Rect]) -> int:
    """Carry the open comments of ``previous`` and their markups onto ``revision``; returns the markups carried."""
    carried = 0
    for old in _open_comments(db, previous.id):
        new = _copy_comment(db, old, revision.round_id, revision)
        markups = db.scalars(
            select(Markup).where(Markup.comment_id == old.id, Markup.deleted_at.is_(None)).order_by(Markup.id)
        ).all()
        for markup in markups:
            changed = intersects_changes(stored_shape(markup), changes)
            copy = db.scalar(
                select(Markup).where(Markup.carried_from_id == markup.id, Markup.sheet_revision_id == revision.id)
            )
            if copy is None:
                copy = Markup(
                    sheet_revision_id=revision.id,
                    track_code=markup.track_code,
                    author_id=markup.author_id,
                    comment_id=new.id,
                    kind=markup.kind,
                    shape=dict(markup.shape),
                    carried_from_id=markup.id,
                    created_at=markup.created_at,
                )
                db.add(copy)
            copy.region_changed = changed
            carried += 1
    db.flush()
    return carried


def carry_unplaced(db: Session, previous_round_id: int, round_id: int) -> int:
    """Carry the open comments of the previous round that are about no sheet revision (general comments)."""
    rows = db.scalars(
        select(Comment)
        .where(
            Comment.round_id == previous_round_id,
            Comment.sheet_revision_id.is_(None),
            Comment.status.in_(CARRIED_STATUSES),
        )
        .options(selectinload(Comment.entries))
    ).all()
    for old in rows:
        _copy_comment(db, old, round_id, None)
    db.flush()
    return len(rows)


def drop_carried(db: Session, revision_id: int) -> None:
    """Remove what was carried onto ``revision_id`` (the clerk changed its match); nothing written since is lost.

    Only copies nobody has acted on in the new round are removed: a carried comment with an entry of the new
    round, or a markup changed since it was copied, stays.
    """
    comments = db.scalars(
        select(Comment)
        .where(Comment.sheet_revision_id == revision_id, Comment.carried_from_id.is_not(None))
        .options(selectinload(Comment.entries))
    ).all()
    for comment in comments:
        original = db.get_one(Comment, comment.carried_from_id)
        markups = db.scalars(select(Markup).where(Markup.comment_id == comment.id)).all()
        touched = any(m.version != 1 or m.carried_from_id is None for m in markups)
        if touched or len(comment.entries) > len(original.entries) or comment.version != 1:
            continue
        for markup in markups:
            db.delete(markup)
        db.flush()
        db.delete(comment)
    db.flush()
