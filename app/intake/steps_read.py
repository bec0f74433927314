"""Steps that read an original: split it into sheet sources and identify each by its title block.

Nothing here touches the database; the only writes are derived sheet PDFs under ``derived/sheets/``
and, after intake, the entity indexes of DXF layouts under ``derived/entity-index/``, each skipped
when its key is already stored (see :mod:`app.intake.keys`). The reading itself is pure
(bytes in, values out: :func:`read_original`, :func:`read_pdf_pages`, :func:`read_dxf_sheet`), so that
the ``liantu inspect`` and ``liantu render`` commands run the same steps without a store or a database.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pymupdf as _pymupdf

from app.intake.keys import entity_index_key, sheet_pdf_key
from review.compare.entities import entity_index
from review.compare.index import INDEX_FORMAT
from review.drawing import DxfReadResult, SheetSource, find_sheets, read_dxf, render_sheet
from review.drawing.layouts import measuring_units
from review.drawing.render import RENDERER_VERSION
from review.errors import ReviewError, UnreadableDrawing
from review.filetypes import FileKind, sniff
from review.sheets.findings import Finding, Severity
from review.sheets.paper import MM_PER_POINT, nearest_paper
from review.sheets.pdf_source import load_document, open_pdf, page_text_items
from review.sheets.titleblock import TitleBlock, read_title_block
from review.sheets.units import scale_units
from storage.blobstore import BlobStore
from storage.errors import StoreUnavailable

pymupdf: Any = _pymupdf

PDF_SPLIT_VERSION = "p1"
"""Version of the page cut of a PDF original (the sheet PDF of a PDF page is that page alone)."""

DXF_SPLIT_VERSION = f"d{RENDERER_VERSION}"
"""Version of the DXF renderer that drew the sheet PDF of a layout."""

ENTITY_INDEX_VERSION = f"v{INDEX_FORMAT}-{DXF_SPLIT_VERSION}"
"""Version of a layout's entity index: its format, and the sheet placement of the renderer its boxes follow."""

log = logging.getLogger(__name__)

Report = Callable[[float, str], None]


def no_report(progress: float, message: str) -> None:
    """The progress callback of a step run outside a job."""


@dataclass(frozen=True)
class SheetReading:
    """One page (PDF) or layout (DXF) of an original, identified by its title block (图签)."""

    index: int
    """Zero-based page index or layout order among the file's sheets."""
    layout_name: str
    """DXF layout name; empty for a PDF page."""
    width_pt: float
    height_pt: float
    paper: str
    """Nearest named paper size, or empty."""
    scale: str
    """Scale from the layout's viewport or the title block, as written (``1:100``)."""
    title_block: TitleBlock
    findings: tuple[Finding, ...] = field(default=())
    """What reading, rendering or identifying this sheet found."""
    units_per_point: float | None = None
    """Drawing units per point of the sheet PDF, for measuring; None without a true scale."""
    units: str = ""
    """The drawing unit of ``units_per_point`` (``mm``, ``m``, ``in`` …); empty when it is None."""

    def stored(self, pdf_key: str) -> SourceSheet:
        """This sheet once its one-page PDF is stored under ``pdf_key``."""
        return SourceSheet(
            index=self.index,
            layout_name=self.layout_name,
            width_pt=self.width_pt,
            height_pt=self.height_pt,
            paper=self.paper,
            scale=self.scale,
            pdf_key=pdf_key,
            title_block=self.title_block,
            findings=self.findings,
            units_per_point=self.units_per_point,
            units=self.units,
        )


