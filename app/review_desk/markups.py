"""Markups drawn on a sheet revision (审查批注): list, create, change and delete, with optimistic concurrency.

A markup is stored as its value JSON (``kind``, ``points``, ``text``, ``box``, ``colour``, ``stroke_width``,
``opacity``, ``cloud_arc``) in sheet coordinates, validated by :func:`review.markups.validate_markup` against
the sheet, and shown as a W3C Web Annotation with a ``liantu`` object beside it. Only its author changes
or deletes it, in a track they review, while the track's review of the round is under way; each change
names the version it was made on and is refused when another change came first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app import audit
from app.bounded_cache import BoundedCache
from app.errors import Forbidden, NotFound
from app.etags import none_match_names
from app.identity.principal import Principal
from app.review_desk.access import RevisionView, lookup, require_writable, revision_view, writable
from app.review_desk.errors import PreconditionFailed, Rejected
from review.markups import InvalidMarkup, validate_markup
from review.markups.annotation import CONTEXT, MEDIA_FRAGMENTS, to_web_annotation
from review.markups.model import Markup as Shape
from review.markups.model import MarkupKind, Rect
from storage.models import Comment, Markup, SheetRevision, User

VALUE_KEYS = frozenset({"kind", "points", "text", "box", "colour", "stroke_width", "opacity", "cloud_arc"})
MAX_POINTS_SENT = 20_000
"""Most points read from a request at all; the geometry rules allow fewer, and say so with their own code."""


def _bad_value(zh: str, en: str) -> Rejected:
    return Rejected(f"批注数据无效：{zh}", f"the markup value is not valid: {en}", "MARKUP_VALUE_INVALID")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_value(f"{name} 必须是数字", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise Rejected("批注包含非有限数值", "the markup holds a non-finite number", "MARKUP_NUMBER_INVALID")
    return number


def parse_value(value: Any) -> Shape:
    """The domain markup of a markup value JSON sent by a client; :class:`Rejected` when it is malformed."""
    if not isinstance(value, Mapping):
        raise _bad_value("需要 JSON 对象", "a JSON object is needed")
    unknown = set(value) - VALUE_KEYS
    if unknown:
        raise _bad_value(f"未知字段 {sorted(unknown)}", f"unknown keys {sorted(unknown)}")
    try:
        kind = MarkupKind(str(value.get("kind")))
    except ValueError as exc:
        kinds = ", ".join(k.value for k in MarkupKind)
        raise _bad_value(f"kind 必须是 {kinds} 之一", f"kind must be one of {kinds}") from exc
    points = value.get("points")
    if not isinstance(points, list) or len(points) > MAX_POINTS_SENT:
        raise _bad_value("points 必须是坐标对列表", "points must be a list of [x, y] pairs")
    pairs: list[tuple[float, float]] = []
    for point in points:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise _bad_value("points 必须是坐标对列表", "points must be a list of [x, y] pairs")
        pairs.append((_number(point[0], "x"), _number(point[1], "y")))
    text = value.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise _bad_value("text 必须是文字", "text must be a string")
    box = value.get("box")
    rect = None
    if box is not None:
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise _bad_value("box 必须是 [x0, y0, x1, y1]", "box must be [x0, y0, x1, y1]")
        rect = Rect(*(_number(v, "box") for v in box))
    colour = value.get("colour", "#e60012")
    if not isinstance(colour, str):
        raise _bad_value("colour 必须是 #rrggbb", "colour must be #rrggbb")
    return Shape(
        kind,
        tuple(pairs),
        text=text,
        box=rect,
        colour=colour.lower(),
        stroke_width=_number(value.get("stroke_width", 1.5), "stroke_width"),
        opacity=_number(value.get("opacity", 1.0), "opacity"),
        cloud_arc=_number(value.get("cloud_arc") or 0.0, "cloud_arc"),
    )


def value_of(shape: Shape) -> dict[str, Any]:
    """The markup value JSON of a validated markup, as stored and sent."""
    box = shape.box.normalised() if shape.box is not None else None
    return {
        "kind": shape.kind.value,
        "points": [[x, y] for x, y in shape.points],
        "text": shape.text,
        "box": [box.x0, box.y0, box.x1, box.y1] if box is not None else None,
        "colour": shape.colour,
        "stroke_width": shape.stroke_width,
        "opacity": shape.opacity,
        "cloud_arc": shape.cloud_arc,
    }


@dataclass(frozen=True, eq=False)
class ListedMarkup:
    """A live markup as a list reads it: plain columns, and its value as the stored JSON text.

    Loading ORM objects, and decoding every value, cost more than the rest of a list; the value is decoded
    only when the markup's annotation is built, which is once per version (:data:`_ENCODED`).
    """

    id: int
    version: int
    kind: str
    created_at: dt.datetime
    updated_at: dt.datetime
    sheet_revision_id: int
    track_code: str
    author_id: int
    comment_id: int | None
    region_changed: bool
    carried_from_id: int | None
    deleted_at: dt.datetime | None
    shape_text: str

    @cached_property
    def shape(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.shape_text)
        return value


_LISTED_COLUMNS = (
    *(getattr(Markup, field.name) for field in fields(ListedMarkup) if field.name != "shape_text"),
    cast(Markup.shape, Text),
)
"""The columns of :class:`ListedMarkup`, in its order."""

StoredMarkup = Markup | ListedMarkup


def stored_shape(row: StoredMarkup) -> Shape:
    """The domain markup of a stored row."""
    value = row.shape
    box = value.get("box")
    return Shape(
        MarkupKind(value.get("kind", row.kind)),
        tuple((float(x), float(y)) for x, y in value.get("points", [])),
        text=str(value.get("text") or ""),
        box=Rect(*(float(v) for v in box)) if box else None,
        colour=str(value.get("colour") or "#e60012"),
        stroke_width=float(value.get("stroke_width", 1.5)),
        opacity=float(value.get("opacity", 1.0)),
        cloud_arc=float(value.get("cloud_arc") or 0.0),
    )


def validated(value: Any, revision: SheetRevision) -> Shape:
    """The markup value checked against the sheet; :class:`Rejected` with the geometry rule's code."""
    return validated_shape(parse_value(value), revision)


