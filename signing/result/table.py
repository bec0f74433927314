"""Ruled tables with thin lines, as on printed government forms (表格)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from signing.result.mupdf import Page, Rect, pymupdf
from signing.result.typeset import BLACK, Face, Typesetter, fit

RULE = 0.5
"""Line width of inner rules in points."""
HEADER_FILL = (0.92, 0.92, 0.92)


@dataclass(frozen=True)
class Cell:
    """One table cell."""

    text: str
    """Content; wrapped and, if needed, shrunk to fit."""
    face: Face = Face.BODY
    """Face of the content."""
    size: float = 10.0
    """Preferred font size in points."""
    span: int = 1
    """Number of columns the cell spans."""
    align: str = "left"
    """``left``, ``centre`` or ``right``."""
    max_lines: int = 1
    """Most lines before the font is shrunk."""
    fill: tuple[float, float, float] | None = None
    """Background colour, or none."""


def draw_row(
    page: Page,
    typesetter: Typesetter,
    *,
    left: float,
    top: float,
    widths: Sequence[float],
    cells: Sequence[Cell],
    height: float,
    padding: float = 4.0,
) -> float:
    """Draw one row of cells from ``top``; returns the row's bottom."""
    shape = page.new_shape()
    column = 0
    x = left
    placed: list[tuple[float, float, Cell]] = []
    for cell in cells:
        width = sum(widths[column : column + cell.span])
        shape.draw_rect(pymupdf.Rect(x, top, x + width, top + height))
        shape.finish(color=BLACK, fill=cell.fill, width=RULE)
        placed.append((x, width, cell))
        x += width
        column += cell.span
    shape.commit()
    for x, width, cell in placed:
        lines, size = fit(cell.text, cell.face, cell.size, width - 2 * padding, max_lines=cell.max_lines)
        leading = size * 1.25
        block_top = top + (height - leading * len(lines)) / 2
        for index, line in enumerate(lines):
            baseline = block_top + index * leading + (leading - size) / 2 + size * 0.86
            anchor = {"left": x + padding, "centre": x + width / 2, "right": x + width - padding}[cell.align]
            typesetter.text(page, (anchor, baseline), line, cell.face, size, align=cell.align)
    return top + height


def frame(page: Page, rect: Rect, width: float = 1.0) -> None:
    """A heavier outer border around a finished table."""
    page.draw_rect(rect, color=BLACK, width=width)