@dataclass(frozen=True)
class SourceSheet:
    """One page (PDF) or layout (DXF) of an original, split out and identified."""

    index: int
    """Zero-based page index or layout order among the file's sheets."""
    layout_name: str
    """DXF layout name; empty for a PDF page."""
    width_pt: float
    height_pt: float
    paper: str
    """Nearest named paper size, or empty."""
    scale: str
    """Scale from the layout's viewport or the title block, as written (``1:100``)."""
    pdf_key: str
    """Key of the one-page sheet PDF in the store."""
    title_block: TitleBlock
    findings: tuple[Finding, ...] = field(default=())
    """What reading, rendering or identifying this sheet found."""
    units_per_point: float | None = None
    """Drawing units per point of the sheet PDF, for measuring; None without a true scale."""
    units: str = ""
    """The drawing unit of ``units_per_point``; empty when it is None."""


@dataclass(frozen=True)
class SplitFile:
    """An original split into its sheets."""

    kind: FileKind
    sheets: tuple[SourceSheet, ...]
    findings: tuple[Finding, ...]
    """Findings about the file as a whole (repaired, encoding guessed, …)."""


def rejection(exc: ReviewError) -> Finding:
    """The finding recorded on a file that cannot be reviewed at all; the message is already bilingual."""
    zh = getattr(exc, "zh", None)
    en = getattr(exc, "en", None)
    if zh is None or en is None:
        text = str(exc)
        zh, _, en = text.partition(" / ")
        en = en or zh
    return Finding("FILE_UNREADABLE", Severity.ERROR, zh, en)


@dataclass(frozen=True)
class ReadOriginal:
    """An original read without a store: its sheets, identified, and optionally their one-page PDFs."""

    kind: FileKind
    sheets: tuple[SheetReading, ...]
    findings: tuple[Finding, ...]
    """Findings about the file as a whole (repaired, encoding guessed, …)."""
    pdfs: tuple[bytes, ...] = ()
    """The one-page sheet PDF of each sheet, in the order of :attr:`sheets`; empty unless asked for."""


def splittable_kind(data: bytes) -> FileKind:
    """The kind of an original that can be split into sheets (PDF, DXF); UnreadableDrawing for any other."""
    kind = sniff(data[:4096]).kind
    if kind in (FileKind.PDF, FileKind.DXF_ASCII, FileKind.DXF_BINARY):
        return kind
    raise UnreadableDrawing(
        f"暂不支持拆分此类文件（{kind.value}），请上传 PDF 或 DXF / "
        f"files of this kind ({kind.value}) cannot be split into sheets; upload PDF or DXF"
    )


def read_original(data: bytes, *, sheet_pdfs: bool = False, report: Report = no_report) -> ReadOriginal:
    """Split and identify an original in memory; raises UnreadableDrawing for a file that cannot be reviewed.

    DXF layouts are always rendered (their title block is read from the rendered text); the one-page
    PDFs of PDF pages are only cut when ``sheet_pdfs`` is set.
    """
    kind = splittable_kind(data)
    if kind is FileKind.PDF:
        sheets, findings = read_pdf_pages(data, report)
        pdfs: tuple[bytes, ...] = ()
        if sheet_pdfs:
            document = load_document(data)
            try:
                pdfs = tuple(single_page_pdf(document, sheet.index) for sheet in sheets)
            finally:
                document.close()
        return ReadOriginal(kind, sheets, findings, pdfs)
    result, sources = open_dxf_sheets(data)
    readings, rendered = [], []
    for index, source in enumerate(sources):
        sheet = render_sheet(result.doc, source)
        units = measuring_units(result.doc, source)
        readings.append(read_dxf_sheet(index, source, sheet.pdf, sheet.findings, units))
        rendered.append(sheet.pdf)
        report(100.0 * (index + 1) / len(sources), f"布局 {source.layout_name} / layout {source.layout_name}")
    return ReadOriginal(kind, tuple(readings), result.findings, tuple(rendered) if sheet_pdfs else ())


def split_original(store: BlobStore, sha256: str, data: bytes, report: Report = no_report) -> SplitFile:
    """Split an original into identified sheets; raises UnreadableDrawing for a file that cannot be reviewed."""
    kind = splittable_kind(data)
    if kind is FileKind.PDF:
        return _split_pdf(store, sha256, data, report)
    return _split_dxf(store, sha256, data, kind, report)


