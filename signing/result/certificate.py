"""Page 1 of the result: the certificate (施工图联合审查合格书), A4 portrait."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from signing.qr import QrCode, draw_qr
from signing.result.model import CertificateOverflow, ResultData, SealSlot
from signing.result.mupdf import Document, Page, pymupdf
from signing.result.table import HEADER_FILL, Cell, draw_row, frame
from signing.result.typeset import BLACK, SEAL_RED, Face, Typesetter, fit, wrap

A4_WIDTH, A4_HEIGHT = 595.0, 842.0
MARGIN = 56.0
TITLE = "施工图联合审查合格书"
CONTENT_WIDTH = A4_WIDTH - 2 * MARGIN
ROW = 19.0
MAX_SEALS = 4


def chinese_date(day: dt.date) -> str:
    """``2026年11月27日``."""
    return f"{day.year}年{day.month}月{day.day}日"


def _area(value: float) -> str:
    return f"{value:,.2f} m²"


def seal_slots(departments: Sequence[tuple[str, str]]) -> tuple[SealSlot, ...]:
    """Seal boxes in a band at the foot of the certificate for ``(field_name, department)`` pairs.

    One row of up to four boxes, each large enough for a 42 mm round seal with the signer's name
    under it.
    """
    count = len(departments)
    if not 1 <= count <= MAX_SEALS:
        raise CertificateOverflow(
            f"合格书可容纳 1 至 {MAX_SEALS} 个签章", f"The certificate holds 1 to {MAX_SEALS} seals"
        )
    gap = 16.0
    width = min(140.0, (CONTENT_WIDTH - gap * (count - 1)) / count)
    height = 124.0
    left = (A4_WIDTH - (count * width + (count - 1) * gap)) / 2
    # Origin lower-left, as signature fields are given; the row sits above the footer line.
    y0 = 50.0
    slots = []
    for index, (field_name, department) in enumerate(departments):
        x0 = left + index * (width + gap)
        slots.append(SealSlot(department, field_name, (round(x0), round(y0), round(x0 + width), round(y0 + height))))
    return tuple(slots)


def draw_certificate(
    doc: Document, typesetter: Typesetter, data: ResultData, slots: Sequence[SealSlot], qr: QrCode
) -> Page:
    """Lay out the certificate as the document's next page."""
    page = doc.new_page(width=A4_WIDTH, height=A4_HEIGHT)
    typesetter.text(page, (A4_WIDTH / 2, 98), TITLE, Face.TITLE, 26, align="centre")
    typesetter.text(page, (A4_WIDTH / 2, 122), f"审查编号：{data.review_number}", Face.LABEL, 10.5, align="centre")
    page.draw_line((MARGIN, 134), (A4_WIDTH - MARGIN, 134), color=SEAL_RED, width=1.6)
    page.draw_line((MARGIN, 137.5), (A4_WIDTH - MARGIN, 137.5), color=SEAL_RED, width=0.5)

    y = _project_table(page, typesetter, data, 162)
    y = _tracks_table(page, typesetter, data, y + 22)
    y = _statement(page, typesetter, data, y + 22)
    y = _issue_block(page, typesetter, data, qr, y + 8)

    band_top = min(A4_HEIGHT - slot.box[3] for slot in slots)
    if y > band_top - 6:
        raise CertificateOverflow(
            "合格书内容过多，与签章区域重叠（请减少专项或签章数量）",
            "The certificate's content runs into the seal boxes (fewer tracks or seals are needed)",
        )
    for slot in slots:
        x0, y0, x1, y1 = slot.box
        rect = pymupdf.Rect(x0, A4_HEIGHT - y1, x1, A4_HEIGHT - y0)
        page.draw_rect(rect, color=SEAL_RED, width=0.8, dashes="[3 2] 0")
        typesetter.text(
            page, (rect.x0 + rect.width / 2, rect.y1 + 12), slot.department, Face.LABEL, 8.5, align="centre"
        )
    typesetter.text(page, (A4_WIDTH / 2, A4_HEIGHT - 22), "联图 Liantu 数字化多图联审", Face.LABEL, 7, align="centre")
    return page


def _heading(page: Page, typesetter: Typesetter, y: float, text: str) -> float:
    typesetter.text(page, (MARGIN, y), text, Face.HEADING, 12)
    return y + 8


