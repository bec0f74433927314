"""Review comments (审查意见): write, list, act on, and issue to the designer.

A comment belongs to one track and round, usually to a sheet revision, cites clauses of the catalogue
(:mod:`review.clauses`) and may point at markups of the same revision and track. Its status moves only
through :mod:`review.comments` (answer, reply, resolve, reopen, withdraw), each step kept as an entry of its
thread. The designer reads a track's comments once the track has issued them for the round
(:func:`issue_comments`, which also tells the designers).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple, cast

from sqlalchemy import ColumnElement, CursorResult, and_, false, func, or_, select, true, update
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.bounded_cache import BoundedCache
from app.errors import Conflict, Forbidden, NotFound
from app.etags import none_match_names
from app.identity.principal import Principal
from app.review_desk.access import (
    RevisionView,
    Standing,
    load_submission,
    loaded_issued_tracks,
    lookup,
    require_writable,
    revision_view,
    standing,
    submission_standing,
    track_review,
)
from app.review_desk.errors import Rejected
from app.review_desk.issuing import issue_comments
from app.review_desk.markups import aware, check_version, encode, list_etag
from review import comments as domain
from review.clauses import Catalogue, Clause, load_catalogue
from review.errors import ReviewError
from storage.blobstore import BlobStore
from storage.models import (
    Comment,
    CommentEntry,
    CommentTemplate,
    Markup,
    Round,
    Sheet,
    User,
)

__all__ = [
    "Attachment",
    "CommentQuery",
    "act_on_comment",
    "attachment_of",
    "catalogue",
    "check_clauses",
    "check_severity",
    "comment_json",
    "create_comment",
    "get_comment",
    "issue_comments",
    "list_revision_comments",
    "list_submission_comments",
    "search_clauses",
    "write_comment",
    "write_submission_comment",
]

MAX_CLAUSES = 20
"""Most clauses one comment cites."""
MAX_MARKUPS = 50
"""Most markups one comment points at."""
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
"""Largest file attached to an answer."""

_CATALOGUE: Catalogue | None = None


def catalogue() -> Catalogue:
    """The clause catalogue, loaded once per process."""
    global _CATALOGUE  # noqa: PLW0603 - read-only data loaded once per process
    if _CATALOGUE is None:
        _CATALOGUE = load_catalogue()
    return _CATALOGUE


def clause_json(clause: Clause) -> dict[str, Any]:
    return {
        "id": clause.clause_id,
        "code": clause.standard.designation,
        "clause": clause.number,
        "title_zh": clause.topic_zh,
        "title_en": clause.topic_en,
        "mandatory": clause.mandatory,
    }


def search_clauses(query: str = "", *, track: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Clauses matching the words of ``query`` (topic, number, standard), at most ``limit``."""
    words = query.strip()[:200]
    found = catalogue().search(words, track=track or None)
    return [clause_json(clause) for clause in found[: max(1, min(limit, 100))]]


def check_clauses(clause_ids: Any) -> tuple[str, ...]:
    """The cited clause ids, each known to the catalogue; :class:`Rejected` otherwise."""
    if clause_ids is None:
        return ()
    if not isinstance(clause_ids, list) or not all(isinstance(c, str) for c in clause_ids):
        raise Rejected("条文编号必须是文字列表", "clause_ids must be a list of strings", "COMMENT_CLAUSES_INVALID")
    if len(clause_ids) > MAX_CLAUSES:
        raise Rejected(
            f"一条意见最多引用 {MAX_CLAUSES} 个条文",
            f"a comment cites at most {MAX_CLAUSES} clauses",
            "COMMENT_CLAUSES_INVALID",
        )
    unknown = [c for c in clause_ids if catalogue().get(c) is None]
    if unknown:
        shown = "、".join(c[:60] for c in unknown[:3])
        raise Rejected(
            f"条文目录中没有：{shown}",
            f"not in the clause catalogue: {', '.join(c[:60] for c in unknown[:3])}",
            "COMMENT_CLAUSE_UNKNOWN",
        )
    return tuple(dict.fromkeys(clause_ids))


