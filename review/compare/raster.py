"""Pixel comparison of two PDF pages (图面比对), for PDF sheets and as a check on any rendered sheet.

Both pages are rendered in grey at a modest resolution, aligned at their top left corner and smoothed a
little. A pixel of the new page counts as added ink when it is clearly darker (by ``threshold`` grey
levels) than every old pixel within ``tolerance_px``; removed ink is the same the other way round.
Comparing against the darkest neighbour, not the same pixel, is what keeps the antialiasing of a line
that moved by a pixel or less from counting as a change, while a moved door or a new line of text
still does. The same tolerance hides new ink drawn within it of old ink: in densely drawn areas only
part of an addition may be found. For DXF sheets :mod:`review.compare.entities` is exact.

Changed pixels are counted in small square cells; 8-connected groups of cells with at least
``min_pixels`` changed pixels become boxes, which :func:`~review.compare.regions.merge_rectangles` unites.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pymupdf as _pymupdf

from review.compare.errors import PageMissing, PageTooLarge
from review.compare.regions import Box, ChangeKind, ChangeSet, merge_rectangles
from review.sheets.findings import Finding, Severity
from review.sheets.pdf_source import load_document

# PyMuPDF's annotations are partial; it is handled as untyped at this boundary.
pymupdf: Any = _pymupdf

Gray = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

_ADDED = 1
_REMOVED = 2


@dataclass(frozen=True)
class RasterCompareOptions:
    """How two pages are compared pixel by pixel."""

    dpi: float = 96.0
    """Resolution of the comparison rasters. At 96 dpi a lone added or removed line of 0.5 pt (0.18 mm)
    is found; at 72 dpi only from 0.6 pt, at 120 dpi from 0.37 pt (0.13 mm)."""
    threshold: int = 64
    """Grey levels (0–255) a pixel must be darker than its darkest counterpart nearby to count as ink
    added or removed (after smoothing)."""
    smooth_px: int = 3
    """Edge (pixels) of the box filter both rasters are averaged with first; 1 turns it off. A line that
    straddles two pixel rows in one rendering (two half-grey rows) and falls on one row in the other (one
    dark row), or two close lines that merge into one row, keep their mean over 3 x 3 pixels. The price:
    a lone line thinner than a pixel would be diluted below ``threshold``, were it not drawn at least
    :attr:`min_line_px` wide."""
    tolerance_px: int = 2
    """How far (pixels) ink may shift between renderings and still count as the same ink; 2 px at 96 dpi
    is 1.5 pt (0.5 mm on paper)."""
    cell_px: int = 4
    """Edge (pixels) of the cells changed pixels are counted in before grouping."""
    min_pixels: int = 8
    """Groups of cells with fewer changed pixels are noise and dropped."""
    merge_distance_pt: float = 12.0
    """Changed regions closer than this (points) are united into one rectangle."""
    max_rectangles: int = 50
    """Most rectangles reported; more are merged further."""
    antialias: int = 2
    """MuPDF antialiasing bits (0–8) while rendering. Two bits render a dense A1 sheet two to three times
    as fast as eight. Alone, they make glyphs and hatch lines of real drawings change shape with sub-pixel
    shifts (dozens of false regions on a real site plan); :attr:`min_line_px`, :attr:`threshold` and
    :attr:`opening_px` together take that noise out again (``tests/review/compare/test_pdf_samples.py``
    compares both settings on the shared sample drawings)."""
    min_line_px: float = 1.0
    """Lines thinner than this (pixels) are drawn this wide while rendering (MuPDF's minimum line width).
    A lone hairline then keeps a full pixel of ink, which the 2-bit coverage of a 0.5 pt line would not:
    lines down to 0.3 pt are found at 96 dpi, and :attr:`threshold` can be high enough to ignore the
    coarse antialiasing."""
    opening_px: int = 2
    """Edge (pixels) of the square a changed mark must fill somewhere to count (a morphological opening of
    the changed pixels): one-pixel slivers along glyph and hatch edges go, a changed line (smoothed over
    :attr:`smooth_px`) stays. 0 or 1 turns it off."""
    max_pixels: int = 60_000_000
    """Refuse pages whose raster would be larger than this many pixels (A0 at 72 dpi is 4.8 M)."""


def _render(pdf: bytes, page_number: int, options: RasterCompareOptions) -> tuple[Gray, float, float]:
    """The page as grey pixels (white 255), and its width and height in points."""
    document = load_document(pdf)
    try:
        if not 0 <= page_number < document.page_count:
            raise PageMissing(
                f"PDF只有 {document.page_count} 页，没有第 {page_number + 1} 页",
                f"the PDF has {document.page_count} pages, not a page {page_number + 1}",
            )
        page = document[page_number]
        width, height = float(page.rect.width), float(page.rect.height)
        zoom = options.dpi / 72.0
        if width * zoom * height * zoom > options.max_pixels:
            raise PageTooLarge(
                f"页面过大（{width:.0f} × {height:.0f} 点），无法在 {options.dpi:.0f} dpi 下比对",
                f"the page is too large ({width:.0f} x {height:.0f} pt) to compare at {options.dpi:.0f} dpi",
            )
        pix = _pixmap(page, zoom, options.antialias, options.min_line_px)
        samples = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)
        return samples[:, : pix.width].copy(), width, height
    finally:
        document.close()


def _pixmap(page: Any, zoom: float, antialias: int, min_line_px: float = 0.0) -> Any:
    """The page in grey at ``zoom``; MuPDF's antialiasing level is process-wide, so it is given back."""
    before = pymupdf.TOOLS.show_aa_level()
    pymupdf.TOOLS.set_aa_level(antialias)
    pymupdf.TOOLS.set_graphics_min_line_width(min_line_px)
    try:
        return page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False)
    finally:
        pymupdf.TOOLS.set_aa_level(before["graphics"])
        pymupdf.TOOLS.set_graphics_min_line_width(before["graphics_min_line_width"])