def validated_shape(shape: Shape, revision: SheetRevision) -> Shape:
    """A parsed markup checked against the sheet; :class:`Rejected` with the geometry rule's code."""
    try:
        return validate_markup(shape, revision.width_pt, revision.height_pt)
    except InvalidMarkup as exc:
        raise Rejected(exc.zh, exc.en, exc.code) from exc


def aware(moment: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite hands them back without a zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class _Drawn:
    """What a markup's annotation takes from its shape alone: built once per markup version, then reused."""

    shape: dict[str, Any]
    """The stored value it was built from: a row whose value differs (another database, say) is built again."""
    motivation: str
    svg: str
    fragment: str
    value: dict[str, Any]
    """The markup value JSON as sent; shared between answers, so never changed in place."""


DRAWN_CACHE_SIZE = 20_000
"""Markup versions whose SVG selector is kept in memory (a few hundred bytes to a few kilobytes each)."""
_DRAWN: BoundedCache[tuple[int, int], _Drawn] = BoundedCache(DRAWN_CACHE_SIZE)


def _drawn(row: StoredMarkup) -> _Drawn:
    """The shape-derived part of the row's annotation, from the cache when this version was drawn before."""
    key = (row.id, row.version)
    found = _DRAWN.get(key)
    if found is not None and found.shape == row.shape:
        return found
    shape = stored_shape(row)
    # The creation time only fills fields this cache does not keep.
    document = to_web_annotation(shape, annotation_id="", sheet_revision_iri="", creator="", created=_EPOCH)
    svg, fragment = document["target"]["selector"]
    drawn = _Drawn(row.shape, document["motivation"], svg["value"], fragment["value"], value_of(shape))
    _DRAWN.put(key, drawn)
    return drawn


_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def annotation(row: StoredMarkup, *, author_name: str, comment_text: str, editable: bool, base: str) -> dict[str, Any]:
    """The Web Annotation of a stored markup, with the ``liantu`` object the viewer works with.

    The same document as :func:`review.markups.annotation.to_web_annotation` makes; its SVG selector is drawn
    once per markup version (:func:`_drawn`).
    """
    drawn = _drawn(row)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{base}/api/v1/markups/{row.id}",
        "type": "Annotation",
        "motivation": drawn.motivation,
        "creator": {"type": "Person", "name": author_name},
        "created": aware(row.created_at).isoformat(timespec="seconds"),
        "modified": aware(row.updated_at).isoformat(timespec="seconds"),
        "target": {
            "source": f"{base}/api/v1/sheet-revisions/{row.sheet_revision_id}",
            "selector": [
                {"type": "SvgSelector", "value": drawn.svg},
                {"type": "FragmentSelector", "conformsTo": MEDIA_FRAGMENTS, "value": drawn.fragment},
            ],
        },
    }
    if comment_text:
        document["body"] = {
            "type": "TextualBody",
            "value": comment_text,
            "format": "text/plain",
            "language": "zh-CN",
            "purpose": "commenting",
        }
    document["liantu"] = {
        "id": row.id,
        "version": row.version,
        "track": row.track_code,
        "author_id": row.author_id,
        "author_name": author_name,
        "comment_id": row.comment_id,
        "editable": editable,
        "region_changed": row.region_changed,
        "carried_from_id": row.carried_from_id,
        "markup": drawn.value,
    }
    return document


