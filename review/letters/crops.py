"""Cropped images of marked regions (批注区域截图) for the opinion letter.

The sheet page is opened in memory, the comment's markups are drawn on it in red as vector paths, and
the region around each markup is rendered through a clip rectangle. Drawing before rendering keeps the
outline sharp and in exactly the place the reviewer drew it, whatever the resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pymupdf as _pymupdf

from review.letters.errors import UnreadableSheet
from review.markups.model import Markup, MarkupKind, Rect

# PyMuPDF's annotations are partial; it is handled as untyped at this boundary.
pymupdf: Any = _pymupdf

MARKUP_RED = (0.902, 0.0, 0.071)
"""#e60012, the red used for markups throughout the platform."""


@dataclass(frozen=True)
class CropOptions:
    """How crops are taken."""

    dpi: float = 150.0
    """Rendering resolution of the sheet region."""
    margin: float = 36.0
    """Minimum context around a markup's bounds, in sheet points (about 12.7 mm)."""
    margin_ratio: float = 0.25
    """Context as a share of the markup's larger side, when that is more than ``margin``."""
    max_pixels: int = 1800
    """Longest side of a crop in pixels; larger regions are rendered at a lower resolution."""
    stroke_width: float = 2.0
    """Outline width in sheet points (at least the markup's own width)."""
    print_width: float | None = None
    """Width the crop is printed at, in points; the region is then rendered so that it prints at ``dpi``.
    None renders at ``dpi`` relative to the sheet itself and prints at the sheet's scale."""
    max_print_height: float = 240.0
    """Tallest a crop may be printed, in points; tall regions are printed narrower."""


DEFAULT_CROP_OPTIONS = CropOptions()
"""The options letters use."""


@dataclass(frozen=True)
class Crop:
    """One rendered region."""

    png: bytes
    """The image."""
    clip: Rect
    """The sheet region shown, in sheet coordinates."""
    width_px: int
    """Image width in pixels."""
    height_px: int
    """Image height in pixels."""
    print_width: float
    """Width to print the image at, in points."""


def crop_markups(
    sheet_pdf: bytes,
    page_index: int,
    markups: tuple[Markup, ...],
    options: CropOptions = DEFAULT_CROP_OPTIONS,
) -> list[Crop]:
    """One crop per markup, each showing every markup of the comment that falls into it."""
    if not markups:
        return []
    try:
        doc = pymupdf.open(stream=sheet_pdf, filetype="pdf")
    except Exception as exc:  # MuPDF raises several unrelated types for damaged files
        raise UnreadableSheet("图纸 PDF 无法打开", f"the sheet PDF cannot be opened: {exc}") from exc
    try:
        if not 0 <= page_index < doc.page_count:
            raise UnreadableSheet(
                f"图纸 PDF 没有第 {page_index + 1} 页",
                f"the sheet PDF has no page {page_index + 1}",
            )
        page = doc[page_index]
        # Sheet coordinates are the page as displayed; drawing happens in unrotated page space.
        to_page = page.derotation_matrix
        for markup in markups:
            _draw(page, markup, to_page, options)
        return [_render(page, markup.bounds, options) for markup in markups]
    finally:
        doc.close()


def _draw(page: Any, markup: Markup, to_page: Any, options: CropOptions) -> None:
    points = [pymupdf.Point(x, y) * to_page for x, y in markup.points]
    width = max(options.stroke_width, markup.stroke_width)
    shape = page.new_shape()
    kind = markup.kind
    closed = False
    if kind in (MarkupKind.RECTANGLE, MarkupKind.HIGHLIGHT) and len(points) >= 2:
        shape.draw_rect(pymupdf.Rect(points[0], points[1]).normalize())
        closed = True
    elif kind is MarkupKind.ELLIPSE and len(points) >= 2:
        shape.draw_oval(pymupdf.Rect(points[0], points[1]).normalize())
        closed = True
    elif kind in (MarkupKind.POLYGON, MarkupKind.CLOUD) and len(points) >= 2:
        shape.draw_polyline([*points, points[0]])
        closed = True
    elif kind is MarkupKind.ARROW and len(points) >= 2:
        shape.draw_polyline(points)
        _arrow_head(shape, points[-2], points[-1], width)
    elif kind is MarkupKind.FREE_TEXT:
        if markup.box is not None:
            box = markup.box.normalised()
            rect = pymupdf.Rect(box.x0, box.y0, box.x1, box.y1) * to_page
            shape.draw_rect(rect)
            if points and not rect.contains(points[0]):
                # The leader ends on the box edge nearest the anchor, not inside the text.
                anchor = points[0]
                edge = pymupdf.Point(min(max(anchor.x, rect.x0), rect.x1), min(max(anchor.y, rect.y0), rect.y1))
                shape.draw_line(anchor, edge)
        elif points:
            shape.draw_circle(points[0], 4 * width)
    elif len(points) >= 2:
        shape.draw_polyline(points)
    elif points:
        shape.draw_circle(points[0], 4 * width)
    shape.finish(color=MARKUP_RED, width=width, closePath=closed, lineJoin=1, lineCap=1)
    shape.commit()


def _arrow_head(shape: Any, tail: Any, tip: Any, width: float) -> None:
    angle = math.atan2(tip.y - tail.y, tip.x - tail.x)
    size = 5 * width + 4
    for side in (-0.45, 0.45):
        end = pymupdf.Point(tip.x - size * math.cos(angle + side), tip.y - size * math.sin(angle + side))
        shape.draw_line(tip, end)


def _render(page: Any, bounds: Rect, options: CropOptions) -> Crop:
    box = bounds.normalised()
    margin = max(options.margin, options.margin_ratio * max(box.width, box.height))
    clip = pymupdf.Rect(box.x0 - margin, box.y0 - margin, box.x1 + margin, box.y1 + margin) & page.rect
    if clip.is_empty:
        # A markup wholly outside the page: show the nearest corner region rather than nothing.
        clip = pymupdf.Rect(page.rect.x0, page.rect.y0, page.rect.x0 + 2 * margin, page.rect.y0 + 2 * margin)
    width = clip.width if options.print_width is None else options.print_width
    if clip.height * width / clip.width > options.max_print_height:
        width = options.max_print_height * clip.width / clip.height
    zoom = options.dpi / 72.0 * width / clip.width
    longest = max(clip.width, clip.height) * zoom
    if longest > options.max_pixels:
        zoom *= options.max_pixels / longest
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=clip, alpha=False)
    _frame(pixmap)
    return Crop(
        png=pixmap.tobytes("png"),
        clip=Rect(clip.x0, clip.y0, clip.x1, clip.y1),
        width_px=pixmap.width,
        height_px=pixmap.height,
        print_width=width,
    )


def _frame(pixmap: Any) -> None:
    """A thin grey frame, so a crop reads as a cut-out of the sheet and not as part of the letter."""
    x0, y0, x1, y1 = pixmap.irect  # a clipped pixmap keeps the clip's pixel origin
    line = 2
    grey = (128, 128, 128)
    for box in ((x0, y0, x1, y0 + line), (x0, y1 - line, x1, y1), (x0, y0, x0 + line, y1), (x1 - line, y0, x1, y1)):
        pixmap.set_rect(pymupdf.IRect(*box), grey)