def _store_pdf(store: BlobStore, key: str, make: Callable[[], bytes]) -> None:
    if store.exists(key):
        return
    data = make()
    store.put_stream(key, io.BytesIO(data), content_type="application/pdf", expected_size=len(data))


def sha256_of(store: BlobStore, key: str) -> str:
    """The SHA-256 of a stored object, from the store's record when it has one."""
    info = store.stat(key)
    if info.sha256:
        return info.sha256
    digest = hashlib.sha256()
    with store.open(key) as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def single_page_pdf(document: Any, index: int) -> bytes:
    """Page ``index`` of an open MuPDF document as a PDF of its own (the sheet PDF of a PDF page)."""
    single = pymupdf.open()
    try:
        single.insert_pdf(document, from_page=index, to_page=index)
        return bytes(single.tobytes(garbage=3, deflate=True))
    except RuntimeError as exc:
        # A truncated file can list a page whose objects were cut off: MuPDF opens it but cannot copy it.
        raise UnreadableDrawing(
            f"PDF 已损坏，第 {index + 1} 页无法读取，请重新导出后上传 / "
            f"the PDF is damaged: page {index + 1} cannot be read; export it again and upload"
        ) from exc
    finally:
        single.close()


def read_pdf_pages(data: bytes, report: Report = no_report) -> tuple[tuple[SheetReading, ...], tuple[Finding, ...]]:
    """Every page of a PDF identified by its title block, and the findings about the file as a whole."""
    source = open_pdf(data)
    by_page: dict[int | None, list[Finding]] = {}
    for finding in source.findings:
        by_page.setdefault(finding.page, []).append(finding)
    document = load_document(data)
    sheets = []
    try:
        for info in source.pages:
            block = read_title_block(page_text_items(document[info.index]), info.width_pt, info.height_pt)
            # A PDF page's scale is only known from its title block (比例 1:100).
            units = scale_units(block.scale)
            sheets.append(
                SheetReading(
                    index=info.index,
                    layout_name="",
                    width_pt=info.width_pt,
                    height_pt=info.height_pt,
                    paper=info.paper or "",
                    scale=block.scale or "",
                    title_block=block,
                    findings=(*by_page.get(info.index, ()), *block.findings),
                    units_per_point=units.per_point if units else None,
                    units=units.unit if units else "",
                )
            )
            report(100.0 * (info.index + 1) / source.page_count, f"第 {info.index + 1} 页 / page {info.index + 1}")
    finally:
        document.close()
    return tuple(sheets), tuple(by_page.get(None, ()))


def _split_pdf(store: BlobStore, sha256: str, data: bytes, report: Report) -> SplitFile:
    readings, findings = read_pdf_pages(data, report)
    document = load_document(data)
    sheets = []
    try:
        for reading in readings:
            key = sheet_pdf_key(sha256, reading.index, PDF_SPLIT_VERSION)
            _store_pdf(store, key, partial(single_page_pdf, document, reading.index))
            sheets.append(reading.stored(key))
    finally:
        document.close()
    return SplitFile(FileKind.PDF, tuple(sheets), findings)


def open_dxf_sheets(data: bytes) -> tuple[DxfReadResult, list[SheetSource]]:
    """A DXF original read, and the layouts that become its sheets; UnreadableDrawing when nothing is drawn."""
    result = read_dxf(data)
    sources = find_sheets(result.doc)
    if not any(source.entity_count for source in sources):
        raise UnreadableDrawing("DXF 中没有任何图形，无法出图 / the DXF holds no drawing to plot as a sheet")
    return result, sources