def _editable(db: Session, view: RevisionView, row: StoredMarkup, cache: dict[str, bool]) -> bool:
    if row.author_id != view.standing.user_id or row.deleted_at is not None:
        return False
    if row.track_code not in cache:
        cache[row.track_code] = writable(db, view.standing, view.round, row.track_code)
    return cache[row.track_code]


def _annotations(db: Session, view: RevisionView, rows: Sequence[StoredMarkup], base: str) -> list[dict[str, Any]]:
    authors = lookup(db, select(User.id, User.display_name).where(User.id.in_({r.author_id for r in rows})))
    comment_ids = {r.comment_id for r in rows if r.comment_id is not None}
    texts = lookup(db, select(Comment.id, Comment.text).where(Comment.id.in_(comment_ids))) if comment_ids else {}
    cache: dict[str, bool] = {}
    return [
        annotation(
            row,
            author_name=authors.get(row.author_id, ""),
            comment_text=texts.get(row.comment_id, "") if row.comment_id is not None else "",
            editable=_editable(db, view, row, cache),
            base=base,
        )
        for row in rows
    ]


def _listed(view: RevisionView) -> list[ColumnElement[bool]]:
    conditions = [Markup.sheet_revision_id == view.revision.id, Markup.deleted_at.is_(None)]
    if view.readable is not None:
        conditions.append(Markup.track_code.in_(sorted(view.readable)))
    return conditions


def list_markups(db: Session, who: Principal, revision_id: int, *, base: str = "") -> list[dict[str, Any]]:
    """The live markups of the revision in the tracks ``who`` reads, oldest first, as Web Annotations."""
    return list_markups_tagged(db, who, revision_id, base=base)[1] or []


def list_markups_tagged(
    db: Session, who: Principal, revision_id: int, *, if_none_match: str = "", base: str = ""
) -> tuple[str, list[dict[str, Any]] | None]:
    """The list's weak ETag and its annotations; None instead of them when ``if_none_match`` names that ETag.

    The ETag is computed in SQL (count, highest id, sum of versions of the rows listed: every change moves a
    version) with what the user's view of the revision depends on, so an unchanged list costs no rows.
    """
    view, tag, rows = _listed_rows(db, who, revision_id, if_none_match)
    return tag, None if rows is None else _annotations(db, view, rows, base)