def _pad(gray: Gray, height: int, width: int) -> Gray:
    """``gray`` on white paper of ``height`` x ``width`` pixels, aligned at the top left."""
    if gray.shape == (height, width):
        return gray
    out = np.full((height, width), 255, dtype=np.uint8)
    out[: gray.shape[0], : gray.shape[1]] = gray
    return out


def _darkest_nearby(gray: Gray, radius: int) -> Gray:
    """Minimum filter over a (2r+1) square, built from shifted views (no image library needed).

    The square's minimum is the minimum over its rows' minima: a pass along the rows, then one along the
    columns, 4r array operations instead of (2r+1)².
    """
    if radius <= 0:
        return gray
    h, w = gray.shape
    padded = np.pad(gray, radius, constant_values=255)
    across = padded[:, :w].copy()
    for dx in range(1, 2 * radius + 1):
        np.minimum(across, padded[:, dx : dx + w], out=across)
    out = across[:h].copy()
    for dy in range(1, 2 * radius + 1):
        np.minimum(out, across[dy : dy + h], out=out)
    return out


def _smooth(gray: Gray, size: int) -> Gray:
    """Mean over a ``size`` x ``size`` box (anchored at the top left for even sizes; both rasters shift alike)."""
    if size <= 1:
        return gray
    h, w = gray.shape
    padded = np.pad(gray, ((0, size - 1), (0, size - 1)), mode="edge")
    # Sums along the rows, then along the columns (the box sum is separable): 2(size - 1) additions, not size².
    across = padded[:, :w].astype(np.uint16)
    for dx in range(1, size):
        across += padded[:, dx : dx + w]
    total = across[:h].copy()
    for dy in range(1, size):
        total += across[dy : dy + h]
    total //= size * size
    smoothed: Gray = total.astype(np.uint8)
    return smoothed