def _project_table(page: Page, typesetter: Typesetter, data: ResultData, y: float) -> float:
    top = _heading(page, typesetter, y, "一、工程概况")
    widths = [80.0, CONTENT_WIDTH / 2 - 80, 80.0, CONTENT_WIDTH / 2 - 80]

    def label(text: str) -> Cell:
        return Cell(text, Face.LABEL, 9.5, align="centre", fill=HEADER_FILL)

    def value(text: str, span: int = 1) -> Cell:
        return Cell(text, Face.BODY, 10, span=span, max_lines=2)

    rows = [
        [label("项目名称"), value(data.project_name, 3)],
        [label("项目代码"), value(data.project_code), label("建筑用途"), value(data.building_use)],
        [label("建设地点"), value(data.address, 3)],
        [label("建设单位"), value(data.construction_unit, 3)],
        [label("设计单位"), value(data.design_institute, 3)],
        [label("地上层数"), value(f"{data.floors_above} 层"), label("地下层数"), value(f"{data.floors_below} 层")],
        [
            label("建筑高度"),
            value(f"{data.height_m:.2f} m"),
            label("总建筑面积"),
            value(_area(data.gross_floor_area_m2)),
        ],
        [
            label("耐火等级"),
            value(data.fire_resistance_rating),
            label("人防建筑面积"),
            value(_area(data.civil_air_defence_area_m2) if data.civil_air_defence_area_m2 else "无"),
        ],
    ]
    bottom = top
    for row in rows:
        bottom = draw_row(page, typesetter, left=MARGIN, top=bottom, widths=widths, cells=row, height=ROW)
    frame(page, pymupdf.Rect(MARGIN, top, A4_WIDTH - MARGIN, bottom))
    return bottom


def _tracks_table(page: Page, typesetter: Typesetter, data: ResultData, y: float) -> float:
    top = _heading(page, typesetter, y, "二、各专项审查结论")
    widths = [86.0, 46.0, CONTENT_WIDTH - 86 - 46 - 70 - 84 - 36, 70.0, 84.0, 36.0]
    header = [
        Cell(text, Face.LABEL, 9.5, align="centre", fill=HEADER_FILL)
        for text in ("审查专项", "结论", "审查人员", "专项负责人", "办结日期", "轮次")
    ]
    bottom = draw_row(page, typesetter, left=MARGIN, top=top, widths=widths, cells=header, height=ROW)
    for track in data.tracks:
        cells = [
            Cell(track.name_zh, Face.BODY, 10, align="centre", max_lines=2),
            Cell(track.conclusion, Face.HEADING, 10, align="centre"),
            Cell("、".join(track.reviewers), Face.BODY, 10, max_lines=2),
            Cell(track.lead, Face.BODY, 10, align="centre"),
            Cell(chinese_date(track.concluded_on), Face.BODY, 9.5, align="centre"),
            Cell(str(track.rounds), Face.BODY, 10, align="centre"),
        ]
        bottom = draw_row(page, typesetter, left=MARGIN, top=bottom, widths=widths, cells=cells, height=ROW + 2)
    frame(page, pymupdf.Rect(MARGIN, top, A4_WIDTH - MARGIN, bottom))
    return bottom


def _statement(page: Page, typesetter: Typesetter, data: ResultData, y: float) -> float:
    _heading(page, typesetter, y, "三、结果互认")
    tracks = "、".join(track.name_zh for track in data.tracks)
    text = (
        f"本项目施工图设计文件已经{tracks}共 {len(data.tracks)} 个专项并联审查，各专项结论均为合格。"
        "本合格书连同所附图纸目录及加盖审查章的图纸，经各审查部门加盖电子签章后生效；"
        "各部门对所列图纸的审查结果相互认可，办理后续许可时不再重复审查。"
        "图纸以目录所列 SHA-256 摘要为准，任何改动均使电子签章失效。"
    )
    size = 10.5
    leading = 17.0
    # First-line indent of two characters, as in official Chinese documents.
    lines = wrap("\u3000\u3000" + text, Face.BODY, size, CONTENT_WIDTH)
    baseline = y + 22
    for line in lines:
        typesetter.text(page, (MARGIN, baseline), line, Face.BODY, size)
        baseline += leading
    return baseline - leading + 4


def _issue_block(page: Page, typesetter: Typesetter, data: ResultData, qr: QrCode, y: float) -> float:
    module = min(2.0, 64.0 / qr.side(1.0))
    area = draw_qr(page, qr, (MARGIN - QUIET_OFFSET * module, y), module)
    text_x = area.x1 + 6
    typesetter.text(page, (text_x, y + 24), "扫码核验电子签章与图纸摘要", Face.LABEL, 8.5)
    url_lines, url_size = fit(data.verification_url, Face.MONO, 7, A4_WIDTH - MARGIN - 110 - text_x, max_lines=3)
    for index, line in enumerate(url_lines):
        typesetter.text(page, (text_x, y + 38 + index * (url_size + 2)), line, Face.MONO, url_size)
    typesetter.text(page, (A4_WIDTH - MARGIN, y + 24), "签发日期", Face.LABEL, 9.5, align="right")
    typesetter.text(page, (A4_WIDTH - MARGIN, y + 44), chinese_date(data.issued_on), Face.BODY, 11, align="right")
    page.draw_line((MARGIN, area.y1 + 6), (A4_WIDTH - MARGIN, area.y1 + 6), color=BLACK, width=0.3)
    return float(area.y1) + 6


QUIET_OFFSET = 4
"""The quiet zone hangs into the left margin so the dark modules align with the text column."""