def list_markups_body(
    db: Session, who: Principal, revision_id: int, *, if_none_match: str = "", base: str = ""
) -> tuple[str, bytes | None]:
    """:func:`list_markups_tagged` as the JSON body ``{"items": [...]}`` the API sends, from each markup's cached JSON.

    The bytes are those of Starlette's ``JSONResponse`` for the same document.
    """
    view, tag, rows = _listed_rows(db, who, revision_id, if_none_match)
    if rows is None:
        return tag, None
    return tag, b'{"items":[' + b",".join(_encoded(db, view, rows, base)) + b"]}"


def _listed_rows(
    db: Session, who: Principal, revision_id: int, if_none_match: str
) -> tuple[RevisionView, str, list[ListedMarkup] | None]:
    view = revision_view(db, who, revision_id)
    if if_none_match:
        count, top, versions = db.execute(
            select(func.count(Markup.id), func.max(Markup.id), func.sum(Markup.version)).where(*_listed(view))
        ).one()
        tag = list_etag("m", view, count, top, versions)
        if none_match_names(if_none_match, tag):
            return view, tag, None
    rows = [
        ListedMarkup(*row) for row in db.execute(select(*_LISTED_COLUMNS).where(*_listed(view)).order_by(Markup.id))
    ]
    tag = list_etag("m", view, len(rows), rows[-1].id if rows else None, sum(r.version for r in rows) if rows else None)
    return view, tag, rows


ENCODED_CACHE_SIZE = 20_000
"""Annotations kept encoded (a few hundred bytes to a few kilobytes each), per markup version and reader's view."""
_ENCODED: BoundedCache[tuple[Any, ...], bytes] = BoundedCache(ENCODED_CACHE_SIZE)


def encode(document: Any) -> bytes:
    """JSON bytes as Starlette's ``JSONResponse`` writes them."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def _encoded(db: Session, view: RevisionView, rows: list[ListedMarkup], base: str) -> list[bytes]:
    """Each row's annotation as JSON bytes, encoded once per everything it is built from.

    The key holds the value's stored text: the same id and version in another database (tests open many) may
    hold another value.
    """
    authors = lookup(db, select(User.id, User.display_name).where(User.id.in_({r.author_id for r in rows})))
    comment_ids = {r.comment_id for r in rows if r.comment_id is not None}
    texts = lookup(db, select(Comment.id, Comment.text).where(Comment.id.in_(comment_ids))) if comment_ids else {}
    cache: dict[str, bool] = {}
    found: list[bytes] = []
    for row in rows:
        author_name = authors.get(row.author_id, "")
        comment_text = texts.get(row.comment_id, "") if row.comment_id is not None else ""
        editable = _editable(db, view, row, cache)
        key = (
            row.id,
            row.version,
            row.created_at,
            row.updated_at,
            row.sheet_revision_id,
            row.track_code,
            row.author_id,
            row.comment_id,
            row.region_changed,
            row.carried_from_id,
            author_name,
            comment_text,
            editable,
            base,
            row.shape_text,
        )
        data = _ENCODED.get(key)
        if data is None:
            document = annotation(row, author_name=author_name, comment_text=comment_text, editable=editable, base=base)
            data = encode(document)
            _ENCODED.put(key, data)
        found.append(data)
    return found


def view_token(view: RevisionView) -> str:
    """What a list of the revision shows besides its rows: who asks, with which roles, in which state of the round."""
    standing = view.standing
    round_ = view.round
    state = (
        standing.user_id,
        sorted((str(role), track or "") for role, track in standing.principal.roles),
        standing.reads_all,
        standing.designer,
        sorted(standing.review_tracks),
        sorted(standing.lead_tracks),
        standing.submission.state.value,
        round_.id,
        str(round_.closed_at),
        sorted((r.track_code, r.state.value, str(r.comments_issued_at)) for r in round_.track_reviews),
        sorted(view.readable) if view.readable is not None else None,
    )
    return hashlib.blake2b(repr(state).encode(), digest_size=8).hexdigest()


def list_etag(kind: str, view: RevisionView, count: int, top: int | None, versions: int | None, *more: Any) -> str:
    """A weak ETag of a list of the revision: its rows' count, highest id and sum of versions, and the view."""
    figures = "-".join(str(int(v or 0)) for v in (count, top, versions, *more))
    return f'W/"{kind}{view.revision.id}-{figures}-{view_token(view)}"'