def changed_pixels(old: Gray, new: Gray, options: RasterCompareOptions) -> tuple[Mask, Mask]:
    """Pixels of added ink and of removed ink, for two grey rasters of the same shape."""
    old = _smooth(old, options.smooth_px)
    new = _smooth(new, options.smooth_px)
    t = np.int16(options.threshold)
    old_i = old.astype(np.int16)
    new_i = new.astype(np.int16)
    added = new_i < _darkest_nearby(old, options.tolerance_px).astype(np.int16) - t
    removed = old_i < _darkest_nearby(new, options.tolerance_px).astype(np.int16) - t
    if options.opening_px > 1:
        added, removed = _opening(added, options.opening_px), _opening(removed, options.opening_px)
    return added, removed


def _opening(mask: Mask, size: int) -> Mask:
    """Pixels of ``mask`` that lie in some ``size`` x ``size`` square of set pixels (erosion, then dilation)."""
    h, w = mask.shape
    if h < size or w < size:
        return np.zeros_like(mask)
    eroded = mask[: h - size + 1, : w - size + 1].copy()
    for dy in range(size):
        for dx in range(size):
            if dy or dx:
                eroded &= mask[dy : h - size + 1 + dy, dx : w - size + 1 + dx]
    out = np.zeros_like(mask)
    for dy in range(size):
        for dx in range(size):
            out[dy : h - size + 1 + dy, dx : w - size + 1 + dx] |= eroded
    return out