def check_severity(severity: Any) -> domain.Severity:
    try:
        return domain.Severity(severity)
    except ValueError as exc:
        raise Rejected(
            "严重程度必须是 mandatory（强制性条文）、general（一般）或 suggestion（建议）",
            "severity must be mandatory, general or suggestion",
            "COMMENT_SEVERITY_INVALID",
        ) from exc


def _domain_error(exc: domain.CommentError) -> Exception:
    if isinstance(exc, domain.CommentRefused):
        if exc.code == "COMMENT_ROLE":
            return Forbidden(exc.zh, exc.en)
        return Conflict(exc.zh, exc.en)
    return Rejected(exc.zh, exc.en, exc.code)


# Reading -----------------------------------------------------------------------------------------------


class _Linked(NamedTuple):
    """What a comment's JSON and a list's ETag show of a live markup linked to it."""

    id: int
    region_changed: bool
    version: int

    @classmethod
    def of(cls, markup: Markup) -> _Linked:
        return cls(markup.id, markup.region_changed, markup.version)


@dataclass(frozen=True)
class _Names:
    users: dict[int, str]
    sheets: dict[int, str]
    rounds: dict[int, int]
    markups: dict[int, list[_Linked]]


def _names(db: Session, who: Standing, rows: Sequence[Comment], *, sheets: dict[int, str] | None = None) -> _Names:
    """Names the comments' JSON shows; the rounds come with the submission, ``sheets`` when the caller knows them."""
    user_ids = {r.author_id for r in rows} | {e.author_id for r in rows for e in r.entries}
    users = lookup(db, select(User.id, User.display_name).where(User.id.in_(user_ids))) if rows else {}
    sheet_ids = {r.sheet_id for r in rows if r.sheet_id is not None}
    if sheets is None or not sheet_ids <= sheets.keys():
        sheets = lookup(db, select(Sheet.id, Sheet.number).where(Sheet.id.in_(sheet_ids))) if sheet_ids else {}
    rounds = {round_.id: round_.number for round_ in who.submission.rounds}
    markups: dict[int, list[_Linked]] = {}
    if rows:
        # Plain columns: a markup's stored value is not needed here, and decoding it cost more than the rest.
        for comment_id, *linked in db.execute(
            select(Markup.comment_id, Markup.id, Markup.region_changed, Markup.version)
            .where(Markup.comment_id.in_([r.id for r in rows]), Markup.deleted_at.is_(None))
            .order_by(Markup.id)
        ):
            markups.setdefault(comment_id or 0, []).append(_Linked(*linked))
    return _Names(users, sheets, rounds, markups)


def to_domain(row: Comment) -> domain.Comment:
    """The comment as :mod:`review.comments` sees it."""
    replies = tuple(
        domain.Reply(
            author_id=str(entry.author_id),
            role=domain.CommentRole(entry.role),
            action=domain.CommentAction(entry.action),
            text=entry.text,
            at=aware(entry.at),
        )
        for entry in row.entries
    )
    return domain.Comment(
        comment_id=str(row.id),
        track=row.track_code,
        author_id=str(row.author_id),
        author_role=domain.CommentRole.REVIEWER,
        severity=domain.Severity(row.severity),
        text=row.text,
        clause_ids=tuple(row.clause_ids),
        created=aware(row.created_at),
        status=domain.CommentStatus(row.status),
        replies=replies,
    )


def _actor(who: Standing, track: str) -> domain.Actor:
    return domain.Actor(user_id=str(who.user_id), roles=who.comment_roles(track))


def _clauses(ids: Iterable[str]) -> list[dict[str, Any]]:
    found = []
    for clause_id in ids:
        clause = catalogue().get(clause_id)
        if clause is None:
            found.append({"id": clause_id, "code": "", "clause": "", "title_zh": clause_id})
        else:
            found.append(
                {
                    "id": clause_id,
                    "code": clause.standard.designation,
                    "clause": clause.number,
                    "title_zh": clause.topic_zh,
                }
            )
    return found


