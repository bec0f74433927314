"""PDF input checks and page facts, and the PDF adapter of the title block reader.

``open_pdf`` refuses what cannot be reviewed at all (not a PDF, encrypted with a password, no pages,
more pages than allowed) with ``UnreadableDrawing``; anything else it finds is a finding:

- ``PDF_REPAIRED``: MuPDF had to rebuild a damaged or truncated file; the pages it recovered are used.
- ``PDF_RESTRICTED``: encrypted without a password to open (permissions only); readable.
- ``PAGE_TOO_LARGE``: a side longer than ``max_side_inches`` (200 in, the PDF format's own page limit).
  The page is kept as a sheet but marked ``renderable=False``: the tiler refuses it (``review.tiles.dzi``,
  same limit), so it gets no tiles and no thumbnail, only its findings; the other pages go on.
- ``PAGE_TOO_SMALL``: a side shorter than 1 inch, almost surely not a drawing sheet (kept, renderable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymupdf as _pymupdf

from review.errors import UnreadableDrawing
from review.sheets.findings import Finding, Severity
from review.sheets.paper import MM_PER_POINT, nearest_paper
from review.sheets.titleblock import TextItem, TitleBlock, TitleBlockOptions, read_title_block

# PyMuPDF's annotations are partial; it is handled as untyped at this boundary.
pymupdf: Any = _pymupdf

MAX_SIDE_INCHES = 200.0
"""Longest page side that is rendered for review: the PDF format's own page limit (14 400 points)."""


@dataclass(frozen=True)
class PdfOptions:
    """Limits applied when a PDF is accepted."""

    max_pages: int = 2000
    """More pages than this is refused: a drawing set, not an archive."""
    max_side_inches: float = MAX_SIDE_INCHES
    """A page side longer than this gets PAGE_TOO_LARGE and is not rendered."""


@dataclass(frozen=True)
class PageInfo:
    """One page as a reviewer sees it (after its /Rotate)."""

    index: int
    """Zero-based page index."""
    width_pt: float
    """Width as displayed, in points."""
    height_pt: float
    """Height as displayed, in points."""
    rotation: int
    """The page's /Rotate (0, 90, 180, 270)."""
    paper: str | None
    """Nearest named paper size within tolerance (A1, A2+1/4, ARCH D...), or None."""
    renderable: bool
    """False when the page is too large to rasterise (see PAGE_TOO_LARGE)."""

    @property
    def width_mm(self) -> float:
        return self.width_pt * MM_PER_POINT

    @property
    def height_mm(self) -> float:
        return self.height_pt * MM_PER_POINT


@dataclass(frozen=True)
class PdfSource:
    """What was learnt from opening a PDF."""

    pages: tuple[PageInfo, ...]
    findings: tuple[Finding, ...]
    repaired: bool
    """MuPDF rebuilt the file's cross-reference table (damaged or truncated file)."""

    @property
    def page_count(self) -> int:
        return len(self.pages)


def _unreadable(zh: str, en: str) -> UnreadableDrawing:
    return UnreadableDrawing(f"{zh} / {en}")


