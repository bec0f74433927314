"""Generated PDF sheets with title blocks, in several layouts, for the title block and tile tests."""

from __future__ import annotations

import pymupdf

A1 = (2383.94, 1683.78)
CJK = "china-s"


def _text(page: pymupdf.Page, x: float, y: float, text: str, size: float = 10) -> None:
    """Text whose baseline is at (x, y), in the built-in simplified Chinese font."""
    page.insert_text((x, y), text, fontname=CJK, fontsize=size)


def _frame(page: pymupdf.Page, left: float, top: float) -> None:
    width, height = page.rect.width, page.rect.height
    page.draw_rect(pymupdf.Rect(20, 20, width - 20, height - 20), color=(0, 0, 0), width=1.5)
    page.draw_rect(pymupdf.Rect(left, top, width - 20, height - 20), color=(0, 0, 0), width=1)


def _distractors(page: pymupdf.Page) -> None:
    """Body text that a careless reader would take for title block fields."""
    _text(page, 100, 200, "比例 1:50")
    _text(page, 100, 230, "说明：做法详见结施-01，图号以图签为准")
    page.draw_line((100, 400), (900, 400), color=(0, 0, 0), width=2)


def label_left_of_value() -> bytes:
    """Chinese title block, each label in a cell with its value in the next cell to the right."""
    document = pymupdf.open()
    page = document.new_page(width=A1[0], height=A1[1])
    left, top = A1[0] - 520, A1[1] - 220
    _frame(page, left, top)
    _distractors(page)
    rows = [
        ("设计单位", "华东建筑设计研究院有限公司"),
        ("建设单位", "某某置业有限公司"),
        ("图名", "一层平面图"),
        ("专业", "建筑"),
        ("比例", "1:100"),
        ("日期", "2024.05.20"),
        ("图号", "建施－03"),
    ]
    for index, (label, value) in enumerate(rows):
        y = top + 25 + index * 26
        _text(page, left + 10, y, label, 11)
        _text(page, left + 110, y, value, 14 if label == "图号" else 11)
    return document.tobytes()


def label_above_value() -> bytes:
    """Chinese title block, labels spaced out as separate texts (图  号) above their values."""
    document = pymupdf.open()
    page = document.new_page(width=A1[0], height=A1[1])
    left, top = A1[0] - 620, A1[1] - 140
    _frame(page, left, top)
    _distractors(page)
    columns = [
        ("图", "名", "地下室结构平面图"),
        ("比", "例", "1:150"),
        ("日", "期", "2024-06-01"),
        ("图", "号", "结施 07"),
    ]
    for index, (first, second, value) in enumerate(columns):
        x = left + 15 + index * 150
        _text(page, x, top + 30, first, 10)
        _text(page, x + 25, top + 30, second, 10)
        _text(page, x, top + 60, value, 13)
    return document.tobytes()


def english_labels() -> bytes:
    """English title block: DRAWING NO. / SHEET TITLE / SCALE / DATE above their values."""
    document = pymupdf.open()
    page = document.new_page(width=A1[0], height=A1[1])
    left, top = A1[0] - 420, A1[1] - 160
    _frame(page, left, top)
    page.insert_text((100, 200), "SCALE 1:20", fontsize=10)
    fields = [
        ("SHEET TITLE", "GROUND FLOOR PLAN"),
        ("SCALE", "1:100"),
        ("DATE", "2024-05-01"),
        ("DRAWING NO.", "A-101"),
    ]
    for index, (label, value) in enumerate(fields):
        x = left + 15 + index * 100
        page.insert_text((x, top + 30), label, fontsize=7)
        page.insert_text((x, top + 50), value, fontsize=16 if label == "DRAWING NO." else 8)
    return document.tobytes()


def number_only() -> bytes:
    """No labels at all: the sheet number is the largest text of the bottom-right corner."""
    document = pymupdf.open()
    page = document.new_page(width=A1[0], height=A1[1])
    left, top = A1[0] - 300, A1[1] - 120
    _frame(page, left, top)
    _text(page, 100, 200, "人防-02", 10)
    _text(page, left + 20, top + 40, "审定  校对  设计", 9)
    _text(page, left + 20, top + 60, "A3", 9)
    _text(page, left + 150, top + 90, "电施-12", 24)
    return document.tobytes()


def no_text() -> bytes:
    """Linework only: text converted to outlines, as some plotters do."""
    document = pymupdf.open()
    page = document.new_page(width=A1[0], height=A1[1])
    _frame(page, A1[0] - 300, A1[1] - 120)
    return document.tobytes()
