"""Changes of a sheet revision's markups and comments, read from the database (实时同步).

Live views of a revision poll :func:`changes` a few times a second. Everything needed to tell what changed
since the last poll is in the database (``updated_at`` and ``version`` of each row), so changes made by any
web process reach every viewer, on SQLite and on PostgreSQL alike, and no session stays open between polls.

Rows are re-read from a little before the newest ``updated_at`` seen (:data:`OVERLAP`): a transaction that
stamped its rows earlier may commit later than another one. The versions already reported keep a row from
being reported twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.identity.principal import Principal
from app.review_desk.access import issued_tracks, revision_view
from app.review_desk.markups import aware
from storage.models import Comment, Markup

OVERLAP = dt.timedelta(seconds=5)
"""How far before the newest change seen each poll looks again."""


@dataclass
class Cursor:
    """Where a live view of one revision stands; kept by the view between polls."""

    revision_id: int
    sheet_id: int
    round_id: int
    reads_all: bool
    since: dt.datetime
    """Newest ``updated_at`` seen."""
    markups: dict[int, int] = field(default_factory=dict)
    """Version of each markup reported (or present when the view opened)."""
    comments: dict[int, int] = field(default_factory=dict)
    """Version of each comment reported (or present when the view opened)."""


@dataclass(frozen=True)
class Change:
    """One event for the view: ``kind`` is ``markup`` or ``comment``."""

    kind: str
    id: int
    version: int
    change: str
    """created, updated or deleted."""

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "change": self.change}


_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def open_cursor(db: Session, who: Principal, revision_id: int) -> Cursor:
    """A cursor at the revision's present state; NotFound when ``who`` may not read the revision."""
    view = revision_view(db, who, revision_id)
    cursor = Cursor(revision_id, view.sheet.id, view.round.id, view.readable is None, _EPOCH)
    _scan(db, cursor, who_reads=None, report=False)
    return cursor


def changes(db: Session, cursor: Cursor) -> list[Change]:
    """What changed on the revision since the cursor (which moves on), in the tracks the viewer reads."""
    readable = None if cursor.reads_all else {track for _, track in issued_tracks(db, [cursor.round_id])}
    return _scan(db, cursor, who_reads=readable, report=True)


def _scan(db: Session, cursor: Cursor, *, who_reads: set[str] | None, report: bool) -> list[Change]:
    start = cursor.since - OVERLAP
    found: list[Change] = []
    newest = cursor.since
    markup_rows = db.execute(
        select(Markup.id, Markup.version, Markup.updated_at, Markup.deleted_at, Markup.track_code).where(
            Markup.sheet_revision_id == cursor.revision_id, Markup.updated_at >= start
        )
    ).all()
    for markup_id, version, updated_at, deleted_at, track in markup_rows:
        newest = max(newest, aware(updated_at))
        known = cursor.markups.get(markup_id)
        if known is not None and known >= version:
            continue
        cursor.markups[markup_id] = version
        if report and (who_reads is None or track in who_reads):
            change = (
                "deleted" if deleted_at is not None else ("created" if known is None and version == 1 else "updated")
            )
            found.append(Change("markup", markup_id, version, change))
    comment_rows = db.execute(
        select(Comment.id, Comment.version, Comment.updated_at, Comment.track_code).where(
            Comment.sheet_id == cursor.sheet_id,
            Comment.sheet_revision_id == cursor.revision_id,
            Comment.updated_at >= start,
        )
    ).all()
    for comment_id, version, updated_at, track in comment_rows:
        newest = max(newest, aware(updated_at))
        known = cursor.comments.get(comment_id)
        if known is not None and known >= version:
            continue
        cursor.comments[comment_id] = version
        if report and (who_reads is None or track in who_reads):
            found.append(
                Change("comment", comment_id, version, "created" if known is None and version == 1 else "updated")
            )
    cursor.since = newest
    return found
