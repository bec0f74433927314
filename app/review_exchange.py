"""Use cases: review work exchanged with desktop PDF tools and spreadsheets (数据交换).

- the markups of a sheet revision as XFDF (ISO 19444-1), and XFDF markups drawn in Acrobat, Bluebeam or
  Foxit imported as the reviewer's own markups in one of their tracks;
- the sheet PDF with the markups written into it as real PDF annotations;
- the comment list of a submission (审查意见汇总) as rows for CSV and XLSX, and the two writers.

Reading follows the review desk's access rules (:mod:`app.review_desk.access`): reviewers and track leads
of a track the submission is routed to, bureau officers and administrators read every track; the project's
designers read a track once it has issued its comments for the round; anybody else is told the sheet does
not exist. Importing is writing: only in a track the user reviews, only while that track's review of the
revision's round is under way.

An imported file is all or nothing at the level of the file (hostile or unreadable XML is refused with
:class:`~app.review_desk.errors.Rejected` and its code, and nothing is stored) and per annotation below
that: an annotation that cannot be used is skipped and reported with a code, the others are stored in one
transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from app import audit
from app.errors import Invalid, NotFound
from app.identity.principal import Principal
from app.review_desk.access import RevisionView, issued_tracks, require_writable, revision_view, submission_standing
from app.review_desk.comments import catalogue
from app.review_desk.errors import Rejected
from app.review_desk.markups import aware, stored_shape, value_of
from review.markups.errors import InvalidMarkup, MarkupError
from review.markups.pdf_annotations import annotate_pdf
from review.markups.records import BEIJING, AnnotatedMarkup, ImportFinding
from review.markups.xfdf import DEFAULT_XFDF_LIMITS, export_xfdf, read_xfdf, validate_import
from storage.blobstore import BlobStore
from storage.errors import BlobNotFound
from storage.models import (
    Comment,
    Markup,
    Round,
    Sheet,
    Submission,
    Track,
    User,
)

SHEET_PAGE = 0
"""A sheet PDF holds one page."""

MAX_XFDF_BYTES = DEFAULT_XFDF_LIMITS.max_bytes
"""Largest XFDF file read; the web layer stops reading the body one byte past it."""

_PYMUPDF = threading.Lock()
"""PyMuPDF is not thread-safe and web handlers run in a thread pool: one annotation job at a time per process."""

XLSX_CELL_CHARS = 32_767
"""Most characters Excel accepts in one cell; a longer thread is cut there (the CSV keeps it whole)."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (CSV and formula injection)."""


# Markups -------------------------------------------------------------------------------------------


