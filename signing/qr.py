"""QR codes drawn as PDF vector graphics (二维码矢量绘制).

The verification link on the result is drawn as filled squares in the page's content stream:
no raster image, sharp at every zoom, and nothing that a later signature could be affected by.
"""

from __future__ import annotations

from dataclasses import dataclass

import segno

from signing.errors import SigningProblem
from signing.result.mupdf import Page, Rect, pymupdf

QUIET_ZONE = 4
"""Light modules around the symbol, as ISO/IEC 18004 asks."""


class QrUnencodable(SigningProblem, ValueError):
    """The text does not fit into a QR code."""


@dataclass(frozen=True)
class QrCode:
    """A QR symbol as a grid of modules."""

    data: str
    """The encoded text (the verification URL)."""
    modules: tuple[tuple[bool, ...], ...]
    """Rows of modules, top to bottom, ``True`` for dark; without the quiet zone."""

    @property
    def size(self) -> int:
        """Modules per side, without the quiet zone."""
        return len(self.modules)

    def side(self, module: float) -> float:
        """Side length in points of the drawn symbol including its quiet zone."""
        return (self.size + 2 * QUIET_ZONE) * module


def make_qr(data: str) -> QrCode:
    """Encode ``data`` with error correction level M (about 15 % of the symbol may be damaged)."""
    if not data:
        raise QrUnencodable("二维码内容为空", "The QR code content is empty")
    try:
        symbol = segno.make_qr(data, error="m", boost_error=False)
    except (segno.DataOverflowError, ValueError) as exc:
        raise QrUnencodable(f"内容无法编码为二维码：{exc}", f"The text cannot be encoded as a QR code: {exc}") from exc
    return QrCode(data, tuple(tuple(bool(cell) for cell in row) for row in symbol.matrix))


def draw_qr(page: Page, code: QrCode, top_left: tuple[float, float], module: float) -> Rect:
    """Draw the symbol with its quiet zone at ``top_left`` (page coordinates, origin top-left).

    Runs of dark modules in a row become one rectangle each, which keeps the content stream short.
    Returns the rectangle covered, quiet zone included.
    """
    x0, y0 = top_left
    area = pymupdf.Rect(x0, y0, x0 + code.side(module), y0 + code.side(module))
    shape = page.new_shape()
    shape.draw_rect(area)
    shape.finish(color=None, fill=(1, 1, 1), width=0)
    origin_x = x0 + QUIET_ZONE * module
    origin_y = y0 + QUIET_ZONE * module
    for row_index, row in enumerate(code.modules):
        column = 0
        while column < code.size:
            if not row[column]:
                column += 1
                continue
            start = column
            while column < code.size and row[column]:
                column += 1
            top = origin_y + row_index * module
            shape.draw_rect(pymupdf.Rect(origin_x + start * module, top, origin_x + column * module, top + module))
    shape.finish(color=None, fill=(0, 0, 0), width=0)
    shape.commit()
    return area


def qr_document(code: QrCode) -> pymupdf.Document:
    """A one-page PDF holding only the symbol (one point per module, quiet zone included).

    Placed with ``show_pdf_page`` on many pages it becomes one shared form object: the symbol is
    stored once however many sheets carry it.
    """
    doc = pymupdf.open()
    page = doc.new_page(width=code.side(1.0), height=code.side(1.0))
    draw_qr(page, code, (0.0, 0.0), 1.0)
    return doc
