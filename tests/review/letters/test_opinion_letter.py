"""The opinion letter PDF: Chinese text, severity order, citations, crops, hostile and long text."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymupdf as _pymupdf
import pytest

from review.comments import CommentStatus, Severity
from review.letters import (
    IncompleteLetter,
    LetterComment,
    OpinionLetter,
    build_combined_letter,
    build_opinion_letter,
    combine,
)
from tests.review.letters.conftest import SCRIPT, TRACKS

pymupdf: Any = _pymupdf

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output" / "screenshots"


def _text(pdf: bytes) -> list[str]:
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    return [page.get_text() for page in doc]


def _flat(value: str) -> str:
    """Text without whitespace and the break opportunities inserted into long words."""
    return re.sub(r"[\s\u200b]", "", value)


@pytest.fixture(scope="module")
def joint_pdf(joint_letter: OpinionLetter) -> bytes:
    return build_opinion_letter(joint_letter)


def test_the_letter_is_addressed_to_both_units_and_reads_well_without_a_construction_unit(
    joint_pdf: bytes, joint_letter: OpinionLetter
) -> None:
    project = joint_letter.project
    flat = _flat("".join(_text(joint_pdf)))
    assert f"{project.design_institute}、{project.construction_unit}：" in flat
    assert f"建设单位{project.construction_unit}" in flat

    unrecorded = replace(joint_letter, project=replace(project, construction_unit=""))
    flat = _flat("".join(_text(build_opinion_letter(unrecorded))))
    assert f"{project.design_institute}：" in flat
    assert "、：" not in flat
    assert "建设单位（未登记）" in flat


def test_joint_letter_shows_project_severities_citations_and_comments(
    joint_pdf: bytes, joint_letter: OpinionLetter
) -> None:
    pages = _text(joint_pdf)
    whole = "".join(pages)
    flat = _flat(whole)
    assert "施工图联合审查意见书" in pages[0]
    assert joint_letter.project.name in flat
    assert _flat(joint_letter.project.review_number) in flat
    for comment in joint_letter.comments:
        assert _flat(comment.text) in flat, comment.number
        for markup in comment.markups:
            assert _flat(markup.text) in flat
        for citation in comment.citations:
            assert f"{citation.code_id}第{citation.clause}条{citation.title}".replace(" ", "") in flat
    for track in TRACKS:
        assert track.name_zh in whole
        assert track.lead in whole
    # Within every track the severity headings come in the order 强制性条文, 一般, 建议.
    sections = [flat.index(track.name_zh + "（") for track in TRACKS]
    for start, end in zip(sections, [*sections[1:], len(flat)], strict=True):
        part = flat[start:end]
        heads = [part.index(f"{label}意见（") for label in ("强制性条文", "一般", "建议")]
        assert heads == sorted(heads)
    # Comments of a severity sit under that severity's heading, whatever order they were given in.
    fire = flat[sections[0] : sections[1]]
    assert fire.index("强制性条文意见（2条）") < fire.index("疏散楼梯间") < fire.index("一般意见（1条）")
    assert fire.index("一般意见（1条）") < fire.index("消火栓箱") < fire.index("建议意见（1条）")


def test_every_page_has_header_and_page_numbers(joint_pdf: bytes) -> None:
    pages = _text(joint_pdf)
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert f"第 {number} 页 共 {len(pages)} 页" in text
        assert "审查编号" in text


def test_user_text_is_text(joint_pdf: bytes) -> None:
    whole = "".join(_text(joint_pdf))
    assert "<script>alert(1)</script>" in whole
    assert "{{ x }} 100% &amp; &lt;b&gt; ${HOME} &#38;" in whole
    assert SCRIPT in whole


def test_crops_are_embedded_with_red_markup(joint_pdf: bytes, joint_letter: OpinionLetter) -> None:
    doc = pymupdf.open(stream=joint_pdf, filetype="pdf")
    xrefs = {image[0] for page in doc for image in page.get_images()}
    assert len(xrefs) == sum(len(c.markups) for c in joint_letter.comments)
    for xref in xrefs:
        pix = pymupdf.Pixmap(doc, xref)
        if pix.n != 3:
            pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
        samples = pix.samples
        red = sum(
            1 for i in range(0, len(samples), 3) if samples[i] > 180 and samples[i + 1] < 90 and samples[i + 2] < 90
        )
        assert red > 50, xref


def test_crops_print_at_full_size_rather_than_squeezed_into_a_page_end(joint_pdf: bytes) -> None:
    doc = pymupdf.open(stream=joint_pdf, filetype="pdf")
    boxes = [info["bbox"] for page in doc for info in page.get_image_info()]
    assert boxes
    for x0, y0, x1, y1 in boxes:
        # Crops are 240 pt tall unless as wide as the text column (461 pt).
        assert y1 - y0 >= 239 or x1 - x0 >= 455, (x0, y0, x1, y1)


def test_long_comment_flows_over_pages(joint_letter: OpinionLetter) -> None:
    words = "审查意见正文第{}段，楼梯间、前室及合用前室的设置应符合规范要求。"
    long_text = "".join(words.format(i) + ("\n" if i % 40 == 0 else "") for i in range(700))
    assert len(long_text) > 20_000
    word = "x" * 3000  # one "word" with no break opportunity at all
    track = TRACKS[0]
    comment = LetterComment(
        number="XF-99",
        track=track.key,
        severity=Severity.GENERAL,
        text=long_text + word,
        sheet_number="建施-01",
        sheet_title="一层平面图",
        status=CommentStatus.OPEN,
        reviewer="张伟",
    )
    letter = replace(joint_letter, tracks=(track,), comments=(comment,))
    pdf = build_opinion_letter(letter)
    pages = _text(pdf)
    assert len(pages) >= 8
    assert "施工图审查意见书" in pages[0]
    assert "联合" not in pages[0]
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    # The running header and footer sit outside this band and would interrupt the text.
    bodies = [page.get_text(clip=pymupdf.Rect(0, 62, page.rect.width, page.rect.height - 60)) for page in doc]
    flat = _flat("".join(bodies))
    assert _flat(long_text) in flat
    assert word in flat
    for page in doc:
        for block in page.get_text("blocks"):
            assert block[2] <= page.rect.width - 40, "text runs past the right margin"
            assert block[3] <= page.rect.height, "text runs off the page"
    assert f"第 1 页 共 {len(pages)} 页" in pages[0]
    assert "专项负责人" in pages[-1]


def test_combined_letter_has_one_section_per_track(joint_letter: OpinionLetter) -> None:
    per_track = [
        replace(
            joint_letter,
            tracks=(track,),
            comments=tuple(c for c in joint_letter.comments if c.track == track.key),
            issuing_organisation=f"{track.name_zh}机构",
        )
        for track in TRACKS
    ]
    single = _flat("".join(_text(build_opinion_letter(per_track[1]))))
    assert "人防审查" in single
    assert "消防审查" not in single
    flat = _flat("".join(_text(build_combined_letter(per_track))))
    assert "施工图联合审查意见书" in flat
    positions = [flat.index(f"{n}、{t.name_zh}") for n, t in zip("一二三", TRACKS, strict=True)]
    assert positions == sorted(positions)
    assert "消防审查机构、人防审查机构、施工图审查机构" in flat


def test_letters_of_other_projects_are_not_combined(joint_letter: OpinionLetter) -> None:
    other = replace(joint_letter, project=replace(joint_letter.project, code="PRJ-OTHER"))
    with pytest.raises(IncompleteLetter) as caught:
        combine([joint_letter, other])
    assert "同一项目" in caught.value.zh
    assert "same project" in caught.value.en
    with pytest.raises(IncompleteLetter):
        combine([])


def test_comment_of_unknown_track_is_refused(joint_letter: OpinionLetter) -> None:
    with pytest.raises(IncompleteLetter) as caught:
        build_opinion_letter(replace(joint_letter, tracks=TRACKS[:1]))
    assert "不在本意见书中" in caught.value.zh


def test_screenshots_of_first_pages(joint_pdf: bytes) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    doc = pymupdf.open(stream=joint_pdf, filetype="pdf")
    for index in (0, 1, doc.page_count - 1):
        path = SCREENSHOTS / f"opinion-letter-page-{index + 1}.png"
        doc[index].get_pixmap(dpi=100).save(str(path))
        assert path.stat().st_size > 10_000


def test_chinese_text_is_drawn_not_only_extractable(joint_pdf: bytes) -> None:
    # A subset whose CIDs are not its glyph indices extracts correctly and draws nothing.
    page = pymupdf.open(stream=joint_pdf, filetype="pdf")[0]
    found = page.search_for("审查意见书")
    assert found
    word = found[0]
    ink = page.get_pixmap(dpi=150, clip=word, colorspace=pymupdf.csGRAY)
    dark = sum(1 for value in ink.samples if value < 128)
    assert dark > 0.05 * ink.width * ink.height
