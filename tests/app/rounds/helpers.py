"""Markups and comments written the way reviewers write them, through the review desk."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.identity.principal import Principal
from app.review_desk.comments import catalogue, create_comment
from app.review_desk.markups import create_markup
from storage.db import transaction


def clause_id(words: str = "疏散") -> str:
    return catalogue().search(words)[0].clause_id


def comment_with_box(
    sessions: sessionmaker[Session],
    who: Principal,
    revision_id: int,
    track: str,
    box: tuple[float, float, float, float],
    text: str,
    *,
    severity: str = "mandatory",
) -> tuple[int, int]:
    """A rectangle markup and a comment pointing at it; (comment id, markup id)."""
    x0, y0, x1, y1 = box
    with transaction(sessions) as db:
        markup = create_markup(
            db, who, revision_id, track, {"kind": "rectangle", "points": [[x0, y0], [x1, y1]], "colour": "#e60012"}
        )
        comment = create_comment(
            db,
            who,
            revision_id,
            track=track,
            severity=severity,
            text=text,
            clause_ids=[clause_id()],
            markup_ids=[markup.id],
        )
        return comment.id, markup.id


def plain_comment(sessions: sessionmaker[Session], who: Principal, revision_id: int, track: str, text: str) -> int:
    with transaction(sessions) as db:
        return create_comment(db, who, revision_id, track=track, severity="general", text=text).id
