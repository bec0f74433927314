from __future__ import annotations

import pytest

from review.sheets.numbers import report_numbering
from review.sheets.pdf_source import read_pdf_title_block, read_pdf_title_blocks
from review.sheets.titleblock import TextItem, read_title_block
from tests.conftest import sample
from tests.review.sheets import pdfs


def codes(block: object) -> list[str]:
    return [f.code for f in block.findings]  # type: ignore[attr-defined]


def test_chinese_label_left_of_value() -> None:
    block = read_pdf_title_block(pdfs.label_left_of_value(), 0)
    assert block.number is not None
    assert block.number.display == "建施-03"
    assert block.number_text == "建施-03"  # full-width forms folded by NFKC
    assert block.title == "一层平面图"
    assert block.scale == "1:100"
    assert block.date == "2024.05.20"
    assert block.institute == "华东建筑设计研究院有限公司"
    assert block.client == "某某置业有限公司"
    assert block.discipline == "architecture"
    assert block.confidence == pytest.approx(0.9)
    assert codes(block) == []


def test_chinese_spaced_labels_above_values() -> None:
    block = read_pdf_title_block(pdfs.label_above_value(), 0)
    assert block.number is not None
    assert block.number.display == "结施-07"
    assert block.title == "地下室结构平面图"
    assert block.scale == "1:150"
    assert block.date == "2024-06-01"
    assert block.discipline == "structure"
    assert block.confidence == pytest.approx(0.9)


def test_english_labels() -> None:
    block = read_pdf_title_block(pdfs.english_labels(), 0)
    assert block.number is not None
    assert block.number.display == "A-101"
    assert block.title == "GROUND FLOOR PLAN"
    assert block.scale == "1:100"
    assert block.date == "2024-05-01"


def test_number_only_falls_back_to_the_largest_number() -> None:
    block = read_pdf_title_block(pdfs.number_only(), 0)
    assert block.number is not None
    assert block.number.display == "电施-12"
    assert block.confidence == pytest.approx(0.5)
    assert block.discipline == "electrical"


def test_no_text_is_a_finding() -> None:
    block = read_pdf_title_block(pdfs.no_text(), 0)
    assert block.number is None
    assert block.confidence == 0
    assert codes(block) == ["TITLE_BLOCK_NO_TEXT"]


def test_generic_items_one_glyph_each() -> None:
    """CAD text exploded into one item per glyph is joined again; tuples are accepted as items."""
    glyphs = "图号建施-05"
    items = [(800 + 9 * i, 560, 808 + 9 * i, 570, ch, 10.0) for i, ch in enumerate(glyphs[:2])]
    items += [(840 + 9 * i, 560, 848 + 9 * i, 570, ch, 10.0) for i, ch in enumerate(glyphs[2:])]
    block = read_title_block(items, 1000, 600)
    assert block.number is not None
    assert block.number.display == "建施-05"


def test_unrecognised_number_is_kept_as_written() -> None:
    items = [TextItem(800, 560, 820, 570, "图号", 10), TextItem(830, 560, 880, 570, "XX-7-Q", 10)]
    block = read_title_block(items, 1000, 600)
    assert block.number is None
    assert block.number_text == "XX-7-Q"
    assert codes(block) == ["TITLE_BLOCK_NUMBER_UNRECOGNISED"]


def test_discipline_field_disagreeing_with_prefix() -> None:
    items = [
        TextItem(800, 540, 820, 550, "专业", 10),
        TextItem(830, 540, 850, 550, "结构", 10),
        TextItem(800, 560, 820, 570, "图号", 10),
        TextItem(830, 560, 880, 570, "建施-01", 10),
    ]
    block = read_title_block(items, 1000, 600)
    assert block.discipline == "architecture"
    assert codes(block) == ["TITLE_BLOCK_DISCIPLINE_MISMATCH"]


def test_nearest_label_to_the_corner_wins() -> None:
    """A 图号 note in the body loses against the title block's own."""
    items = [
        TextItem(100, 100, 120, 110, "图号", 10),
        TextItem(130, 100, 180, 110, "结施-09", 10),
        TextItem(900, 570, 920, 580, "图号", 10),
        TextItem(930, 570, 980, 580, "结施-02", 10),
    ]
    assert read_title_block(items, 1000, 600).number.display == "结施-02"  # type: ignore[union-attr]


def test_farmhouse_set_sheet_numbers() -> None:
    """A 25-sheet AutoCAD set; the first three pages are /Rotate 270, the title block a right-hand strip."""
    blocks = read_pdf_title_blocks(sample("pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf").read_bytes())
    assert len(blocks) == 25
    numbers = [b.number.display if b.number else None for b in blocks]
    assert numbers[:3] == ["A-0.0", "A-0.1", "A-0.2"]
    assert numbers[5] == "A-1.2"
    assert numbers[11] == "A-2.0"
    assert numbers[24] == "A-5.0"
    assert all(b.confidence == pytest.approx(0.9) for b in blocks)
    assert blocks[0].title == "COVER PAGE"
    assert blocks[8].title == "1ST FLOOR RCP / ELECTRICAL PLAN"
    assert blocks[5].scale == '1/4" =1\'-0"'
    assert blocks[5].date == "02-15-15"
    assert {b.discipline for b in blocks} == {"architecture"}
    assert report_numbering([b.number for b in blocks if b.number]) == []  # a complete set


def test_qcad_plot_has_no_number_but_title_scale_date() -> None:
    block = read_pdf_title_block(sample("pdf_drawings/qcad_flange_plot.pdf").read_bytes(), 0)
    assert block.number is None
    assert codes(block) == ["TITLE_BLOCK_NO_NUMBER"]
    assert block.title == "Flange"
    assert block.scale == "1:1"
    assert block.date == "11/10/2017"


def test_gost_block_scale_only() -> None:
    """The KOMPAS GOST block's designation field is empty; its format cell A4 is not a sheet number."""
    block = read_pdf_title_block(sample("pdf_drawings/pdfjs_kompas3d_gost_title_block.pdf").read_bytes(), 0)
    assert block.number is None
    assert block.scale == "1:1"


def test_category_and_number_in_separate_cells() -> None:
    """图别 建施 | 图号 05: the prefix and the number are two fields."""
    items = [
        TextItem(800, 540, 820, 550, "图别", 10),
        TextItem(840, 540, 860, 550, "建施", 10),
        TextItem(800, 560, 820, 570, "图号", 10),
        TextItem(840, 560, 855, 570, "05", 10),
    ]
    block = read_title_block(items, 1000, 600)
    assert block.number is not None
    assert block.number.display == "建施-05"
    assert block.confidence == pytest.approx(0.9)
    assert codes(block) == []