def _entry_json(entry: CommentEntry, names: _Names) -> dict[str, Any]:
    attachment = None
    if entry.attachment_key:
        attachment = {
            "name": entry.attachment_name or "attachment",
            "url": f"/api/v1/comment-entries/{entry.id}/attachment",
        }
    return {
        "id": entry.id,
        "author_name": names.users.get(entry.author_id, ""),
        "role": entry.role,
        "action": entry.action,
        "text": entry.text,
        "at": aware(entry.at).isoformat(),
        "attachment": attachment,
    }


def _json(row: Comment, who: Standing, names: _Names) -> dict[str, Any]:
    markups = names.markups.get(row.id, [])
    allowed = domain.allowed_actions(to_domain(row), _actor(who, row.track_code))
    return {
        "id": row.id,
        "version": row.version,
        "track": row.track_code,
        "sheet_id": row.sheet_id,
        "sheet_number": names.sheets.get(row.sheet_id) if row.sheet_id is not None else None,
        "sheet_revision_id": row.sheet_revision_id,
        "round_number": names.rounds.get(row.round_id),
        "author_id": row.author_id,
        "author_name": names.users.get(row.author_id, ""),
        "severity": row.severity,
        "text": row.text,
        "clauses": _clauses(row.clause_ids),
        "status": row.status,
        "issued_at": aware(row.issued_at).isoformat() if row.issued_at else None,
        "markup_ids": [m.id for m in markups],
        "entries": [_entry_json(entry, names) for entry in row.entries],
        "allowed_actions": sorted(action.value for action in allowed),
        "region_changed": any(m.region_changed for m in markups),
    }


