"""Steps that record what the reading found: sheets (图纸), their revisions in the current round, routing.

Re-running is safe: a revision is found again by (round, drawing file, page or layout index) and updated
in place, so the same file processed twice gives the same rows. A clerk's track override is kept.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.intake.steps_read import SourceSheet, SplitFile
from app.tracks import enabled_tracks
from review.routing.facts import SheetFacts
from review.routing.rules import KNOWN_TRACKS, route
from review.sheets.findings import Finding, Severity
from review.sheets.numbers import normalise_sheet_number, report_numbering
from review.sheets.titleblock import TitleBlock
from storage.models import DrawingFile, Round, Sheet, SheetRevision, SheetTrack, Submission

SYSTEM_ACTOR = "系统 / system"

SPLIT = "split"
"""``DrawingFile.status`` once its sheets are recorded; ``SheetRevision.status`` until it is rendered."""
REJECTED = "rejected"
"""``DrawingFile.status`` of a file that cannot be reviewed at all."""
EXPANDED = "expanded"
"""``DrawingFile.status`` of an archive whose drawings became drawing files of their own."""
FILE_SETTLED = frozenset({SPLIT, REJECTED, EXPANDED})
"""``DrawingFile.status`` values after which intake has nothing more to do with the file itself."""
READY = "ready"
"""``SheetRevision.status`` once its sheet PDF, tiles, thumbnail and text are stored."""
UNRENDERABLE = "unrenderable"
"""``SheetRevision.status`` of a sheet whose page cannot be tiled (see its RENDER_FAILED finding)."""

NUMBER_LENGTH = 40
PROVISIONAL_PREFIX = "未识别"
DUPLICATE_PREFIX = "重复"


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding as stored in JSON columns."""
    value = asdict(finding)
    value["severity"] = str(finding.severity)
    return {key: item for key, item in value.items() if item is not None}


def current_round(session: Session, submission: Submission) -> Round:
    """The submission's latest round; round 1 is opened when there is none yet."""
    latest = session.scalar(
        select(Round).where(Round.submission_id == submission.id).order_by(Round.number.desc()).limit(1)
    )
    if latest is not None:
        return latest
    first = Round(submission_id=submission.id, number=1)
    session.add(first)
    session.flush()
    return first


def sheet_key(number: str) -> str:
    """The matching key of a stored sheet number: 建施-01 and 建施-1 are the same sheet."""
    parsed = normalise_sheet_number(number)
    return parsed.key if parsed else number


def title_block_json(block: TitleBlock) -> dict[str, Any]:
    return {
        "number": block.number.display if block.number else None,
        "number_text": block.number_text,
        "title": block.title,
        "discipline": block.discipline,
        "scale": block.scale,
        "institute": block.institute,
        "client": block.client,
        "date": block.date,
        "confidence": block.confidence,
    }


def reject(session: Session, drawing: DrawingFile, finding: Finding) -> None:
    """Mark a file that cannot be reviewed; nothing else about it changes."""
    drawing.status = REJECTED
    drawing.findings = {**drawing.findings, "intake": [finding_json(finding)]}
    audit.record(
        session,
        actor_id=None,
        actor_name=SYSTEM_ACTOR,
        action="drawing_file.rejected",
        object_type="drawing_file",
        object_id=drawing.id,
        summary=f"{drawing.original_name}: {finding.zh} / {finding.en}",
    )


class _SheetBook:
    """The sheets of one submission by matching key, and which of them already have a revision this round."""

    def __init__(self, session: Session, submission_id: int, round_id: int) -> None:
        self.session = session
        self.submission_id = submission_id
        sheets = session.scalars(select(Sheet).where(Sheet.submission_id == submission_id)).all()
        self.by_key = {sheet_key(sheet.number): sheet for sheet in sheets}
        self.numbers = {sheet.number for sheet in sheets}
        taken = session.scalars(select(SheetRevision.sheet_id).where(SheetRevision.round_id == round_id)).all()
        self.taken = set(taken)

    def add(self, number: str, block: TitleBlock) -> Sheet:
        sheet = Sheet(
            submission_id=self.submission_id,
            number=number,
            title=(block.title or "")[:200],
            discipline=(block.discipline or (block.number.discipline if block.number else None) or "")[:40],
        )
        self.session.add(sheet)
        self.session.flush()
        self.by_key[sheet_key(number)] = sheet
        self.numbers.add(number)
        return sheet

    def unused(self, stem: str) -> str:
        candidate, n = stem[:NUMBER_LENGTH], 1
        while candidate in self.numbers:
            n += 1
            suffix = f"-{n}"
            candidate = stem[: NUMBER_LENGTH - len(suffix)] + suffix
        return candidate


