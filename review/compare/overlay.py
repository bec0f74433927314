"""Pictures of two revisions for the reviewer (修改对照图).

:func:`overlay_pdf` lays the old page (red) over the new one (blue) on one page: both are rendered in grey and
combined, so ink in both revisions stays black, removed ink shows red and added ink blue.
The change rectangles are outlined on top. :func:`side_by_side` places the two pages next to each other
as vectors, labelled 旧版 / old and 新版 / new, the changes outlined on both. :func:`overlay_png` composes
the same two-colour picture from grey rasters the caller already has (those of the comparison), as a PNG.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pymupdf as _pymupdf
from PIL import Image, ImageChops, ImageDraw

from review.compare.errors import PageMissing
from review.compare.regions import ChangeKind, ChangeRect, ChangeSet
from review.sheets.pdf_source import load_document
from review.tiles.png import encode_pixels

# PyMuPDF's annotations are partial; it is handled as untyped at this boundary.
pymupdf: Any = _pymupdf

KIND_COLOURS: dict[ChangeKind, tuple[float, float, float]] = {
    ChangeKind.ADDED: (0.0, 0.55, 0.0),
    ChangeKind.REMOVED: (0.85, 0.0, 0.0),
    ChangeKind.CHANGED: (1.0, 0.5, 0.0),
}
"""Outline colour (RGB 0–1) of change rectangles of each kind."""

_GAP_PT = 24.0
_LABEL = (0.35, 0.35, 0.35)


def _page(document: Any, number: int) -> Any:
    if not 0 <= number < document.page_count:
        raise PageMissing(
            f"PDF只有 {document.page_count} 页，没有第 {number + 1} 页",
            f"the PDF has {document.page_count} pages, not a page {number + 1}",
        )
    return document[number]


def _grey(page: Any, dpi: float, size: tuple[int, int]) -> Image.Image:
    zoom = dpi / 72.0
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False)
    image = Image.frombytes("L", (pix.width, pix.height), pix.samples, "raw", "L", pix.stride)
    # Pages of different sizes are aligned at the top left, as the comparison does.
    canvas = Image.new("L", size, 255)
    canvas.paste(image, (0, 0))
    return canvas


def _rectangles(changes: ChangeSet | Iterable[ChangeRect] | None) -> tuple[ChangeRect, ...]:
    if changes is None:
        return ()
    return changes.rectangles if isinstance(changes, ChangeSet) else tuple(changes)


def _outline(page: Any, rects: Iterable[ChangeRect], dx: float = 0.0, width: float = 1.5) -> None:
    for r in rects:
        area = pymupdf.Rect(r.x0 + dx, r.y0, r.x1 + dx, r.y1)
        page.draw_rect(area, color=KIND_COLOURS[r.kind], width=width, dashes="[4 2] 0")


def overlay_pdf(
    old_pdf: bytes,
    old_page: int,
    new_pdf: bytes,
    new_page: int,
    changes: ChangeSet | Iterable[ChangeRect] | None = None,
    *,
    dpi: float = 150.0,
) -> bytes:
    """One PDF page: old in red, new in blue, both black where they agree, the changes outlined."""
    old_doc, new_doc = load_document(old_pdf), load_document(new_pdf)
    try:
        old, new = _page(old_doc, old_page), _page(new_doc, new_page)
        width = max(old.rect.width, new.rect.width)
        height = max(old.rect.height, new.rect.height)
        size = (round(width * dpi / 72.0), round(height * dpi / 72.0))
        old_grey, new_grey = _grey(old, dpi, size), _grey(new, dpi, size)
        # Old ink alone keeps red, new ink alone keeps blue; green takes the darker of both, so ink in
        # both stays neutral grey to black (a plain multiply of red and blue layers turns grey ink purple).
        picture = Image.merge("RGB", (new_grey, ImageChops.darker(old_grey, new_grey), old_grey))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=False, compress_level=6)
    finally:
        old_doc.close()
        new_doc.close()
    out = pymupdf.open()
    try:
        page = out.new_page(width=width, height=height)
        page.insert_image(page.rect, stream=buffer.getvalue())
        _outline(page, _rectangles(changes))
        data: bytes = out.tobytes(garbage=3, deflate=True)
    finally:
        out.close()
    return data


def overlay_png(
    old: npt.NDArray[np.uint8],
    new: npt.NDArray[np.uint8],
    changes: ChangeSet | Iterable[ChangeRect] | None,
    points_per_pixel: float,
) -> bytes:
    """Old red, new blue, common ink black, the changes outlined: a PNG from two grey rasters (white 255).

    Rasters of different sizes are aligned at the top left, as the comparison does. No page is rendered
    again: composing and encoding an A1 sheet at 96 dpi takes a fraction of a second.
    """
    height = max(old.shape[0], new.shape[0])
    width = max(old.shape[1], new.shape[1])
    rgb = np.full((height, width, 3), 255, dtype=np.uint8)
    rgb[: new.shape[0], : new.shape[1], 0] = new
    rgb[: old.shape[0], : old.shape[1], 2] = old
    # Green takes the darker of both, so ink in both stays neutral (see overlay_pdf).
    green = rgb[:, :, 1]
    np.minimum(green[: old.shape[0], : old.shape[1]], old, out=green[: old.shape[0], : old.shape[1]])
    np.minimum(green[: new.shape[0], : new.shape[1]], new, out=green[: new.shape[0], : new.shape[1]])
    picture = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(picture)
    for r in _rectangles(changes):
        colour = tuple(round(255 * c) for c in KIND_COLOURS[r.kind])
        box = [r.x0 / points_per_pixel, r.y0 / points_per_pixel, r.x1 / points_per_pixel, r.y1 / points_per_pixel]
        draw.rectangle(box, outline=colour, width=2)
    # The tiles' PNG writer (ISA-L deflate): on an A1 sheet at 96 dpi a fraction of Pillow's zlib level 1 time.
    return encode_pixels(np.asarray(picture))


def side_by_side(
    old_pdf: bytes,
    old_page: int,
    new_pdf: bytes,
    new_page: int,
    changes: ChangeSet | Iterable[ChangeRect] | None = None,
) -> bytes:
    """One wide PDF page: the old page on the left, the new one on the right, the changes outlined on both."""
    old_doc, new_doc = load_document(old_pdf), load_document(new_pdf)
    out = pymupdf.open()
    try:
        old, new = _page(old_doc, old_page), _page(new_doc, new_page)
        ow, oh = old.rect.width, old.rect.height
        nw, nh = new.rect.width, new.rect.height
        page = out.new_page(width=ow + _GAP_PT + nw, height=max(oh, nh))
        page.show_pdf_page(pymupdf.Rect(0, 0, ow, oh), old_doc, old_page)
        page.show_pdf_page(pymupdf.Rect(ow + _GAP_PT, 0, ow + _GAP_PT + nw, nh), new_doc, new_page)
        page.draw_line((ow + _GAP_PT / 2, 0), (ow + _GAP_PT / 2, max(oh, nh)), color=(0.6, 0.6, 0.6), width=0.5)
        # The same regions on both halves: removed ink is seen on the old side, added ink on the new.
        _outline(page, _rectangles(changes))
        _outline(page, _rectangles(changes), dx=ow + _GAP_PT)
        for x, zh, en in ((4.0, "旧版", "old"), (ow + _GAP_PT + 4.0, "新版", "new")):
            # The built-in CJK font sets Latin letters far apart: the English half uses Helvetica.
            page.insert_text((x, 12.0), zh, fontname="china-s", fontsize=9, color=_LABEL)
            page.insert_text((x + 9.0 * len(zh), 12.0), f" / {en}", fontname="helv", fontsize=9, color=_LABEL)
        data: bytes = out.tobytes(garbage=3, deflate=True)
    finally:
        out.close()
        old_doc.close()
        new_doc.close()
    return data