def _local_time(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored (UTC) time in China Standard Time, as desktop tools and spreadsheets show it."""
    return aware(moment).astimezone(BEIJING) if moment is not None else None


def _track_condition(readable: frozenset[str] | None, column: Any) -> ColumnElement[bool]:
    if readable is None:
        return true()
    return column.in_(sorted(readable)) if readable else false()


def visible_markups(db: Session, view: RevisionView) -> list[AnnotatedMarkup]:
    """The live markups of the revision the principal reads, oldest first, with author, track and comment."""
    rows = db.execute(
        select(Markup, User.display_name, Track.name_zh, Comment.text)
        .join(User, User.id == Markup.author_id)
        .join(Track, Track.code == Markup.track_code)
        .outerjoin(Comment, Comment.id == Markup.comment_id)
        .where(
            Markup.sheet_revision_id == view.revision.id,
            Markup.deleted_at.is_(None),
            _track_condition(view.readable, Markup.track_code),
        )
        .order_by(Markup.id)
    ).all()
    records = []
    for markup, author, track_name, comment_text in rows:
        records.append(
            AnnotatedMarkup(
                markup=stored_shape(markup),
                name=f"liantu-markup-{markup.id}",
                author=author,
                subject=track_name,
                contents=comment_text or "",
                modified=_local_time(markup.updated_at),
                created=_local_time(markup.created_at),
            )
        )
    return records


def markups_xfdf(db: Session, who: Principal, revision_id: int) -> tuple[bytes, str]:
    """The XFDF of the markups ``who`` reads on the revision, and a file name for it."""
    view = revision_view(db, who, revision_id)
    records = visible_markups(db, view)
    data = export_xfdf(
        records,
        page_index=SHEET_PAGE,
        page_height=view.revision.height_pt,
        pdf_filename=f"{view.sheet.number}.pdf",
    )
    return data, f"{view.sheet.number}.xfdf"


@dataclass(frozen=True)
class ImportOutcome:
    """What an XFDF import stored and what it skipped."""

    markup_ids: tuple[int, ...]
    """The stored markups, in the order of the file."""
    notes: tuple[tuple[int, str], ...]
    """(markup id, remark) for annotations that carried a remark beside their shape, so that the reviewer can
    turn it into a comment; the shape's own visible text (arrows, free text) is in the markup."""
    skipped: tuple[ImportFinding, ...]
    """Annotations not stored, with the reason."""


def _writable_track(db: Session, view: RevisionView, track: str) -> None:
    if not track:
        raise Invalid("请指定导入到哪个专项（track 参数）", "say which track the markups go to (the track parameter)")
    require_writable(db, view.standing, view.round, track)


def import_markups_xfdf(db: Session, who: Principal, revision_id: int, track: str, data: bytes) -> ImportOutcome:
    """Store the usable markups of an XFDF file as ``who``'s markups in ``track`` on the revision.

    The caller commits. :class:`~app.review_desk.errors.Rejected` (nothing stored) for a file refused as a whole.
    """
    view = revision_view(db, who, revision_id)
    _writable_track(db, view, track)
    revision = view.revision
    try:
        report = read_xfdf(data, page_height=revision.height_pt)
    except MarkupError as exc:
        raise Rejected(exc.zh, exc.en, exc.code) from exc
    on_page = validate_import(
        report, page_index=SHEET_PAGE, sheet_width=revision.width_pt, sheet_height=revision.height_pt
    )
    skipped = list(on_page.findings)
    elsewhere = sum(1 for item in report.markups if item.page_index != SHEET_PAGE)
    if elsewhere:
        skipped.append(
            ImportFinding(
                "XFDF_OTHER_PAGE",
                f"{elsewhere} 个批注位于其他页（本图纸只有第 1 页），未导入",
                f"{elsewhere} annotation(s) belong to other pages (this sheet has only page 1) and were not imported",
            )
        )
    stored: list[tuple[Markup, str]] = []
    for item in on_page.markups:
        shape = item.markup  # validated and normalised against the sheet by validate_import
        row = Markup(
            sheet_revision_id=revision.id,
            track_code=track,
            author_id=who.user_id,
            kind=shape.kind.value,
            shape=value_of(shape),
        )
        db.add(row)
        remark = item.contents if item.contents and item.contents != shape.text else ""
        stored.append((row, remark))
    db.flush()
    if stored:
        audit.record(
            db,
            actor_id=who.user_id,
            actor_name=who.username,
            action="markup.imported",
            object_type="sheet_revision",
            object_id=revision.id,
            summary=f"XFDF → {view.sheet.number} [{track}]: {len(stored)} 个批注导入, {len(skipped)} 个跳过",
        )
    return ImportOutcome(
        markup_ids=tuple(row.id for row, _ in stored),
        notes=tuple((row.id, remark) for row, remark in stored if remark),
        skipped=tuple(skipped),
    )


def annotated_pdf(db: Session, store: BlobStore, who: Principal, revision_id: int) -> tuple[bytes, str]:
    """The sheet PDF with the markups ``who`` reads as PDF annotations, and a file name for it."""
    view = revision_view(db, who, revision_id)
    if not view.revision.pdf_key:
        raise NotFound("该图纸尚未生成", "this sheet has not been rendered yet")
    try:
        with store.open(view.revision.pdf_key) as stream:
            pdf = stream.read()
    except BlobNotFound as exc:
        raise NotFound("该图纸尚未生成", "this sheet has not been rendered yet") from exc
    records = visible_markups(db, view)
    try:
        with _PYMUPDF:
            return annotate_pdf(pdf, SHEET_PAGE, records), f"{view.sheet.number}-批注.pdf"
    except InvalidMarkup as exc:  # a stored markup the domain no longer accepts is a bug, not user input
        raise RuntimeError(f"stored markup refused: {exc}") from exc


# Comments ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadEntry:
    """One answer or reply of a comment's thread."""

    at: dt.datetime
    author: str
    role: str
    action: str
    text: str
    attachment: str


@dataclass(frozen=True)
class CommentLine:
    """One comment as the exported list shows it."""

    comment_id: int
    round_number: int
    sheet_number: str
    sheet_title: str
    track_code: str
    track_name_zh: str
    track_name_en: str
    severity: str
    clauses: tuple[str, ...]
    """Citations (《建筑设计防火规范》GB 50016-2014（2018年版）第 5.5.17 条), or the stored id when unknown."""
    text: str
    status: str
    author: str
    entries: tuple[ThreadEntry, ...]
    created_at: dt.datetime
    issued_at: dt.datetime | None
    updated_at: dt.datetime


def _citation(clause_id: str) -> str:
    clause = catalogue().get(clause_id)
    return clause.citation_zh if clause is not None else clause_id


@dataclass(frozen=True)
class CommentFilter:
    """Narrowing of the exported list (the query parameters of the endpoint)."""

    round_number: int | None = None
    track: str | None = None
    status: str | None = None


def comment_lines(
    db: Session, who: Principal, submission_id: int, only: CommentFilter = CommentFilter()
) -> tuple[Submission, list[CommentLine]]:
    """The comments of the submission ``who`` reads: by round, track, whole-submission ones first, sheet number, id."""
    standing = submission_standing(db, who, submission_id)
    submission = standing.submission
    conditions: list[ColumnElement[bool]] = [Comment.submission_id == submission.id]
    if not standing.reads_all:
        issued = issued_tracks(db, [r.id for r in submission.rounds])
        conditions.append(
            or_(false(), *(and_(Comment.round_id == rid, Comment.track_code == code) for rid, code in sorted(issued)))
        )
        conditions.append(Comment.status != "withdrawn")
    if only.round_number is not None:
        conditions.append(Round.number == only.round_number)
    if only.track:
        conditions.append(Comment.track_code == only.track)
    if only.status:
        conditions.append(Comment.status == only.status)
    rows = db.execute(
        select(Comment, Round.number, Sheet.number, Sheet.title, Track.name_zh, Track.name_en, User.display_name)
        .join(Round, Round.id == Comment.round_id)
        .join(Track, Track.code == Comment.track_code)
        .join(User, User.id == Comment.author_id)
        .outerjoin(Sheet, Sheet.id == Comment.sheet_id)
        .where(*conditions)
        .order_by(Round.number, Track.sort_order, Comment.sheet_id.is_not(None), Sheet.number, Comment.id)
    ).all()
    authors = _names(db, {e.author_id for c, *_ in rows for e in c.entries})
    lines = []
    for comment, round_number, sheet_number, sheet_title, name_zh, name_en, author in rows:
        lines.append(
            CommentLine(
                comment_id=comment.id,
                round_number=round_number,
                sheet_number=sheet_number or "",
                sheet_title=sheet_title or "",
                track_code=comment.track_code,
                track_name_zh=name_zh,
                track_name_en=name_en,
                severity=comment.severity,
                clauses=tuple(_citation(c) for c in comment.clause_ids or []),
                text=comment.text,
                status=comment.status,
                author=author,
                entries=tuple(
                    ThreadEntry(
                        at=aware(e.at),
                        author=authors.get(e.author_id, ""),
                        role=e.role,
                        action=e.action,
                        text=e.text,
                        attachment=e.attachment_name or "",
                    )
                    for e in comment.entries
                ),
                created_at=aware(comment.created_at),
                issued_at=aware(comment.issued_at) if comment.issued_at else None,
                updated_at=aware(comment.updated_at),
            )
        )
    return submission, lines


def _names(db: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(db.execute(select(User.id, User.display_name).where(User.id.in_(sorted(user_ids)))).tuples().all())


# Spreadsheets --------------------------------------------------------------------------------------


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet will not evaluate: a leading ``'`` before a formula character."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def table_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """UTF-8 CSV with a byte order mark (Excel then reads Chinese correctly), every cell neutralised."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def table_xlsx(rows: Sequence[Sequence[str]], *, sheet_title: str, widths: Sequence[int] = ()) -> bytes:
    """An XLSX workbook with one sheet: the first row as a bold, frozen header, every cell text."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title[:31]
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            # Assigned as text: openpyxl would otherwise make a formula of a string starting with '='.
            text = neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.value = text if len(text) <= XLSX_CELL_CHARS else text[: XLSX_CELL_CHARS - 1] + "…"
            cell.data_type = "s"
            cell.alignment = wrap
            if r == 1:
                cell.font = Font(bold=True)
    for c, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def format_time(moment: dt.datetime | None) -> str:
    """``2026-11-27 14:05`` in China Standard Time, or empty."""
    local = _local_time(moment)
    return f"{local:%Y-%m-%d %H:%M}" if local is not None else ""


def thread_text(entries: Iterable[ThreadEntry], label: Callable[[ThreadEntry], str]) -> str:
    """The thread as lines ``[time] name (what): text``; ``label`` names what each entry did."""
    lines = []
    for entry in entries:
        attachment = f" [{entry.attachment}]" if entry.attachment else ""
        lines.append(f"[{format_time(entry.at)}] {entry.author} ({label(entry)}): {entry.text}{attachment}")
    return "\n".join(lines)
