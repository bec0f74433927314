"""The intake pipeline (一窗受理): uploaded originals become identified, viewable sheets.

Three jobs run it (:mod:`app.intake.tasks`), one per file and one per sheet, so that the first sheet can
be opened while the others are still being tiled, and one per DXF file that indexes its entities afterwards:

``drawing_file.process`` — :func:`process_drawing_file`
    1. *load*: read the stored original (``originals/…``) by its key and check its SHA-256; it is only ever read.
       A DWG is converted to a derived DXF first (:mod:`app.intake.dwg`, only when a converter is configured).
    2. *check and split* (:func:`~app.intake.steps_read.split_original`): PDF pages (``open_pdf``) or DXF
       layouts (``read_dxf`` + ``find_sheets``); each becomes a one-page sheet PDF under
       ``derived/sheets/<original sha256>/<index>-<split version>.pdf`` (a DXF layout is rendered as vector
       PDF with real text). A file that cannot be reviewed (encrypted, damaged, no pages, unreadable DXF)
       raises ``UnreadableDrawing`` here, before anything is recorded.
    3. *identify*: the title block (图签) is read from each sheet PDF's own text: number (图号), title,
       discipline, scale.
    4. *record* (:func:`~app.intake.steps_record.record_sheets`), in one transaction with the job's success:
       Round 1 when the submission has none; a Sheet per normalised number (matched by key, 建施-01 = 建施-1);
       its SheetRevision in the current round; tracks routed by ``review.routing`` unless set by hand;
       a provisional number ``未识别-<file>-<n>`` with TITLE_BLOCK_NO_NUMBER when no number is found, and
       ``重复-<number>-<file>`` with SHEET_NUMBER_DUPLICATE when the round already has that number.
       A rejected file gets ``status = "rejected"`` and its FILE_UNREADABLE finding instead.
    5. *fan out*: one ``sheet_revision.render`` per revision, then, for a DXF original, one
       ``drawing_file.entity_index``, all sent after the commit in that order.

``sheet_revision.render`` — :func:`render_sheet_revision`
    1. *sheet PDF*: found under its key; rebuilt by splitting the original again if the store lost it.
    2. *view* (:func:`~app.intake.steps_render.build_view`): Deep Zoom tiles under
       ``derived/tiles/<sheet pdf sha256>/<tiler version>-<dpi>/`` (300 dpi, lower only for pages too large
       for ``max_pixels``), a thumbnail under ``derived/thumbnails/<sheet pdf sha256>/<px>.png``. A page
       with a side over 200 inches (PAGE_TOO_LARGE when read) is not rendered: the revision stays listed
       with ``status = "unrenderable"`` and a RENDER_FAILED finding saying why, and nothing is stored.
    3. *record*: keys, SheetText for search, ``status = "ready"``, in one transaction with the job's success.

``drawing_file.entity_index`` — :func:`index_drawing_file`
    The entity index of each DXF layout (``derived/entity-index/<original sha256>/<index>.<index version>.npz``,
    what a revision compare reads instead of both DXF). It is built off the critical path (about 11 s
    for a 60,000-entity layout) and queued after the render jobs, since the one queue has no priorities.
    It never changes a sheet: a layout that cannot be indexed is a logged warning, and a failed run
    fails only its own row; the compare then reads the DXF.

The contract every step keeps:

- **Idempotent.** Artefact keys are derived from the source's SHA-256, the version of the code that
  makes them and its parameters; a step that finds its key stored skips the work. Rows are found
  again by (round, drawing file, source index) and updated in place. Running a job twice changes nothing.
- **Findings, not exceptions**, for problems inside a user's file: codes with Chinese and English messages,
  kept on the DrawingFile (file-wide) and on each SheetRevision (per sheet).
- **Progress** is reported through a ``report(percent, message)`` callback (the job's ``JobRun.report``).
- **Originals are never changed**: every write goes under ``derived/``.
- **Bounded**: the job time limit applies; the worker child caps its address space (see ``tasks.py``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, NotFound
from app.intake.dwg import DwgConverter, splittable
from app.intake.steps_read import (
    Report,
    no_report,
    rejection,
    split_original,
    splittable_kind,
    store_entity_indexes,
)
from app.intake.steps_record import READY, REJECTED, UNRENDERABLE, finding_json, record_sheets, reject
from app.intake.steps_render import ViewOptions, build_view
from review.errors import UnreadableDrawing
from review.filetypes import FileKind
from review.sheets.findings import Finding
from storage.blobstore import BlobStore
from storage.db import transaction
from storage.models import DrawingFile, SheetRevision, SheetText

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOutcome:
    """What processing one drawing file came to."""

    drawing_file_id: int
    revision_ids: tuple[int, ...]
    """The file's sheet revisions, in page or layout order; empty when rejected."""
    rejected: bool
    message: str
    """Bilingual summary shown on the task's page."""
    indexable: bool = False
    """A DXF original (or a DWG converted to one): its layouts get entity indexes afterwards."""


