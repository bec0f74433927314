"""Approved sheets as they are, each with a burned-in review stamp (审查合格章) and the QR code.

The sheet page is placed as a vector form object at its own size (A0/A1 stay A0/A1). The stamp is
content, not an annotation, so that no later change of annotations can touch a signature. It goes
into the emptiest frame corner, top right first, because the title block (标题栏) sits bottom right
on drawings made to GB/T 50001.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from signing.qr import QrCode, qr_document
from signing.result.certificate import chinese_date
from signing.result.model import ApprovedSheet, ResultData, ResultLimits, SheetUnreadable
from signing.result.mupdf import Document, Page, Rect, pymupdf
from signing.result.typeset import SEAL_RED, Face, Typesetter

STAMP_WIDTH = 196.0
STAMP_HEIGHT = 78.0
CORNER_ORDER = ("top_right", "bottom_left", "top_left", "bottom_right")
"""Corners tried in turn; bottom right is the title block's place and comes last."""
EMPTY_ENOUGH = 0.01
"""A corner with less than this share of inked pixels counts as empty."""
PROBE_DPI = 12


@dataclass(frozen=True)
class StampPlacement:
    """Where the review stamp went on one sheet."""

    corner: str
    """One of :data:`CORNER_ORDER`."""
    rect: Rect
    """The stamp's rectangle in page coordinates (origin top-left)."""
    ink: float
    """Share of inked pixels the stamp covers, 0..1."""


A3_AREA = 1191.0 * 842.0
BINDING_MARGIN = 80.0
"""Left inset: the 25 mm binding margin (装订边) of GB/T 50001 frames, plus clearance."""


def stamp_scale(page_rect: Rect) -> float:
    """Stamps grow with the sheet, up to twice their A3 size on A1 and A0, so they read at the same zoom."""
    return float(min(2.0, max(1.0, (page_rect.width * page_rect.height / A3_AREA) ** 0.5)))


def candidate_rects(page_rect: Rect) -> dict[str, Rect]:
    """The stamp rectangle in every corner, inside the drawing frame."""
    scale = stamp_scale(page_rect)
    width, height = STAMP_WIDTH * scale, STAMP_HEIGHT * scale
    # Clear of the frame line: 10 mm margins on A0–A2, 5 mm on A3/A4, plus clearance.
    inset = 42.0 if max(page_rect.width, page_rect.height) > 1300 else 24.0
    left, right = BINDING_MARGIN, page_rect.width - inset - width
    top, bottom = inset, page_rect.height - inset - height
    corners = {"top_right": (right, top), "bottom_left": (left, bottom), "top_left": (left, top)}
    corners["bottom_right"] = (right, bottom)
    return {name: pymupdf.Rect(x, y, x + width, y + height) for name, (x, y) in corners.items()}


def choose_corner(page: Page) -> StampPlacement:
    """The first corner in :data:`CORNER_ORDER` that is empty enough, else the least inked one."""
    pix = page.get_pixmap(dpi=PROBE_DPI, colorspace=pymupdf.csGRAY, alpha=False)
    scale = PROBE_DPI / 72
    samples = pix.samples
    placements = []
    for name, rect in candidate_rects(page.rect).items():
        x0, x1 = max(0, int(rect.x0 * scale)), min(pix.width, int(rect.x1 * scale) + 1)
        y0, y1 = max(0, int(rect.y0 * scale)), min(pix.height, int(rect.y1 * scale) + 1)
        inked = total = 0
        for row in range(y0, y1):
            line = samples[row * pix.stride + x0 : row * pix.stride + x1]
            total += len(line)
            inked += sum(1 for value in line if value < 235)
        placement = StampPlacement(name, rect, inked / total if total else 1.0)
        if placement.ink < EMPTY_ENOUGH:
            return placement
        placements.append(placement)
    return min(placements, key=lambda p: p.ink)


