"""Markups written into a PDF as real annotations, readable by any PDF viewer (PyMuPDF).

Sheet coordinates are the page as displayed (origin top-left), so on a rotated page every point goes
through the page's derotation matrix first. FreeText is written as rich text so that MuPDF lays out
Chinese with its CJK fallback font; the plain text is in ``/Contents`` as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymupdf as _pymupdf

from review.markups.errors import MarkupError
from review.markups.model import Markup, MarkupKind, Point, Rect
from review.markups.records import AnnotatedMarkup, format_pdf_date

# PyMuPDF's bindings carry no usable types; the module is used through ``Any`` on purpose.
pymupdf: Any = _pymupdf


class PdfAnnotationError(MarkupError):
    """The PDF cannot take the annotations: unreadable, encrypted, or no such page."""

    code = "PDF_ANNOTATE_FAILED"


FREE_TEXT_SIZE = 10.0
"""Font size (points) of free-text annotations."""


def _rgb(colour: str) -> tuple[float, float, float]:
    return (int(colour[1:3], 16) / 255, int(colour[3:5], 16) / 255, int(colour[5:7], 16) / 255)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br/>")


def _add(page: Any, markup: Markup) -> Any:
    matrix = page.derotation_matrix

    def point(p: Point) -> Any:
        return pymupdf.Point(p) * matrix

    def rect(r: Rect) -> Any:
        return (pymupdf.Rect(r.x0, r.y0, r.x1, r.y1) * matrix).normalize()

    kind = markup.kind
    points = [point(p) for p in markup.points]
    stroke = _rgb(markup.colour)
    if kind in (MarkupKind.RECTANGLE, MarkupKind.ELLIPSE):
        box = rect(Rect.around(markup.points))
        annot = page.add_rect_annot(box) if kind is MarkupKind.RECTANGLE else page.add_circle_annot(box)
    elif kind in (MarkupKind.POLYGON, MarkupKind.CLOUD):
        annot = page.add_polygon_annot(points)
    elif kind is MarkupKind.POLYLINE:
        annot = page.add_polyline_annot(points)
    elif kind is MarkupKind.ARROW:
        annot = page.add_line_annot(points[0], points[1])
        annot.set_line_ends(pymupdf.PDF_ANNOT_LE_NONE, pymupdf.PDF_ANNOT_LE_OPEN_ARROW)
    elif kind is MarkupKind.FREEHAND:
        annot = page.add_ink_annot([[(p.x, p.y) for p in points]])
    elif kind is MarkupKind.HIGHLIGHT:
        annot = page.add_highlight_annot(quads=rect(Rect.around(markup.points)).quad)
    else:
        assert markup.box is not None
        box = rect(markup.box.normalised())
        anchor = points[0]
        nearest = pymupdf.Point(min(max(anchor.x, box.x0), box.x1), min(max(anchor.y, box.y0), box.y1))
        callout = [anchor, nearest] if anchor != nearest else None
        return page.add_freetext_annot(
            box,
            f"<p>{_escape(markup.text)}</p>",
            fontsize=FREE_TEXT_SIZE,
            richtext=True,
            style=f"font-family: sans-serif; font-size: {FREE_TEXT_SIZE:g}pt; color: {markup.colour}",
            callout=callout,
            line_end=pymupdf.PDF_ANNOT_LE_OPEN_ARROW,
            border_color=stroke,
            border_width=markup.stroke_width,
        )
    annot.set_colors(stroke=stroke)
    if kind is not MarkupKind.HIGHLIGHT:
        annot.set_border(width=markup.stroke_width, clouds=1 if kind is MarkupKind.CLOUD else -1)
    return annot


def annotate_pdf(pdf_bytes: bytes, page_index: int, markups: Sequence[AnnotatedMarkup | Markup]) -> bytes:
    """The PDF with the (validated) markups added to one page as annotations, saved as a new file.

    The whole file is rewritten: do this before any signature, never on a signed result.
    """
    try:
        document = pymupdf.open(stream=pdf_bytes, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise PdfAnnotationError("PDF 文件无法读取", f"the PDF cannot be read: {exc}") from exc
    with document:
        if document.needs_pass:
            raise PdfAnnotationError("PDF 文件已加密", "the PDF is encrypted")
        if not 0 <= page_index < document.page_count:
            raise PdfAnnotationError(
                f"PDF 中没有第 {page_index + 1} 页", f"the PDF has no page {page_index + 1} (0-based {page_index})"
            )
        page = document[page_index]
        for item in markups:
            record = item if isinstance(item, AnnotatedMarkup) else AnnotatedMarkup(markup=item)
            markup = record.markup
            annot = _add(page, markup)
            info: dict[str, str] = {
                "content": markup.text or record.contents,
                "title": record.author,
                "subject": record.subject,
            }
            if record.modified is not None:
                info["modDate"] = format_pdf_date(record.modified)
            if record.created is not None:
                info["creationDate"] = format_pdf_date(record.created)
            annot.set_info(info)
            annot.set_opacity(markup.opacity)
            annot.update()
            if record.name:
                # /NM identifies the annotation across tools (XFDF ``name``).
                document.xref_set_key(annot.xref, "NM", pymupdf.get_pdf_str(record.name))
        return bytes(document.tobytes(garbage=1, deflate=True))