Finish = Callable[[Session, str], None]
"""Called inside the transaction that records a step's effect, with the step's summary (the job marks itself done)."""


def _no_finish(session: Session, message: str) -> None:
    """Outside a job there is nothing to mark."""


def _missing_file(drawing_file_id: int) -> NotFound:
    return NotFound(f"图纸文件 {drawing_file_id} 不存在", f"drawing file {drawing_file_id} does not exist")


def _original_of(
    sessions: sessionmaker[Session], store: BlobStore, drawing_file_id: int, report: Report
) -> tuple[str, str, bytes]:
    """The stored original of a drawing file: its SHA-256, its name and its checked bytes."""
    with transaction(sessions) as session:
        drawing = session.get(DrawingFile, drawing_file_id)
        if drawing is None:
            raise _missing_file(drawing_file_id)
        key, sha256, name = drawing.object_key, drawing.sha256, drawing.original_name
    report(1, f"读取 {name} / reading {name}")
    return sha256, name, _read_original(store, key, sha256, name)


def process_drawing_file(
    sessions: sessionmaker[Session],
    store: BlobStore,
    drawing_file_id: int,
    *,
    report: Report = no_report,
    finish: Callable[[Session, ProcessOutcome], None] | None = None,
    dwg: DwgConverter | None = None,
) -> ProcessOutcome:
    """Split, identify and record the sheets of one stored original (steps 1–4 of ``drawing_file.process``)."""
    sha256, _, data = _original_of(sessions, store, drawing_file_id, report)
    try:
        source, converted = splittable(store, sha256, data, dwg)
        split = split_original(store, sha256, source, lambda p, m: report(5 + 0.85 * p, m))
        if converted:
            split = replace(split, findings=(*converted, *split.findings))
    except UnreadableDrawing as exc:
        finding = rejection(exc)
        with transaction(sessions) as session:
            drawing = session.get(DrawingFile, drawing_file_id, with_for_update=True)
            if drawing is None:
                raise _missing_file(drawing_file_id) from exc
            if drawing.status != REJECTED:
                reject(session, drawing, finding)
            outcome = ProcessOutcome(drawing_file_id, (), True, f"已退回：{finding.zh} / rejected: {finding.en}")
            if finish:
                finish(session, outcome)
        return outcome
    report(92, "登记图纸 / recording sheets")
    with transaction(sessions) as session:
        drawing = session.get(DrawingFile, drawing_file_id, with_for_update=True)
        if drawing is None:
            raise _missing_file(drawing_file_id)
        revision_ids = record_sheets(session, drawing, split)
        count = len(revision_ids)
        outcome = ProcessOutcome(
            drawing_file_id,
            tuple(revision_ids),
            False,
            f"拆分为 {count} 张图纸 / split into {count} sheets",
            indexable=split.kind in (FileKind.DXF_ASCII, FileKind.DXF_BINARY),
        )
        if finish:
            finish(session, outcome)
    return outcome


def _read_original(store: BlobStore, key: str, sha256: str, name: str) -> bytes:
    with store.open(key) as stream:
        data = stream.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        # The verification job records the damage on the file; nothing is derived from wrong bytes.
        raise Conflict(
            f"原件 {name} 与上传时的 SHA-256 不一致，未处理",
            f"the original {name} no longer matches its SHA-256; it was not processed",
        )
    return data