def _no_number(drawing: DrawingFile, source: SourceSheet, provisional: str) -> Finding:
    where = source.layout_name or f"第 {source.index + 1} 页"
    where_en = source.layout_name or f"page {source.index + 1}"
    return Finding(
        "TITLE_BLOCK_NO_NUMBER",
        Severity.WARNING,
        f"{drawing.original_name} {where}：未在图签中找到图号，暂用 {provisional}，请人工指定",
        f"{drawing.original_name} {where_en}: no sheet number in the title block; "
        f"provisionally {provisional}, please assign one",
        source.index,
    )


def _duplicate(drawing: DrawingFile, source: SourceSheet, number: str, provisional: str) -> Finding:
    return Finding(
        "SHEET_NUMBER_DUPLICATE",
        Severity.ERROR,
        f"{drawing.original_name}：图号 {number} 与本轮已有图纸重复，暂记为 {provisional}，请核对",
        f"{drawing.original_name}: sheet number {number} is already used in this round; "
        f"recorded as {provisional}, please check",
        source.index,
    )


def _place(book: _SheetBook, drawing: DrawingFile, source: SourceSheet) -> tuple[Sheet, list[Finding]]:
    """The sheet a new revision belongs to, created when the submission does not have it yet."""
    block = source.title_block
    if block.number is None:
        provisional = book.unused(f"{PROVISIONAL_PREFIX}-{drawing.id}-{source.index + 1}")
        findings = [f for f in source.findings if f.code != "TITLE_BLOCK_NO_NUMBER"]
        return book.add(provisional, block), [*findings, _no_number(drawing, source, provisional)]
    existing = book.by_key.get(block.number.key)
    if existing is None:
        return book.add(block.number.display, block), list(source.findings)
    if existing.id in book.taken:
        provisional = book.unused(f"{DUPLICATE_PREFIX}-{block.number.display}-{drawing.id}")
        sheet = book.add(provisional, block)
        return sheet, [*source.findings, _duplicate(drawing, source, block.number.display, provisional)]
    return existing, list(source.findings)


def _route(session: Session, sheet: Sheet, enabled: tuple[str, ...]) -> list[Finding]:
    if sheet.tracks or not enabled:
        return []
    decision = route(SheetFacts.of(sheet.number, sheet.title, sheet.discipline or None), enabled)
    sheet.tracks.extend(SheetTrack(track_code=code) for code in decision.tracks)
    return list(decision.findings)


def record_sheets(session: Session, drawing: DrawingFile, split: SplitFile) -> list[int]:
    """Create or update the sheets and revisions of ``drawing``; the revision ids in source order."""
    # One file of a submission is recorded at a time: two files naming the same sheet must not both create it.
    submission = session.get_one(Submission, drawing.submission_id, with_for_update=True)
    round_ = current_round(session, submission)
    book = _SheetBook(session, submission.id, round_.id)
    known = set(KNOWN_TRACKS)
    enabled = tuple(track.code for track in enabled_tracks(session) if track.code in known)
    revision_ids = []
    for source in split.sheets:
        revision = session.scalar(
            select(SheetRevision).where(
                SheetRevision.round_id == round_.id,
                SheetRevision.drawing_file_id == drawing.id,
                SheetRevision.source_index == source.index,
            )
        )
        if revision is None:
            sheet, findings = _place(book, drawing, source)
            findings += _route(session, sheet, enabled)
            revision = SheetRevision(
                sheet_id=sheet.id, round_id=round_.id, drawing_file_id=drawing.id, source_index=source.index
            )
            session.add(revision)
            book.taken.add(sheet.id)
            revision.findings = [finding_json(f) for f in findings]
        if revision.pdf_key != source.pdf_key or revision.status != READY:
            revision.status = SPLIT
        revision.layout_name = source.layout_name[:120]
        revision.width_pt = source.width_pt
        revision.height_pt = source.height_pt
        revision.scale = source.scale[:40]
        revision.paper = source.paper[:40]
        revision.units_per_point = source.units_per_point
        revision.units = source.units[:10]
        revision.pdf_key = source.pdf_key
        revision.title_block = title_block_json(source.title_block)
        session.flush()
        revision_ids.append(revision.id)
    numbers = [n for n in (normalise_sheet_number(number) for number in book.numbers) if n is not None]
    drawing.status = SPLIT
    drawing.findings = {
        **drawing.findings,
        "intake": [finding_json(f) for f in split.findings],
        "numbering": [finding_json(f) for f in report_numbering(numbers)],
        "sheets": len(split.sheets),
    }
    audit.record(
        session,
        actor_id=None,
        actor_name=SYSTEM_ACTOR,
        action="drawing_file.split",
        object_type="drawing_file",
        object_id=drawing.id,
        summary=f"{drawing.original_name}: {len(split.sheets)} 张图纸 / {len(split.sheets)} sheets",
    )
    return revision_ids