def load_document(data: bytes) -> Any:
    """The PDF as a MuPDF document, or UnreadableDrawing when it cannot be opened or has no pages."""
    try:
        document = pymupdf.open(stream=data, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise _unreadable("文件不是可读取的PDF", f"the file is not a readable PDF ({exc})") from exc
    if document.needs_pass:
        document.close()
        raise _unreadable(
            "PDF已加密，需要密码才能打开，请上传未加密的文件",
            "the PDF is encrypted and needs a password; upload it unencrypted",
        )
    if document.page_count == 0:
        document.close()
        raise _unreadable(
            "PDF没有任何页面（文件可能已损坏或被截断）", "the PDF has no pages (it may be damaged or truncated)"
        )
    return document


def open_pdf(data: bytes, options: PdfOptions | None = None) -> PdfSource:
    """Check an uploaded PDF and describe its pages; raises UnreadableDrawing when it cannot be reviewed."""
    options = options or PdfOptions()
    document = load_document(data)
    try:
        if document.page_count > options.max_pages:
            raise _unreadable(
                f"PDF共 {document.page_count} 页，超过上限 {options.max_pages} 页",
                f"the PDF has {document.page_count} pages, more than the limit of {options.max_pages}",
            )
        findings: list[Finding] = []
        repaired = bool(document.is_repaired)
        if repaired:
            findings.append(
                Finding(
                    "PDF_REPAIRED",
                    Severity.WARNING,
                    f"PDF文件已损坏，已自动修复，恢复 {document.page_count} 页；请核对页数",
                    f"The PDF was damaged and has been repaired ({document.page_count} pages recovered); "
                    "check the page count",
                )
            )
        if document.is_encrypted or (document.metadata or {}).get("encryption"):
            findings.append(
                Finding(
                    "PDF_RESTRICTED",
                    Severity.INFO,
                    "PDF设有权限限制，可正常审阅",
                    "The PDF carries permission restrictions; it can still be reviewed",
                )
            )
        pages = []
        for page in document:
            info, page_findings = _describe(page, options)
            pages.append(info)
            findings.extend(page_findings)
        return PdfSource(pages=tuple(pages), findings=tuple(findings), repaired=repaired)
    finally:
        document.close()


def _describe(page: Any, options: PdfOptions) -> tuple[PageInfo, list[Finding]]:
    width, height = page.rect.width, page.rect.height
    findings: list[Finding] = []
    longest_in = max(width, height) / 72
    limit = options.max_side_inches
    renderable = longest_in <= limit
    if not renderable:
        findings.append(
            Finding(
                "PAGE_TOO_LARGE",
                Severity.ERROR,
                f"第 {page.number + 1} 页边长 {longest_in:.0f} 英寸，超过 {limit:.0f} 英寸，无法生成审阅图像",
                f"Page {page.number + 1} is {longest_in:.0f} inches long, over {limit:.0f}; it cannot be rasterised",
                page=page.number,
            )
        )
    elif min(width, height) < 72:
        findings.append(
            Finding(
                "PAGE_TOO_SMALL",
                Severity.WARNING,
                f"第 {page.number + 1} 页小于1英寸，可能不是图纸",
                f"Page {page.number + 1} is smaller than one inch; it is probably not a drawing sheet",
                page=page.number,
            )
        )
    paper = nearest_paper(width * MM_PER_POINT, height * MM_PER_POINT)
    info = PageInfo(
        index=page.number or 0,
        width_pt=width,
        height_pt=height,
        rotation=page.rotation,
        paper=paper.name if paper else None,
        renderable=renderable,
    )
    return info, findings


def page_text_items(page: Any) -> list[TextItem]:
    """Text spans of a page in sheet coordinates (as displayed: /Rotate applied, origin top-left).

    Only spans that read left to right on the displayed sheet are kept; vertical and slanted text
    (side strips, dimension text) is not where a title block's fields are.
    """
    rotate = page.rotation_matrix
    items: list[TextItem] = []
    # Without image blocks: a scanned or photo-heavy page would otherwise copy every image into the result.
    flags = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
    for block in page.get_text("dict", flags=flags)["blocks"]:
        for line in block.get("lines", ()):
            dx, dy = line["dir"]
            shown = pymupdf.Point(dx, dy) * rotate - pymupdf.Point(0, 0) * rotate
            if shown.x < 0.9:
                continue
            for span in line["spans"]:
                box = pymupdf.Rect(span["bbox"]) * rotate
                items.append(TextItem(box.x0, box.y0, box.x1, box.y1, span["text"], float(span["size"])))
    return items


def read_pdf_title_blocks(data: bytes, options: TitleBlockOptions | None = None) -> list[TitleBlock]:
    """The title block of every page of a PDF, in page order."""
    document = load_document(data)
    try:
        return [
            read_title_block(page_text_items(page), page.rect.width, page.rect.height, options) for page in document
        ]
    finally:
        document.close()


def read_pdf_title_block(data: bytes, page_index: int, options: TitleBlockOptions | None = None) -> TitleBlock:
    """The title block of one page of a PDF."""
    document = load_document(data)
    try:
        page = document[page_index]
        return read_title_block(page_text_items(page), page.rect.width, page.rect.height, options)
    finally:
        document.close()