def draw_stamp(page: Page, typesetter: Typesetter, data: ResultData, qr: Document, rect: Rect) -> None:
    """The review stamp: red double frame, 审查合格, review number and date, and the QR code (``qr``
    is the symbol as made by :func:`signing.qr.qr_document`)."""
    k = rect.height / STAMP_HEIGHT
    page.draw_rect(rect, color=SEAL_RED, fill=(1, 1, 1), width=1.6 * k, fill_opacity=0.88)
    inner = pymupdf.Rect(rect.x0 + 3 * k, rect.y0 + 3 * k, rect.x1 - 3 * k, rect.y1 - 3 * k)
    page.draw_rect(inner, color=SEAL_RED, width=0.5 * k)
    side = (STAMP_HEIGHT - 10) * k
    area = pymupdf.Rect(rect.x1 - 5 * k - side, rect.y0 + 5 * k, rect.x1 - 5 * k, rect.y0 + 5 * k + side)
    page.show_pdf_page(area, qr, 0)
    centre = (rect.x0 + area.x0) / 2
    number_size = min(7.5, 7.5 * 24 / max(24, len(data.review_number) + 3))
    lines = (
        (30, "审查合格", Face.HEADING, 19.0),
        (46, "施工图联合审查", Face.LABEL, 7.5),
        (59, f"编号 {data.review_number}", Face.LABEL, number_size),
        (71, chinese_date(data.issued_on), Face.LABEL, 7.5),
    )
    for offset, text, face, size in lines:
        typesetter.text(page, (centre, rect.y0 + offset * k), text, face, size * k, colour=SEAL_RED, align="centre")


def _open_sheet_pdf(sheet: ApprovedSheet, cache: dict[str, pymupdf.Document]) -> Document:
    if sheet.sheet_sha256 in cache:
        return cache[sheet.sheet_sha256]
    if hashlib.sha256(sheet.sheet_pdf).hexdigest() != sheet.sheet_sha256:
        raise SheetUnreadable(
            f"图纸 {sheet.number} 的 PDF 与其 SHA-256 不符",
            f"The PDF of sheet {sheet.number} does not match its SHA-256",
        )
    try:
        source = pymupdf.open(stream=sheet.sheet_pdf, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise SheetUnreadable(
            f"图纸 {sheet.number} 的 PDF 无法读取：{exc}", f"The PDF of sheet {sheet.number} cannot be read: {exc}"
        ) from exc
    if source.needs_pass or source.is_encrypted:
        source.close()
        raise SheetUnreadable(f"图纸 {sheet.number} 的 PDF 已加密", f"The PDF of sheet {sheet.number} is encrypted")
    cache[sheet.sheet_sha256] = source
    return source


def append_sheets(
    doc: Document,
    typesetter: Typesetter,
    data: ResultData,
    *,
    sheets: Sequence[ApprovedSheet],
    qr: QrCode,
    limits: ResultLimits,
) -> list[StampPlacement]:
    """Append every sheet page with its stamp; returns where each stamp went."""
    cache: dict[str, pymupdf.Document] = {}
    placements = []
    symbol = qr_document(qr)
    try:
        for sheet in sheets:
            source = _open_sheet_pdf(sheet, cache)
            if not 0 <= sheet.page_index < source.page_count:
                raise SheetUnreadable(
                    f"图纸 {sheet.number} 的页码 {sheet.page_index} 超出其 PDF 的页数 {source.page_count}",
                    f"Page {sheet.page_index} of sheet {sheet.number} is outside its PDF ({source.page_count} pages)",
                )
            source_page = source[sheet.page_index]
            if source_page.rotation:
                # The form object shows the unrotated content: turn the content itself so the sheet
                # appears as a viewer shows it.
                source_page.remove_rotation()
            size = source_page.rect
            if (
                not (limits.min_page_side <= min(size.width, size.height))
                or max(size.width, size.height) > limits.max_page_side
            ):
                raise SheetUnreadable(
                    f"图纸 {sheet.number} 的幅面 {size.width:.0f}×{size.height:.0f} pt 不在允许范围内",
                    f"Sheet {sheet.number} has an unsupported page size {size.width:.0f}×{size.height:.0f} pt",
                )
            page = doc.new_page(width=size.width, height=size.height)
            page.show_pdf_page(page.rect, source, sheet.page_index)
            placement = choose_corner(page)
            draw_stamp(page, typesetter, data, symbol, placement.rect)
            placements.append(placement)
    finally:
        for source in cache.values():
            source.close()
        symbol.close()
    return placements
