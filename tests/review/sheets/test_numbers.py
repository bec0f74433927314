from __future__ import annotations

import pytest

from review.sheets.disciplines import all_disciplines, discipline_for_name, discipline_for_prefix
from review.sheets.numbers import SheetNumber, find_sheet_numbers, normalise_sheet_number, report_numbering


def number(text: str) -> SheetNumber:
    found = normalise_sheet_number(text)
    assert found is not None, text
    return found


@pytest.mark.parametrize(
    "text", ["建施-01", "建施01", "建施 01", "建施—01", "建施－01", "建施－０１", " 建施_01 ", "建施　01"]
)
def test_chinese_spellings_are_one_number(text: str) -> None:
    found = number(text)
    assert found.display == "建施-01"
    assert found.key == "建施-1"
    assert found.discipline == "architecture"


def test_zero_padding_is_kept_for_display_but_not_for_matching() -> None:
    assert number("建施-1").display == "建施-1"
    assert number("建施-1").key == number("建施-001").key


@pytest.mark.parametrize(
    ("text", "display", "discipline"),
    [
        ("A-101", "A-101", "architecture"),
        ("A101", "A-101", "architecture"),
        ("a 101", "A-101", "architecture"),
        ("A1.2", "A-1.2", "architecture"),
        ("A-1.2", "A-1.2", "architecture"),
        ("S-201", "S-201", "structure"),
        ("M3", "M-3", "hvac"),
        ("E-01", "E-01", "electrical"),
        ("P 4", "P-4", "plumbing"),
        ("FP-2", "FP-2", "fire"),
        ("C-1", "C-1", "civil"),
        ("L1.01", "L-1.01", "landscape"),
        ("结施-03", "结施-03", "structure"),
        ("水施02", "水施-02", "plumbing"),
        ("暖施-1", "暖施-1", "hvac"),
        ("电施-10", "电施-10", "electrical"),
        ("消施-01", "消施-01", "fire"),
        ("消防-01", "消防-01", "fire"),
        ("人防-02", "人防-02", "civil_air_defence"),
        ("人防建施-02", "人防建施-02", "civil_air_defence"),
        ("防雷-1", "防雷-1", "lightning"),
        ("总图-01", "总图-01", "site"),
        ("幕施-01", "幕施-01", "curtain_wall"),
        ("装施-01", "装施-01", "interior"),
        ("景施-01", "景施-01", "landscape"),
        ("A-101a", "A-101A", "architecture"),
    ],
)
def test_prefixes_and_disciplines(text: str, display: str, discipline: str) -> None:
    found = number(text)
    assert (found.display, found.discipline) == (display, discipline)


@pytest.mark.parametrize("text", ["", "建施", "DN100", "PLAN2", "1:100", "建筑-01", "A-", "X-101", "A-101-B"])
def test_non_numbers(text: str) -> None:
    assert normalise_sheet_number(text) is None


def test_find_inside_text_respects_word_boundaries() -> None:
    found = find_sheet_numbers("图号：建施-01  管径DN100 详见 A-1.2，PLAN2")
    assert [n.display for n in found] == ["建施-01", "A-1.2"]


def test_duplicates_are_found_through_the_key() -> None:
    findings = report_numbering([number("建施-01"), number("建施-1"), number("建施-02")])
    duplicates = [f for f in findings if f.code == "SHEET_NUMBER_DUPLICATE"]
    assert len(duplicates) == 1
    assert "建施-01" in duplicates[0].zh
    assert "2" in duplicates[0].en


def test_gaps_per_series() -> None:
    findings = report_numbering(
        [number(t) for t in ["建施-01", "建施-02", "建施-04", "结施-01", "结施-02", "A1.0", "A1.2", "A2.0", "A2.1"]]
    )
    gaps = sorted(f.zh for f in findings if f.code == "SHEET_NUMBER_GAP")
    assert gaps == ["图号不连续：缺少 A-1.1", "图号不连续：缺少 建施-03"]
    assert not [f for f in findings if f.code == "SHEET_NUMBER_DUPLICATE"]


def test_long_gap_is_one_range() -> None:
    findings = report_numbering([number("结施-01"), number("结施-20")])
    assert len(findings) == 1
    assert "结施-02" in findings[0].zh
    assert "结施-19" in findings[0].zh
    assert "18" in findings[0].en


def test_complete_set_has_no_findings() -> None:
    assert report_numbering([number(f"建施-{i:02d}") for i in range(1, 13)]) == []


def test_discipline_data() -> None:
    codes = {d.code for d in all_disciplines()}
    assert {"architecture", "structure", "plumbing", "hvac", "electrical", "fire", "civil_air_defence"} <= codes
    assert {"lightning", "site"} <= codes
    fire = discipline_for_prefix("消防")
    assert fire is not None
    assert (fire.zh, fire.en) == ("消防", "Fire protection")
    structure = discipline_for_name("结构专业")
    assert structure is not None
    assert structure.code == "structure"
    assert discipline_for_name("天文") is None
