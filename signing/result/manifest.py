"""The drawing manifest (图纸目录): every approved sheet with its round and both SHA-256 digests."""

from __future__ import annotations

import math
from collections.abc import Sequence

from signing.result.certificate import A4_HEIGHT, A4_WIDTH
from signing.result.model import ApprovedSheet, ResultData
from signing.result.mupdf import Document, pymupdf
from signing.result.table import HEADER_FILL, Cell, draw_row, frame
from signing.result.typeset import Face, Typesetter

MARGIN = 40.0
TABLE_TOP = 104.0
HEADER_HEIGHT = 26.0
ROW_HEIGHT = 26.0
FOOTER_SPACE = 50.0
WIDTHS = (28.0, 78.0, A4_WIDTH - 2 * MARGIN - 28 - 78 - 28 - 250, 28.0, 250.0)
ROWS_PER_PAGE = int((A4_HEIGHT - FOOTER_SPACE - TABLE_TOP - HEADER_HEIGHT) // ROW_HEIGHT)


def manifest_page_count(sheet_count: int) -> int:
    """Pages the manifest takes for ``sheet_count`` sheets."""
    return max(1, math.ceil(sheet_count / ROWS_PER_PAGE))


def draw_manifest(doc: Document, typesetter: Typesetter, data: ResultData, sheets: Sequence[ApprovedSheet]) -> int:
    """Append the manifest pages; the table header repeats on every page. Returns the number of pages."""
    total = manifest_page_count(len(sheets))
    header = [
        Cell(text, Face.LABEL, 8.5, align="centre", fill=HEADER_FILL, max_lines=2)
        for text in ("序号", "图号", "图名", "轮次", "SHA-256\n上：原始文件　下：图纸 PDF")
    ]
    for page_number in range(total):
        page = doc.new_page(width=A4_WIDTH, height=A4_HEIGHT)
        typesetter.text(page, (A4_WIDTH / 2, 66), "图纸目录", Face.HEADING, 16, align="centre")
        typesetter.text(
            page,
            (A4_WIDTH / 2, 88),
            f"审查编号：{data.review_number}　　项目名称：{data.project_name}　　共 {len(sheets)} 张",
            Face.LABEL,
            8.5,
            align="centre",
        )
        bottom = draw_row(
            page, typesetter, left=MARGIN, top=TABLE_TOP, widths=WIDTHS, cells=header, height=HEADER_HEIGHT
        )
        first = page_number * ROWS_PER_PAGE
        for index, sheet in enumerate(sheets[first : first + ROWS_PER_PAGE], start=first + 1):
            cells = [
                Cell(str(index), Face.LABEL, 8, align="centre"),
                Cell(sheet.number, Face.BODY, 9, align="centre", max_lines=2),
                Cell(sheet.title, Face.BODY, 9, max_lines=2),
                Cell(str(sheet.round_number), Face.BODY, 9, align="centre"),
                Cell(f"{sheet.original_sha256}\n{sheet.sheet_sha256}", Face.MONO, 7.5, max_lines=2),
            ]
            bottom = draw_row(
                page, typesetter, left=MARGIN, top=bottom, widths=WIDTHS, cells=cells, height=ROW_HEIGHT, padding=3
            )
        frame(page, pymupdf.Rect(MARGIN, TABLE_TOP, A4_WIDTH - MARGIN, bottom))
        typesetter.text(
            page,
            (A4_WIDTH / 2, A4_HEIGHT - 28),
            f"第 {page_number + 1} 页 / 共 {total} 页",
            Face.LABEL,
            8.5,
            align="centre",
        )
    return total
