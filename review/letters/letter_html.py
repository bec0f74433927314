"""The body of an opinion letter as HTML for MuPDF's story layout.

Every piece of user text passes through :func:`text`: it is escaped, stripped of control characters
and given break opportunities inside very long words, so a comment can hold anything (``<script>``,
braces, percent signs, 20,000 characters, line breaks) and still print as the text it is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date

from review.letters.model import (
    SEVERITY_LABELS,
    SEVERITY_ORDER,
    STATUS_LABELS,
    Conclusion,
    LetterComment,
    LetterProject,
    LetterTrack,
    OpinionLetter,
)

CSS = """
@font-face { font-family: cjk; src: url(regular.otf); }
@font-face { font-family: cjk; font-weight: bold; src: url(bold.otf); }
* { font-family: cjk; }
body { font-size: 10.5pt; line-height: 1.5; color: #000; }
h1 { font-size: 20pt; font-weight: bold; text-align: center; margin: 0 0 6pt 0; letter-spacing: 2pt; }
p.docno { text-align: center; font-size: 10.5pt; margin: 0 0 4pt 0; }
div.rule { border-bottom: 1.5pt solid #c00000; margin: 0 0 10pt 0; }
h2 { font-size: 14pt; font-weight: bold; margin: 14pt 0 6pt 0; }
h3 { font-size: 12pt; font-weight: bold; margin: 10pt 0 4pt 0; }
table { border-collapse: collapse; width: 100%; margin: 0 0 6pt 0; }
td { border: 0.75pt solid #000; padding: 3pt 5pt; font-size: 10.5pt; vertical-align: top; }
td.label { font-weight: bold; white-space: nowrap; }
div.comment { margin: 0 0 10pt 0; }
p.head { font-weight: bold; margin: 4pt 0 2pt 0; }
p.meta { font-size: 9pt; color: #333; margin: 0 0 2pt 0; }
p.cite { font-size: 10pt; margin: 0 0 2pt 0; }
p.body { margin: 2pt 0 4pt 0; text-indent: 0; }
p.none { color: #333; margin: 2pt 0 6pt 0; }
p.caption { font-size: 9pt; color: #333; text-align: center; margin: 2pt 0 8pt 0; }
div.figure { text-align: center; margin: 4pt 0 0 0; }
p.sign { text-align: right; margin: 2pt 0 2pt 0; }
div.signoff { margin: 14pt 0 6pt 0; }
"""

# Control characters other than line feed and tab have no place in printed text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Runs of characters without a break opportunity (Latin words, URLs, digits); CJK text breaks anywhere.
_UNBREAKABLE = re.compile(r"[^\s\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]{40,}")
_BREAK_EVERY = 30
ZERO_WIDTH_SPACE = "\u200b"


def _break_long(match: re.Match[str]) -> str:
    word = match.group(0)
    return ZERO_WIDTH_SPACE.join(word[i : i + _BREAK_EVERY] for i in range(0, len(word), _BREAK_EVERY))


def clean(value: str) -> str:
    """User text made printable: no control characters, long words breakable, tabs as spaces."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    value = _CONTROL.sub("", value)
    return _UNBREAKABLE.sub(_break_long, value)


def text(value: str) -> str:
    """User text as HTML that shows exactly that text (line breaks kept)."""
    escaped = html.escape(clean(value), quote=True)
    # MuPDF's HTML parser decodes entities twice ("&amp;lt;" shows as "<"): an empty element after
    # each escaped ampersand ends the entity, so "&lt;" typed by a user prints as "&lt;".
    return escaped.replace("&amp;", "&amp;<span></span>").replace("\n", "<br/>")


NOT_RECORDED = "（未登记）"
"""Printed for a project detail the applicant has not stated (projects from before it was asked)."""


def salutation(project: LetterProject) -> str:
    """The addressees of the letter as HTML: 设计单位、建设单位：, leaving out a name that is not recorded."""
    names = [name.strip() for name in (project.design_institute, project.construction_unit) if name.strip()]
    return ("、".join(text(name) for name in names) + "：") if names else "设计单位、建设单位："


def chinese_date(value: date) -> str:
    """A date as written in official documents: 2026年11月27日."""
    return f"{value.year}年{value.month}月{value.day}日"


_NUMERALS = "一二三四五六七八九十"


def chinese_ordinal(index: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二 (section numbers 一、二、…)."""
    if index <= 10:
        return _NUMERALS[index - 1]
    if index < 20:
        return "十" + _NUMERALS[index - 11]
    return str(index)


def title_of(letter: OpinionLetter) -> str:
    """施工图审查意见书, or 施工图联合审查意见书 for a letter covering several tracks."""
    return "施工图联合审查意见书" if letter.is_joint else "施工图审查意见书"


ImageFor = Callable[[LetterComment], list[tuple[str, float, float]]]
"""Gives the archive names and printed widths and heights (points) of a comment's crops."""


def letter_html(
    letter: OpinionLetter, images_for: ImageFor, breaks: frozenset[int] = frozenset()
) -> tuple[str, list[float]]:
    """The whole letter body, and the printed height of every crop in reading order.

    ``breaks`` holds the reading-order indexes of crops that start a new page.
    """
    figures = _Figures(breaks)
    parts = [
        f"<h1>{title_of(letter)}</h1>",
        f'<p class="docno">审查编号：{text(letter.project.review_number)}　第 {letter.round_number} 轮审查</p>',
        '<div class="rule"></div>',
        f"<p>{salutation(letter.project)}</p>",
        "<p>你单位报送的下列工程施工图设计文件已经审查，审查意见如下。请按意见修改或说明，"
        "强制性条文意见须全部修改后重新报审。</p>",
        _project_table(letter.project, letter.round_number),
    ]
    for index, track in enumerate(letter.tracks, start=1):
        comments = [c for c in letter.comments if c.track == track.key]
        parts.append(_track_section(index, track, comments, images_for, figures))
    parts.append(
        '<div class="signoff">'
        f'<p class="sign">审查机构：{text(letter.issuing_organisation)}</p>'
        f'<p class="sign">{chinese_date(letter.issue_date)}</p>'
        "</div>"
    )
    return "<body>" + "".join(parts) + "</body>", figures.heights


class _Figures:
    """Counts crops in reading order and starts a page before the ones listed in ``breaks``."""

    def __init__(self, breaks: frozenset[int]) -> None:
        self.breaks = breaks
        self.heights: list[float] = []

    def html(self, name: str, width: float, height: float) -> str:
        index = len(self.heights)
        self.heights.append(height)
        page_break = "page-break-before:always;" if index in self.breaks else ""
        return (
            f'<div class="figure" style="{page_break}">'
            f'<img src="{html.escape(name)}" style="width:{width:.1f}pt;height:{height:.1f}pt"/></div>'
        )


def _row(*cells: tuple[str, str]) -> str:
    inner = "".join(f'<td class="label" width="20%">{label}</td><td width="80%">{value}</td>' for label, value in cells)
    return f"<tr>{inner}</tr>"


def _project_table(project: LetterProject, round_number: int) -> str:
    rows = [
        _row(("项目名称", text(project.name))),
        _row(("项目编号", text(project.code))),
        _row(("建设地点", text(project.address))),
        _row(("建筑用途", text(project.building_use))),
        _row(("设计单位", text(project.design_institute.strip() or NOT_RECORDED))),
        _row(("建设单位", text(project.construction_unit.strip() or NOT_RECORDED))),
        _row(("审查编号", f"{text(project.review_number)}（第 {round_number} 轮）")),
    ]
    return "<h2>工程概况</h2><table>" + "".join(rows) + "</table>"


def _track_section(
    index: int, track: LetterTrack, comments: list[LetterComment], images_for: ImageFor, figures: _Figures
) -> str:
    conclusion = track.conclusion.label_zh
    if track.conclusion is Conclusion.REVISE:
        conclusion = f'<b style="color:#c00000">{conclusion}</b>'
    parts = [
        f"<h2>{chinese_ordinal(index)}、{text(track.name_zh)}（{text(track.name_en)}）</h2>",
        "<table>",
        _row(("审查结论", conclusion)),
        _row(("审查人员", text("、".join(track.reviewers)) or "—")),
        _row(("专项负责人", text(track.lead) or "—")),
        _row(("日期", chinese_date(track.concluded_on))),
        _row(("意见数量", f"共 {len(comments)} 条")),
        "</table>",
    ]
    for number, severity in enumerate(SEVERITY_ORDER, start=1):
        group = [c for c in comments if c.severity is severity]
        parts.append(f"<h3>（{chinese_ordinal(number)}）{SEVERITY_LABELS[severity][0]}意见（{len(group)} 条）</h3>")
        if not group:
            parts.append('<p class="none">无。</p>')
        parts.extend(_comment(comment, images_for(comment), figures) for comment in sorted(group, key=_natural))
    parts.append(
        '<div class="signoff">'
        f'<p class="sign">审查人员：{text("、".join(track.reviewers)) or "—"}</p>'
        f'<p class="sign">专项负责人：{text(track.lead) or "—"}</p>'
        f'<p class="sign">日期：{chinese_date(track.concluded_on)}</p>'
        "</div>"
    )
    return "".join(parts)


def _natural(comment: LetterComment) -> list[tuple[int, str]]:
    """Sort key that puts XF-2 before XF-10."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", comment.number)]


def _comment(comment: LetterComment, images: list[tuple[str, float, float]], figures: _Figures) -> str:
    parts = [
        '<div class="comment">',
        f'<p class="head">{text(comment.number)}　图号 {text(comment.sheet_number)}　{text(comment.sheet_title)}</p>',
        f'<p class="meta">意见类别：{SEVERITY_LABELS[comment.severity][0]}　状态：{STATUS_LABELS[comment.status][0]}'
        f"　审查人：{text(comment.reviewer)}</p>",
    ]
    if comment.citations:
        cited = "；".join(
            f"{text(c.code_id)} 第 {text(c.clause)} 条" + (f" {text(c.title)}" if c.title else "")
            for c in comment.citations
        )
        parts.append(f'<p class="cite">依据条文：{cited}</p>')
    parts.append(f'<p class="body">{text(comment.text)}</p>')
    # One crop per markup, in the markups' order; a markup's own words (arrow, text box) go in the caption.
    for figure, ((name, width, height), markup) in enumerate(zip(images, comment.markups, strict=False), start=1):
        words = f"：{text(markup.text)}" if markup.text.strip() else ""
        parts.append(
            figures.html(name, width, height)
            + f'<p class="caption">图 {text(comment.number)}-{figure}　{text(comment.sheet_number)} 批注区域{words}</p>'
        )
    parts.append("</div>")
    return "".join(parts)
