"""Each reviewer's library of frequent comments (常用意见库).

A template keeps a text, a severity and the clauses it cites, for one track the reviewer works in. Writing a
comment from a template counts its use (``use_count``), so the most used come first. Nobody sees another
person's templates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.errors import Forbidden, NotFound
from app.identity.principal import Principal
from app.review_desk.comments import check_clauses, check_severity
from app.review_desk.errors import Rejected
from review import comments as domain
from storage.models import CommentTemplate, Role

MAX_TEMPLATES = 500
"""Most templates one person keeps."""


def _tracks_of(who: Principal) -> frozenset[str]:
    return who.tracks_for(Role.REVIEWER) | who.tracks_for(Role.TRACK_LEAD)


def template_json(row: CommentTemplate) -> dict[str, Any]:
    return {
        "id": row.id,
        "track": row.track_code,
        "severity": row.severity,
        "text": row.text,
        "clause_ids": list(row.clause_ids),
        "use_count": row.use_count,
    }


def list_templates(db: Session, who: Principal, track: str | None = None) -> list[dict[str, Any]]:
    """The principal's templates (of ``track``, when given), most used first."""
    query = select(CommentTemplate).where(CommentTemplate.user_id == who.user_id)
    if track:
        query = query.where(CommentTemplate.track_code == track)
    rows = db.scalars(query.order_by(CommentTemplate.use_count.desc(), CommentTemplate.id)).all()
    return [template_json(row) for row in rows]


def create_template(
    db: Session, who: Principal, *, track: Any, severity: Any, text: Any, clause_ids: Any = None
) -> CommentTemplate:
    """Keep a new template of ``who`` for a track they review (flushed; the caller commits)."""
    if not isinstance(track, str) or track not in _tracks_of(who):
        raise Forbidden("只能为您审查的专项保存常用意见", "templates are kept for the tracks you review only")
    level = check_severity(severity)
    cited = check_clauses(clause_ids)
    try:
        body = domain.check_text(text)
    except domain.CommentError as exc:
        raise Rejected(exc.zh, exc.en, exc.code) from exc
    count = len(db.scalars(select(CommentTemplate.id).where(CommentTemplate.user_id == who.user_id)).all())
    if count >= MAX_TEMPLATES:
        raise Rejected(
            f"常用意见最多保存 {MAX_TEMPLATES} 条，请先删除不用的",
            f"at most {MAX_TEMPLATES} templates are kept; delete unused ones first",
            "TEMPLATE_LIMIT",
        )
    row = CommentTemplate(
        user_id=who.user_id, track_code=track, severity=level.value, text=body, clause_ids=list(cited)
    )
    db.add(row)
    db.flush()
    _record(db, who, "comment_template.created", row)
    return row


def delete_template(db: Session, who: Principal, template_id: int) -> None:
    """Delete one of the principal's templates; another person's is not found."""
    row = db.get(CommentTemplate, template_id)
    if row is None or row.user_id != who.user_id:
        raise NotFound("没有该常用意见", "no such comment template")
    _record(db, who, "comment_template.deleted", row)
    db.delete(row)
    db.flush()


def _record(db: Session, who: Principal, action: str, row: CommentTemplate) -> None:
    audit.record(
        db,
        actor_id=who.user_id,
        actor_name=who.username,
        action=action,
        object_type="comment_template",
        object_id=row.id,
        summary=f"[{row.track_code}] {row.severity}",
    )