def index_drawing_file(
    sessions: sessionmaker[Session],
    store: BlobStore,
    drawing_file_id: int,
    *,
    report: Report = no_report,
    dwg: DwgConverter | None = None,
) -> str:
    """Store the entity index of every layout of a DXF original (``drawing_file.entity_index``).

    Queued after the file's render jobs: the indexes only speed up later revision compares, so they
    never delay a sheet becoming viewable, and nothing here touches the sheets or their state. Layouts
    whose index is stored are skipped; one that cannot be indexed is logged and left to the compare
    job's fallback (reading the DXF). A PDF original has nothing to index.
    """
    sha256, name, data = _original_of(sessions, store, drawing_file_id, report)
    source, _ = splittable(store, sha256, data, dwg)
    if splittable_kind(source) not in (FileKind.DXF_ASCII, FileKind.DXF_BINARY):
        return f"{name} 不是 DXF，无需索引 / {name} is not a DXF: nothing to index"
    stored = store_entity_indexes(store, sha256, source, lambda p, m: report(5 + 0.9 * p, m))
    message = (
        f"{name}：新建 {stored.built} 个图元索引，已有 {stored.present} 个，失败 {stored.failed} 个 / "
        f"{name}: {stored.built} entity indexes built, {stored.present} already stored, {stored.failed} failed"
    )
    if stored.failed:
        log.warning("drawing file %d: %d layouts without an entity index", drawing_file_id, stored.failed)
    return message


def render_sheet_revision(
    sessions: sessionmaker[Session],
    store: BlobStore,
    revision_id: int,
    *,
    options: ViewOptions | None = None,
    report: Report = no_report,
    finish: Finish = _no_finish,
    dwg: DwgConverter | None = None,
) -> str:
    """Tiles, thumbnail and text of one sheet revision; marks it ready (``sheet_revision.render``)."""
    with transaction(sessions) as session:
        revision = session.get(SheetRevision, revision_id)
        if revision is None:
            raise NotFound(f"图纸版本 {revision_id} 不存在", f"sheet revision {revision_id} does not exist")
        drawing = session.get_one(DrawingFile, revision.drawing_file_id)
        pdf_key, original_key, sha256 = revision.pdf_key, drawing.object_key, drawing.sha256
        source_index = revision.source_index
        number = revision.sheet.number
    if pdf_key is None or not store.exists(pdf_key):
        report(2, "重新拆分原件 / splitting the original again")
        with store.open(original_key) as stream:
            source, _ = splittable(store, sha256, stream.read(), dwg)
        split = split_original(store, sha256, source)
        pdf_key = next(s.pdf_key for s in split.sheets if s.index == source_index)
    report(5, f"{number}：切片 / {number}: tiling")
    try:
        view = build_view(store, pdf_key, options, report)
    except UnreadableDrawing as exc:
        return _unrenderable(sessions, revision_id, pdf_key, number=number, cause=rejection(exc), finish=finish)
    with transaction(sessions) as session:
        revision = session.get_one(SheetRevision, revision_id, with_for_update=True)
        revision.pdf_key = pdf_key
        revision.tiles_key = view.tiles_key
        revision.thumbnail_key = view.thumbnail_key
        revision.status = READY
        text = session.get(SheetText, revision_id)
        if text is None:
            submission_id = session.get_one(DrawingFile, revision.drawing_file_id).submission_id
            session.add(SheetText(sheet_revision_id=revision_id, submission_id=submission_id, text=view.text))
        elif text.text != view.text:
            text.text = view.text
        message = f"{number} 可以审阅（{view.dpi} dpi） / {number} is ready ({view.dpi} dpi)"
        finish(session, message)
    return message


def _unrenderable(
    sessions: sessionmaker[Session], revision_id: int, pdf_key: str, *, number: str, cause: Finding, finish: Finish
) -> str:
    """Record that a sheet cannot be tiled (a page too large even at the lowest dpi, a broken sheet PDF)."""
    finding = Finding("RENDER_FAILED", cause.severity, cause.zh, cause.en)
    with transaction(sessions) as session:
        revision = session.get_one(SheetRevision, revision_id, with_for_update=True)
        revision.pdf_key = pdf_key
        revision.status = UNRENDERABLE
        kept = [f for f in revision.findings if f.get("code") != finding.code]
        revision.findings = [*kept, finding_json(finding)]
        message = f"{number} 无法生成审阅图像：{finding.zh} / {number} cannot be tiled: {finding.en}"
        finish(session, message)
    return message