def get_markup(db: Session, who: Principal, markup_id: int, *, base: str = "") -> dict[str, Any]:
    """One live markup as a Web Annotation; NotFound when it is deleted or not readable."""
    row, view = _readable(db, who, markup_id)
    return _annotations(db, view, [row], base)[0]


def _readable(db: Session, who: Principal, markup_id: int) -> tuple[Markup, RevisionView]:
    row = db.get(Markup, markup_id)
    if row is None or row.deleted_at is not None:
        raise NotFound("没有该批注", "no such markup")
    try:
        view = revision_view(db, who, row.sheet_revision_id)
    except NotFound as exc:
        raise NotFound("没有该批注", "no such markup") from exc
    if not view.reads(row.track_code):
        raise NotFound("没有该批注", "no such markup")
    return row, view


def _summary(view: RevisionView, row: Markup) -> str:
    return f"{view.sheet.number} [{row.track_code}] {row.kind} #{row.id} v{row.version}"


def create_markup(db: Session, who: Principal, revision_id: int, track: Any, value: Any) -> Markup:
    """Store a new markup of ``who`` in ``track`` on the revision (flushed; the caller commits).

    ``value`` is the value JSON or the :class:`Shape` :func:`parse_value` made of it before the write began.
    """
    shape = value if isinstance(value, Shape) else parse_value(value)
    view = revision_view(db, who, revision_id)
    require_writable(db, view.standing, view.round, track)
    shape = validated_shape(shape, view.revision)
    row = Markup(
        sheet_revision_id=revision_id,
        track_code=track,
        author_id=who.user_id,
        kind=shape.kind.value,
        shape=value_of(shape),
    )
    db.add(row)
    db.flush()
    _record(db, who, "markup.created", row, _summary(view, row))
    return row


def created_annotation(row: Markup, who: Principal, *, base: str = "") -> dict[str, Any]:
    """The annotation of a markup ``who`` has just created, from the row in hand: nothing is read again.

    It is theirs, in a track they write in, and no comment points at it yet.
    """
    return annotation(row, author_name=who.display_name, comment_text="", editable=True, base=base)


def check_version(current: int, expected: int) -> None:
    """Raise :class:`PreconditionFailed` unless the client changes the version that is stored."""
    if current != expected:
        raise PreconditionFailed(current)


def _own(db: Session, who: Principal, markup_id: int, expected_version: int) -> tuple[Markup, RevisionView]:
    row, view = _readable(db, who, markup_id)
    if row.author_id != who.user_id:
        raise Forbidden("只有批注的绘制人可以修改或删除它", "only the markup's author may change or delete it")
    require_writable(db, view.standing, view.round, row.track_code)
    check_version(row.version, expected_version)
    return row, view


def update_markup(db: Session, who: Principal, markup_id: int, expected_version: int, value: Any) -> Markup:
    """Replace the markup's shape; the stored version must be ``expected_version`` (flushed)."""
    row, view = _own(db, who, markup_id, expected_version)
    shape = validated(value, view.revision)
    row.kind = shape.kind.value
    row.shape = value_of(shape)
    db.flush()
    _record(db, who, "markup.updated", row, _summary(view, row))
    return row


def delete_markup(db: Session, who: Principal, markup_id: int, expected_version: int) -> Markup:
    """Mark the markup deleted (it stays stored); the stored version must be ``expected_version`` (flushed)."""
    row, view = _own(db, who, markup_id, expected_version)
    row.deleted_at = dt.datetime.now(dt.UTC)
    db.flush()
    _record(db, who, "markup.deleted", row, _summary(view, row))
    return row


def _record(db: Session, who: Principal, action: str, row: Markup, summary: str) -> None:
    audit.record(
        db,
        actor_id=who.user_id,
        actor_name=who.username,
        action=action,
        object_type="markup",
        object_id=row.id,
        summary=summary,
    )
