"""User text in the letter body: escaped, printable, breakable."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from review.clauses.catalogue import load_catalogue
from review.letters import ClauseCitation, LetterProject
from review.letters.letter_html import ZERO_WIDTH_SPACE, chinese_date, chinese_ordinal, clean, salutation, text


def test_markup_and_entities_are_escaped_once_and_fenced() -> None:
    html = text('<b onclick="x">&lt;</b>')
    assert "<b" not in html
    assert "&quot;" in html
    # MuPDF decodes entities twice; the empty element stops "&amp;lt;" from turning into "<".
    assert "&amp;<span></span>lt;" in html


def test_control_characters_go_and_line_breaks_stay() -> None:
    assert clean("a\x00b\x07c\r\nd\te\ud800") == "abc\nd    e"
    assert text("一\n二") == "一<br/>二"


def test_long_words_get_break_opportunities_but_chinese_and_short_words_do_not() -> None:
    word = "https://example.org/" + "a" * 100
    broken = clean(word)
    assert broken.replace(ZERO_WIDTH_SPACE, "") == word
    assert max(len(part) for part in broken.split(ZERO_WIDTH_SPACE)) <= 30
    assert ZERO_WIDTH_SPACE not in clean("中" * 200)
    assert ZERO_WIDTH_SPACE not in clean("<script>alert(1)</script>")


def test_official_date_and_section_numbers() -> None:
    assert chinese_date(date(2026, 1, 5)) == "2026年1月5日"
    assert [chinese_ordinal(n) for n in (1, 3, 10, 12)] == ["一", "三", "十", "十二"]


def test_citation_of_a_catalogue_clause() -> None:
    clause = load_catalogue().get("GB 50016-2014:5.5.17")
    assert clause is not None
    citation = ClauseCitation.of(clause)
    assert citation.code_id.startswith("GB 50016-2014")
    assert citation.clause == "5.5.17"
    assert citation.title.startswith("《建筑设计防火规范》")


@pytest.mark.parametrize(
    ("institute", "unit", "expected"),
    [
        ("浙江某建筑设计研究院有限公司", "杭州某置业有限公司", "浙江某建筑设计研究院有限公司、杭州某置业有限公司："),
        ("浙江某建筑设计研究院有限公司", "", "浙江某建筑设计研究院有限公司："),
        ("浙江某建筑设计研究院有限公司", "  ", "浙江某建筑设计研究院有限公司："),
        ("", "杭州某置业有限公司", "杭州某置业有限公司："),
        ("", "", "设计单位、建设单位："),
    ],
)
def test_the_salutation_names_who_is_recorded_and_never_dangles(
    project: LetterProject, institute: str, unit: str, expected: str
) -> None:
    assert salutation(replace(project, design_institute=institute, construction_unit=unit)) == expected


def test_the_salutation_escapes_the_names(project: LetterProject) -> None:
    assert salutation(replace(project, construction_unit="A&B <公司>")) == (
        "浙江某建筑设计研究院有限公司、A&amp;<span></span>B &lt;公司&gt;："
    )