def read_dxf_sheet(
    index: int,
    source: SheetSource,
    sheet_pdf: bytes,
    render_findings: tuple[Finding, ...] = (),
    units: tuple[float, str] | None = None,
) -> SheetReading:
    """A DXF layout identified from its rendered sheet PDF.

    The rendered sheet carries the drawing's text as real PDF text: the title block is read from it,
    the same way as from an uploaded PDF. ``units`` are the layout's measuring units
    (:func:`review.drawing.layouts.measuring_units`: ``$INSUNITS`` and the viewport's true scale).
    """
    document = load_document(sheet_pdf)
    try:
        page = document[0]
        width, height = page.rect.width, page.rect.height
        block = read_title_block(page_text_items(page), width, height)
    finally:
        document.close()
    paper = nearest_paper(width * MM_PER_POINT, height * MM_PER_POINT)
    return SheetReading(
        index=index,
        layout_name=source.layout_name,
        width_pt=width,
        height_pt=height,
        paper=(paper.name if paper else source.paper.name) or "",
        scale=source.scale_label or block.scale or "",
        title_block=block,
        findings=(*render_findings, *block.findings),
        units_per_point=units[0] if units else None,
        units=units[1] if units else "",
    )


def _split_dxf(store: BlobStore, sha256: str, data: bytes, kind: FileKind, report: Report) -> SplitFile:
    result, sources = open_dxf_sheets(data)
    sheets = []
    for index, source in enumerate(sources):
        key = sheet_pdf_key(sha256, index, DXF_SPLIT_VERSION)
        render_findings: tuple[Finding, ...] = ()
        if not store.exists(key):
            rendered = render_sheet(result.doc, source)
            render_findings = rendered.findings
            pdf = rendered.pdf
            store.put_stream(key, io.BytesIO(pdf), content_type="application/pdf", expected_size=len(pdf))
        with store.open(key) as stream:
            sheet_pdf = stream.read()
        units = measuring_units(result.doc, source)
        sheets.append(read_dxf_sheet(index, source, sheet_pdf, render_findings, units).stored(key))
        report(100.0 * (index + 1) / len(sources), f"布局 {source.layout_name} / layout {source.layout_name}")
    return SplitFile(kind, tuple(sheets), result.findings)


@dataclass(frozen=True)
class StoredIndexes:
    """What building the entity indexes of a DXF original came to (counts of its layouts)."""

    built: int
    """Indexes built and stored by this run."""
    present: int
    """Indexes found already stored, left alone."""
    failed: int
    """Layouts whose index could not be built (logged); their compares read the DXF instead."""


def store_entity_indexes(store: BlobStore, sha256: str, data: bytes, report: Report = no_report) -> StoredIndexes:
    """Store the entity index of every layout of a DXF original, for later revision compares.

    Runs after intake (the ``drawing_file.entity_index`` job), so that building the indexes never
    delays a sheet becoming viewable. Layouts are numbered as :func:`split_original` numbers them;
    an index already stored is skipped. A layout whose index cannot be built is logged and skipped:
    without an index the compare job reads both DXF originals again, so nothing is lost but time.
    Raises UnreadableDrawing when the DXF cannot be read at all.
    """
    result, sources = open_dxf_sheets(data)
    built = present = failed = 0
    for index, source in enumerate(sources):
        key = entity_index_key(sha256, index, ENTITY_INDEX_VERSION)
        if store.exists(key):
            present += 1
        elif _store_entity_index(store, key, result.doc, source):
            built += 1
        else:
            failed += 1
        report(100.0 * (index + 1) / len(sources), f"布局 {source.layout_name} / layout {source.layout_name}")
    return StoredIndexes(built, present, failed)


def _store_entity_index(store: BlobStore, key: str, doc: Any, source: SheetSource) -> bool:
    """Build and store one layout's entity index; False (and a logged warning) when it cannot be built."""
    try:
        data = entity_index(doc, source.layout_name, sheet=source).to_bytes()
        store.put_stream(key, io.BytesIO(data), content_type="application/octet-stream", expected_size=len(data))
    except StoreUnavailable:
        raise  # transient: the job is retried
    except Exception:  # the index only speeds up a later compare: a failure costs that compare time, nothing else
        log.warning("entity index of layout %r not stored under %s", source.layout_name, key, exc_info=True)
        return False
    return True