def _cell_counts(mask: Mask, cell: int) -> npt.NDArray[np.int32]:
    h, w = mask.shape
    rows, cols = -(-h // cell), -(-w // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=np.uint8 if cell * cell < 256 else np.int32)
    padded[:h, :w] = mask
    # Strided slices added along the rows of each cell, then down its columns, in bytes while a cell's count
    # fits: several times faster than numpy's sum over the axes of the reshaped array.
    across = padded[:, ::cell].copy()
    for dx in range(1, cell):
        across += padded[:, dx::cell]
    total = across[::cell].copy()
    for dy in range(1, cell):
        total += across[dy::cell]
    counts: npt.NDArray[np.int32] = total.astype(np.int32)
    return counts


def _groups(counts: npt.NDArray[np.int32], kinds: npt.NDArray[np.uint8], min_pixels: int) -> list[tuple[Box, int]]:
    """8-connected groups of non-empty cells: (cell box, kind bits), noise groups dropped."""
    marked = {(int(r), int(c)) for r, c in zip(*np.nonzero(counts), strict=True)}
    groups = []
    while marked:
        start = marked.pop()
        queue = deque([start])
        r0 = r1 = start[0]
        c0 = c1 = start[1]
        total = int(counts[start])
        bits = int(kinds[start])
        while queue:
            r, c = queue.popleft()
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    cell = (r + dr, c + dc)
                    if cell in marked:
                        marked.discard(cell)
                        queue.append(cell)
                        total += int(counts[cell])
                        bits |= int(kinds[cell])
                        r0, r1 = min(r0, cell[0]), max(r1, cell[0])
                        c0, c1 = min(c0, cell[1]), max(c1, cell[1])
        if total >= min_pixels:
            groups.append(((float(c0), float(r0), float(c1 + 1), float(r1 + 1)), bits))
    return groups


def _kind(bits: int) -> ChangeKind:
    if bits == _ADDED:
        return ChangeKind.ADDED
    if bits == _REMOVED:
        return ChangeKind.REMOVED
    return ChangeKind.CHANGED


def page_size_finding(old: tuple[float, float], new: tuple[float, float], page: int) -> Finding | None:
    """``PAGE_SIZE_CHANGED`` when the two pages differ by more than a point in width or height."""
    if abs(old[0] - new[0]) <= 1.0 and abs(old[1] - new[1]) <= 1.0:
        return None
    mm = 25.4 / 72.0
    was = f"{old[0] * mm:.0f} × {old[1] * mm:.0f} mm"
    now = f"{new[0] * mm:.0f} × {new[1] * mm:.0f} mm"
    return Finding(
        "PAGE_SIZE_CHANGED",
        Severity.WARNING,
        f"图纸幅面已改变（{was} → {now}），两版按左上角对齐比对。",
        f"The sheet size changed ({was} -> {now}); the revisions were compared aligned at the top left.",
        page,
    )


def compare_rasters(old: Gray, new: Gray, scale: float, options: RasterCompareOptions) -> list[tuple[Box, ChangeKind]]:
    """Changed regions of two grey rasters (any shapes), in points; ``scale`` is points per pixel."""
    height = max(old.shape[0], new.shape[0])
    width = max(old.shape[1], new.shape[1])
    added, removed = changed_pixels(_pad(old, height, width), _pad(new, height, width), options)
    cell = max(options.cell_px, 1)
    added_counts = _cell_counts(added, cell)
    removed_counts = _cell_counts(removed, cell)
    kinds = ((added_counts > 0) * _ADDED + (removed_counts > 0) * _REMOVED).astype(np.uint8)
    found = []
    for (c0, r0, c1, r1), bits in _groups(added_counts + removed_counts, kinds, options.min_pixels):
        # One cell of margin: the threshold leaves the faint outer edge of changed ink out of the cells, and
        # an outline drawn on the ink's last pixel would hide it.
        x0, y0 = max(c0 - 1, 0) * cell * scale, max(r0 - 1, 0) * cell * scale
        x1, y1 = min((c1 + 1) * cell, width) * scale, min((r1 + 1) * cell, height) * scale
        found.append(((x0, y0, x1, y1), _kind(bits)))
    return found


@dataclass(frozen=True)
class PageComparison:
    """A comparison with the grey rasters it was made from, so that pictures of it need no second render."""

    changes: ChangeSet
    """The changed regions found."""
    old: Gray
    """The old page in grey (white 255), as compared."""
    new: Gray
    """The new page in grey, as compared."""
    points_per_pixel: float
    """Sheet points per raster pixel (72 / dpi)."""


def render_grey(pdf: bytes, page: int, options: RasterCompareOptions | None = None) -> tuple[Gray, float, float]:
    """Page ``page`` of ``pdf`` in grey as the comparison renders it, with its width and height in points."""
    return _render(pdf, page, options or RasterCompareOptions())


def compare_pages(
    old_pdf: bytes,
    old_page: int,
    new_pdf: bytes,
    new_page: int,
    options: RasterCompareOptions | None = None,
) -> PageComparison:
    """:func:`raster_changes`, keeping the two grey rasters."""
    options = options or RasterCompareOptions()
    old, old_w, old_h = _render(old_pdf, old_page, options)
    new, new_w, new_h = _render(new_pdf, new_page, options)
    findings = []
    size_finding = page_size_finding((old_w, old_h), (new_w, new_h), new_page)
    if size_finding is not None:
        findings.append(size_finding)
    found = compare_rasters(old, new, 72.0 / options.dpi, options)
    rectangles = merge_rectangles(found, options.merge_distance_pt, options.max_rectangles)
    changes = ChangeSet(
        rectangles=rectangles,
        method="raster",
        added=sum(1 for r in rectangles if r.kind is ChangeKind.ADDED),
        removed=sum(1 for r in rectangles if r.kind is ChangeKind.REMOVED),
        changed=sum(1 for r in rectangles if r.kind is ChangeKind.CHANGED),
        findings=tuple(findings),
        page_width=new_w,
        page_height=new_h,
    )
    return PageComparison(changes, old, new, 72.0 / options.dpi)


def raster_changes(
    old_pdf: bytes,
    old_page: int,
    new_pdf: bytes,
    new_page: int,
    options: RasterCompareOptions | None = None,
) -> ChangeSet:
    """Where page ``new_page`` of ``new_pdf`` differs visibly from page ``old_page`` of ``old_pdf``."""
    return compare_pages(old_pdf, old_page, new_pdf, new_page, options).changes
