"""Use case: search within one submission's sheets (图纸检索) by number, title and drawing text.

The match is a case-insensitive substring match, so Chinese words are found inside longer text without
a word splitter: ``ILIKE`` on PostgreSQL, ``LIKE`` on SQLite (case-insensitive for ASCII there). The
query's own ``%``, ``_`` and ``\\`` are escaped so that they match themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app import policy
from app.errors import Invalid, NotFound
from app.identity.principal import Principal
from app.policy import Action
from storage.models import Sheet, SheetRevision, SheetText, Submission

MAX_QUERY_LENGTH = 100
SNIPPET_CONTEXT = 30
"""Characters kept on each side of the first match in a snippet."""


@dataclass(frozen=True)
class SearchHit:
    """One sheet that matches, with where the query was first found."""

    sheet_id: int
    number: str
    title: str
    revision_id: int
    snippet: str
    """A short piece of text around the first match (number, title or drawing text)."""


def escape_like(query: str) -> str:
    """The query as a LIKE pattern matching it literally anywhere (escape character ``\\``)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def snippet(text: str, query: str, context: int = SNIPPET_CONTEXT) -> str:
    """``text`` around the first case-insensitive occurrence of ``query``, marked with … where cut."""
    flat = " ".join(text.split())
    at = flat.casefold().find(query.casefold())
    if at < 0:
        return flat[: 2 * context]
    start, end = max(0, at - context), min(len(flat), at + len(query) + context)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _matches(session: Session, column: InstrumentedAttribute[str], pattern: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return column.ilike(pattern, escape="\\")
    return column.like(pattern, escape="\\")


def clean_query(query: str) -> str:
    """The query trimmed; Invalid unless it holds 1 to 100 characters."""
    cleaned = " ".join(query.split())
    if not 1 <= len(cleaned) <= MAX_QUERY_LENGTH:
        raise Invalid(
            f"检索词须为 1 到 {MAX_QUERY_LENGTH} 个字符",
            f"the search text must be 1 to {MAX_QUERY_LENGTH} characters long",
        )
    return cleaned


def search_sheets(
    session: Session, principal: Principal, submission_id: int, query: str, limit: int = 50
) -> list[SearchHit]:
    """Sheets of the submission whose number, title or drawing text contains ``query``, by sheet number.

    Anyone who may not view the submission gets NotFound, as if it did not exist.
    """
    submission = session.get(Submission, submission_id)
    if submission is None or not policy.can(principal, Action.VIEW_SUBMISSION, submission=submission):
        raise NotFound("没有该报审", "no such submission")
    text = clean_query(query)
    pattern = escape_like(text)
    latest = (
        select(SheetRevision.sheet_id, func.max(SheetRevision.id).label("revision_id"))
        .group_by(SheetRevision.sheet_id)
        .subquery()
    )
    by_name = session.execute(
        select(Sheet, latest.c.revision_id)
        .join(latest, latest.c.sheet_id == Sheet.id)
        .where(
            Sheet.submission_id == submission_id,
            or_(_matches(session, Sheet.number, pattern), _matches(session, Sheet.title, pattern)),
        )
    ).all()
    by_text = session.execute(
        select(Sheet, SheetText.sheet_revision_id, SheetText.text)
        .join(SheetRevision, SheetRevision.id == SheetText.sheet_revision_id)
        .join(Sheet, Sheet.id == SheetRevision.sheet_id)
        .where(SheetText.submission_id == submission_id, _matches(session, SheetText.text, pattern))
        .order_by(SheetText.sheet_revision_id.desc())
    ).all()
    hits: dict[int, SearchHit] = {}
    for sheet, revision_id in by_name:
        source = sheet.number if text.casefold() in sheet.number.casefold() else sheet.title
        hits[sheet.id] = SearchHit(sheet.id, sheet.number, sheet.title, revision_id, snippet(source, text))
    for sheet, revision_id, body in by_text:
        if sheet.id not in hits:
            hits[sheet.id] = SearchHit(sheet.id, sheet.number, sheet.title, revision_id, snippet(body, text))
    return sorted(hits.values(), key=lambda hit: hit.number)[:limit]