def comments_json(
    db: Session, who: Standing, rows: Sequence[Comment], *, sheets: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    names = _names(db, who, rows, sheets=sheets)
    return [_json(row, who, names) for row in rows]


def _readable_condition(who: Standing, round_ids: Iterable[int]) -> ColumnElement[bool]:
    if who.reads_all:
        return true()
    pairs = loaded_issued_tracks(who.submission, round_ids)
    if not pairs:
        return false()
    return or_(*(and_(Comment.round_id == round_id, Comment.track_code == track) for round_id, track in pairs))


def list_revision_comments(db: Session, who: Principal, revision_id: int) -> list[dict[str, Any]]:
    """The comments on the revision in the tracks ``who`` reads, oldest first."""
    return list_revision_comments_tagged(db, who, revision_id)[1] or []


def _on_revision(view: RevisionView) -> list[ColumnElement[bool]]:
    return [
        Comment.sheet_id == view.sheet.id,
        Comment.sheet_revision_id == view.revision.id,
        _readable_condition(view.standing, [view.round.id]),
    ]


def _revision_rows(
    db: Session, who: Principal, revision_id: int, if_none_match: str
) -> tuple[RevisionView, str, Sequence[Comment] | None, _Names | None]:
    view = revision_view(db, who, revision_id)
    if if_none_match:
        listed = select(Comment.id).where(*_on_revision(view)).correlate(None).scalar_subquery()
        live = (Markup.comment_id.in_(listed), Markup.deleted_at.is_(None))
        count, top, versions, linked_count, linked_versions = db.execute(
            select(
                func.count(Comment.id),
                func.max(Comment.id),
                func.sum(Comment.version),
                select(func.count(Markup.id)).where(*live).correlate(None).scalar_subquery(),
                select(func.sum(Markup.version)).where(*live).correlate(None).scalar_subquery(),
            ).where(*_on_revision(view))
        ).one()
        tag = list_etag("c", view, count, top, versions, linked_count, linked_versions)
        if none_match_names(if_none_match, tag):
            return view, tag, None, None
    rows = db.scalars(
        select(Comment).where(*_on_revision(view)).options(selectinload(Comment.entries)).order_by(Comment.id)
    ).all()
    names = _names(db, view.standing, rows, sheets={view.sheet.id: view.sheet.number})
    linked_rows = [m for found in names.markups.values() for m in found]
    tag = list_etag(
        "c",
        view,
        len(rows),
        rows[-1].id if rows else None,
        sum(r.version for r in rows),
        len(linked_rows),
        sum(m.version for m in linked_rows),
    )
    return view, tag, rows, names


def list_revision_comments_tagged(
    db: Session, who: Principal, revision_id: int, *, if_none_match: str = ""
) -> tuple[str, list[dict[str, Any]] | None]:
    """The list's weak ETag and its comments; None instead of them when ``if_none_match`` names that ETag.

    The ETag counts the comments listed (count, highest id, sum of versions: a step on a comment moves its
    version) and the live markups linked to them, with the user's view of the revision; computed in SQL first
    when the client names an ETag, so that an unchanged list reads no rows.
    """
    view, tag, rows, names = _revision_rows(db, who, revision_id, if_none_match)
    if rows is None or names is None:
        return tag, None
    return tag, [_json(row, view.standing, names) for row in rows]


def list_revision_comments_body(
    db: Session, who: Principal, revision_id: int, *, if_none_match: str = ""
) -> tuple[str, bytes | None]:
    """:func:`list_revision_comments_tagged` as the JSON body the API sends, each comment encoded once per version."""
    view, tag, rows, names = _revision_rows(db, who, revision_id, if_none_match)
    if rows is None or names is None:
        return tag, None
    return tag, b'{"items":[' + b",".join(_encoded(row, view.standing, names) for row in rows) + b"]}"


ENCODED_CACHE_SIZE = 20_000
"""Comments kept encoded, per version and everything else their JSON shows to one reader."""
_ENCODED: BoundedCache[tuple[Any, ...], bytes] = BoundedCache(ENCODED_CACHE_SIZE)


def _encoded(row: Comment, who: Standing, names: _Names) -> bytes:
    linked = names.markups.get(row.id, [])
    key = (
        row.id,
        row.version,
        row.created_at,
        row.updated_at,
        row.issued_at,
        row.status,
        row.text,
        tuple(row.clause_ids),
        row.track_code,
        row.severity,
        row.sheet_id,
        row.sheet_revision_id,
        names.sheets.get(row.sheet_id) if row.sheet_id is not None else None,
        names.rounds.get(row.round_id),
        row.author_id,
        names.users.get(row.author_id, ""),
        tuple(
            (
                e.id,
                e.at,
                e.author_id,
                names.users.get(e.author_id, ""),
                e.role,
                e.action,
                e.text,
                e.attachment_key,
                e.attachment_name,
            )
            for e in row.entries
        ),
        tuple((m.id, m.region_changed) for m in linked),
        who.user_id,
        tuple(sorted(who.comment_roles(row.track_code))),
    )
    hit = _ENCODED.get(key)
    if hit is not None:
        return hit
    data = encode(_json(row, who, names))
    _ENCODED.put(key, data)
    return data


@dataclass(frozen=True)
class CommentQuery:
    """Narrowing of a submission's comment list."""

    round_number: int | None = None
    track: str | None = None
    status: str | None = None


def list_submission_comments(
    db: Session, who: Principal, submission_id: int, query: CommentQuery = CommentQuery()
) -> list[dict[str, Any]]:
    """The comments of the submission ``who`` reads: by round, track, sheet, then id."""
    found = submission_standing(db, who, submission_id)
    rounds = {round_.number: round_.id for round_ in found.submission.rounds}
    conditions: list[ColumnElement[bool]] = [
        Comment.submission_id == submission_id,
        _readable_condition(found, rounds.values()),
    ]
    if query.round_number is not None:
        conditions.append(Comment.round_id == rounds.get(query.round_number, -1))
    if query.track:
        conditions.append(Comment.track_code == query.track)
    if query.status == "open":
        conditions.append(Comment.status.in_(["open", "reopened"]))
    elif query.status:
        conditions.append(Comment.status == query.status)
    rows = db.scalars(
        select(Comment)
        .where(*conditions)
        .options(selectinload(Comment.entries))
        .order_by(Comment.round_id, Comment.track_code, Comment.sheet_id, Comment.id)
    ).all()
    return comments_json(db, found, rows)


def _readable_comment(db: Session, who: Principal, comment_id: int) -> tuple[Comment, Standing]:
    row = db.get(Comment, comment_id)
    if row is None:
        raise NotFound("没有该意见", "no such comment")
    try:
        found = standing(db, who, load_submission(db, row.submission_id))
    except NotFound as exc:
        raise NotFound("没有该意见", "no such comment") from exc
    if not found.reads_all and (row.round_id, row.track_code) not in loaded_issued_tracks(
        found.submission, [row.round_id]
    ):
        raise NotFound("没有该意见", "no such comment")
    return row, found


def get_comment(db: Session, who: Principal, comment_id: int) -> dict[str, Any]:
    """One comment ``who`` reads; NotFound otherwise."""
    row, found = _readable_comment(db, who, comment_id)
    return comments_json(db, found, [row])[0]


def comment_json(db: Session, who: Principal, row: Comment) -> dict[str, Any]:
    """The JSON of a comment just written by ``who``."""
    return get_comment(db, who, row.id)


# Writing -----------------------------------------------------------------------------------------------


def _markups_for(db: Session, view: RevisionView, track: str, markup_ids: Any) -> list[Markup]:
    if markup_ids is None:
        return []
    if not isinstance(markup_ids, list) or not all(isinstance(m, int) and not isinstance(m, bool) for m in markup_ids):
        raise Rejected("批注编号必须是整数列表", "markup_ids must be a list of integers", "COMMENT_MARKUPS_INVALID")
    if len(markup_ids) > MAX_MARKUPS:
        raise Rejected(
            f"一条意见最多关联 {MAX_MARKUPS} 个批注",
            f"a comment points at most at {MAX_MARKUPS} markups",
            "COMMENT_MARKUPS_INVALID",
        )
    ids = sorted(set(markup_ids))
    rows = list(db.scalars(select(Markup).where(Markup.id.in_(ids)))) if ids else []
    usable = [
        m
        for m in rows
        if m.sheet_revision_id == view.revision.id
        and m.track_code == track
        and m.deleted_at is None
        and m.comment_id is None
    ]
    if len(usable) != len(ids):
        raise Rejected(
            "所选批注须是本图纸、本专项且尚未关联其他意见的批注",
            "the markups must be live markups of this sheet revision and track, not yet part of another comment",
            "COMMENT_MARKUPS_INVALID",
        )
    return usable


@dataclass(frozen=True)
class Written:
    """A comment just written, with what its JSON needs: built after the commit, without reading anything again."""

    row: Comment
    standing: Standing
    author_name: str
    sheet_number: str | None
    markups: tuple[Markup, ...]

    def json(self) -> dict[str, Any]:
        users = {self.row.author_id: self.author_name}
        sheets = {self.row.sheet_id: self.sheet_number or ""} if self.row.sheet_id is not None else {}
        rounds = {round_.id: round_.number for round_ in self.standing.submission.rounds}
        names = _Names(users, sheets, rounds, {self.row.id: [_Linked.of(m) for m in self.markups]})
        return _json(self.row, self.standing, names)


def _new_comment(
    db: Session,
    who: Principal,
    found: Standing,
    round_: Round,
    *,
    track: str,
    severity: Any,
    text: Any,
    clause_ids: Any,
    template_id: Any,
) -> tuple[Comment, dt.datetime]:
    level = check_severity(severity)
    cited = check_clauses(clause_ids)
    now = dt.datetime.now(dt.UTC)
    try:
        value = domain.new_comment(
            comment_id="new",
            track=track,
            author=_actor(found, track),
            severity=level,
            text=text,
            clause_ids=cited,
            at=now,
        )
    except domain.CommentError as exc:
        raise _domain_error(exc) from exc
    if template_id is not None:
        _count_template_use(db, who, template_id)
    review = track_review(round_, track)
    row = Comment(
        submission_id=found.submission.id,
        round_id=round_.id,
        track_code=track,
        author_id=who.user_id,
        severity=value.severity.value,
        text=value.text,
        clause_ids=list(value.clause_ids),
        status=value.status.value,
        # A track that already issued this round shows later comments at once.
        issued_at=now if review is not None and review.comments_issued_at is not None else None,
        entries=[],
    )
    return row, now


def write_comment(
    db: Session,
    who: Principal,
    revision_id: int,
    *,
    track: Any,
    severity: Any,
    text: Any,
    clause_ids: Any = None,
    markup_ids: Any = None,
    template_id: Any = None,
) -> Written:
    """Write a new open comment of ``who`` in ``track`` on the revision (flushed; the caller commits).

    ``template_id`` names one of ``who``'s comment templates the text came from: its use is counted.
    """
    view = revision_view(db, who, revision_id)
    require_writable(db, view.standing, view.round, track)
    markups = _markups_for(db, view, track, markup_ids)
    row, _ = _new_comment(
        db,
        who,
        view.standing,
        view.round,
        track=track,
        severity=severity,
        text=text,
        clause_ids=clause_ids,
        template_id=template_id,
    )
    row.sheet_id = view.sheet.id
    row.sheet_revision_id = revision_id
    db.add(row)
    db.flush()
    for markup in markups:
        markup.comment_id = row.id
    if markups:
        db.flush()
    _record(db, who, "comment.created", row, f"{view.sheet.number} [{track}] {row.severity} #{row.id}")
    return Written(row, view.standing, who.display_name, view.sheet.number, tuple(markups))


def create_comment(db: Session, who: Principal, revision_id: int, **fields: Any) -> Comment:
    """:func:`write_comment` with the same ``fields``, giving the row."""
    return write_comment(db, who, revision_id, **fields).row


def write_submission_comment(
    db: Session,
    who: Principal,
    submission_id: int,
    *,
    track: Any,
    severity: Any,
    text: Any,
    clause_ids: Any = None,
    template_id: Any = None,
) -> Written:
    """Write a comment on the whole submission (总体意见, on no sheet) in ``track``, in its current round.

    The same rules as on a sheet: a track ``who`` reviews, whose review of the round is under way.
    """
    found = submission_standing(db, who, submission_id)
    if not found.submission.rounds:
        raise Conflict("该报审尚未开始审查", "the review of this submission has not started")
    round_ = max(found.submission.rounds, key=lambda r: r.number)
    require_writable(db, found, round_, track)
    row, _ = _new_comment(
        db,
        who,
        found,
        round_,
        track=track,
        severity=severity,
        text=text,
        clause_ids=clause_ids,
        template_id=template_id,
    )
    db.add(row)
    db.flush()
    _record(db, who, "comment.created", row, f"[{track}] {row.severity} #{row.id}")
    return Written(row, found, who.display_name, None, ())


def _count_template_use(db: Session, who: Principal, template_id: Any) -> None:
    """Count one use of ``who``'s template, in one statement (two comments from it at once both count)."""
    counted = 0
    if isinstance(template_id, int) and not isinstance(template_id, bool):
        result = db.execute(
            update(CommentTemplate)
            .where(CommentTemplate.id == template_id, CommentTemplate.user_id == who.user_id)
            .values(use_count=CommentTemplate.use_count + 1)
            .execution_options(synchronize_session="fetch")
        )
        counted = cast("CursorResult[Any]", result).rowcount
    if not counted:
        raise Rejected("没有该常用意见", "no such comment template", "COMMENT_TEMPLATE_UNKNOWN")


@dataclass(frozen=True)
class Attachment:
    """A file sent with an answer."""

    name: str
    content_type: str
    data: bytes


def _store_attachment(store: BlobStore, attachment: Attachment) -> tuple[str, str, str]:
    if len(attachment.data) > MAX_ATTACHMENT_BYTES:
        raise Rejected(
            f"附件过大（上限 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB）",
            f"the attachment is too large (at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB)",
            "COMMENT_ATTACHMENT_TOO_LARGE",
        )
    if not attachment.data:
        raise Rejected("附件为空", "the attachment is empty", "COMMENT_ATTACHMENT_EMPTY")
    name = "".join(ch for ch in attachment.name if ch.isprintable() and ch not in "/\\").strip()[:255] or "attachment"
    content_type = attachment.content_type if "/" in attachment.content_type else "application/octet-stream"
    info = store.put_original(
        io.BytesIO(attachment.data),
        content_type=content_type[:100],
        expected_sha256=hashlib.sha256(attachment.data).hexdigest(),
    )
    return info.key, name, info.sha256 or ""


def act_on_comment(
    db: Session,
    store: BlobStore | None,
    who: Principal,
    comment_id: int,
    *,
    expected_version: int,
    action: Any,
    text: Any = "",
    attachment: Attachment | None = None,
) -> Comment:
    """Take one step on a comment (answer, reply, resolve, reopen, withdraw) made on ``expected_version``."""
    row, found = _readable_comment(db, who, comment_id)
    try:
        step = domain.CommentAction(action)
    except ValueError as exc:
        actions = ", ".join(a.value for a in domain.CommentAction)
        raise Rejected(
            f"操作必须是 {actions} 之一", f"action must be one of {actions}", "COMMENT_ACTION_INVALID"
        ) from exc
    if attachment is not None and step is not domain.CommentAction.ANSWER:
        raise Rejected("只有答复可以附带文件", "only an answer may carry a file", "COMMENT_ATTACHMENT_NOT_ALLOWED")
    allowed_to = domain.ACTION_ROLES[step]
    if (
        found.designer
        and domain.CommentRole.DESIGNER in allowed_to
        and not found.comment_roles(row.track_code) & allowed_to
    ):
        # The designer answers and replies only while the submission is in their hands (修改中).
        found.require_designer_holds()
    check_version(row.version, expected_version)
    current = to_domain(row)
    # Entries are stamped by several processes whose clocks differ a little; a step never goes before the last.
    at = max(dt.datetime.now(dt.UTC), current.updated)
    try:
        after = domain.act(current, step, _actor(found, row.track_code), text=text if text is not None else "", at=at)
    except domain.CommentError as exc:
        raise _domain_error(exc) from exc
    except ReviewError as exc:  # pragma: no cover - every domain refusal is a CommentError
        raise Conflict(str(exc), str(exc)) from exc
    reply = after.replies[-1]
    entry = CommentEntry(
        comment_id=row.id, author_id=who.user_id, role=reply.role.value, action=step.value, text=reply.text, at=at
    )
    if attachment is not None:
        if store is None:
            raise RuntimeError("an attachment needs the object store")
        entry.attachment_key, entry.attachment_name, entry.attachment_sha256 = _store_attachment(store, attachment)
    row.entries.append(entry)
    row.status = after.status.value
    # A reply leaves the status as it was; touching the row still moves its version, so ETags and live views see it.
    row.updated_at = at
    db.flush()
    _record(db, who, f"comment.{step.value}", row, f"[{row.track_code}] #{row.id} → {row.status}")
    return row


def attachment_of(db: Session, store: BlobStore, who: Principal, entry_id: int) -> tuple[BinaryIO, str, str]:
    """The file of a thread entry ``who`` reads: (stream, file name, media type)."""
    entry = db.get(CommentEntry, entry_id)
    if entry is None or not entry.attachment_key:
        raise NotFound("没有该附件", "no such attachment")
    try:
        _readable_comment(db, who, entry.comment_id)
    except NotFound as exc:
        raise NotFound("没有该附件", "no such attachment") from exc
    info = store.stat(entry.attachment_key)
    return store.open(entry.attachment_key), entry.attachment_name or "attachment", info.content_type


def _record(db: Session, who: Principal, action: str, row: Comment, summary: str) -> None:
    audit.record(
        db,
        actor_id=who.user_id,
        actor_name=who.username,
        action=action,
        object_type="comment",
        object_id=row.id,
        summary=summary,
    )
