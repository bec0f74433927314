"""Letters with three tracks and comments of every severity, on generated sheet PDFs."""

from __future__ import annotations

from datetime import date
from typing import Any

import pymupdf as _pymupdf
import pytest

from review.comments import CommentStatus, Severity
from review.letters import (
    ClauseCitation,
    Conclusion,
    LetterComment,
    LetterProject,
    LetterTrack,
    OpinionLetter,
)
from review.markups.model import Markup, MarkupKind, Rect

pymupdf: Any = _pymupdf

SCRIPT = "<script>alert(1)</script> {{ x }} 100% &amp; &lt;b&gt; ${HOME} &#38;"


def sheet_pdf(title: str) -> bytes:
    """An A3 landscape sheet with a black grid, a title block and no red anywhere."""
    doc = pymupdf.open()
    page = doc.new_page(width=1190.55, height=841.89)
    for x in range(40, 1180, 60):
        page.draw_line((x, 30), (x, 810), color=(0, 0, 0), width=0.5)
    for y in range(30, 820, 60):
        page.draw_line((30, y), (1160, y), color=(0, 0, 0), width=0.5)
    page.draw_rect(pymupdf.Rect(900, 720, 1160, 810), color=(0, 0, 0), fill=(1, 1, 1), width=1)
    page.insert_text((910, 760), title, fontsize=14)
    data = doc.tobytes()
    doc.close()
    return bytes(data)


def _markups(index: int) -> tuple[Markup, ...]:
    x = 100.0 + 90 * index
    kinds = [
        Markup(MarkupKind.RECTANGLE, ((x, 200.0), (x + 80, 260.0))),
        Markup(MarkupKind.ELLIPSE, ((x, 300.0), (x + 100, 360.0))),
        Markup(MarkupKind.POLYGON, ((x, 420.0), (x + 60, 400.0), (x + 90, 470.0))),
        Markup(MarkupKind.POLYLINE, ((x, 520.0), (x + 50, 560.0), (x + 120, 530.0))),
        Markup(MarkupKind.ARROW, ((x, 640.0), (x + 90, 600.0)), text="此处"),
        Markup(MarkupKind.FREE_TEXT, ((x, 700.0),), text="注", box=Rect(x + 30, 660.0, x + 110, 690.0)),
        Markup(MarkupKind.CLOUD, ((x, 100.0), (x + 80, 100.0), (x + 80, 150.0), (x, 150.0)), cloud_arc=12.0),
    ]
    return (kinds[index % len(kinds)],)


TRACKS = (
    LetterTrack(
        "fire", "消防审查", "Fire protection", ("张伟", "李娜"), "王强", Conclusion.REVISE, date(2026, 11, 20), 1
    ),
    LetterTrack("cad", "人防审查", "Civil air defence", ("赵敏",), "孙丽", Conclusion.PASSED, date(2026, 11, 21), 1),
    LetterTrack(
        "drawings",
        "施工图审查",
        "Construction drawings",
        ("周杰", "吴芳"),
        "郑浩",
        Conclusion.REVISE,
        date(2026, 11, 22),
        1,
    ),
)

COMMENT_SPECS: tuple[tuple[str, Severity, str, ClauseCitation], ...] = (
    (
        "fire",
        Severity.MANDATORY,
        "疏散楼梯间未设置防烟前室，不满足要求。",
        ClauseCitation("GB 50016-2014", "5.5.17", "安全疏散距离"),
    ),
    (
        "fire",
        Severity.MANDATORY,
        "防火分区面积超限，地下车库分区应≤4000㎡。",
        ClauseCitation("GB 50067-2014", "5.1.1", "防火分区"),
    ),
    (
        "fire",
        Severity.GENERAL,
        "消火栓箱位置与门开启方向冲突。",
        ClauseCitation("GB 50974-2014", "7.4.7", "室内消火栓"),
    ),
    ("fire", Severity.SUGGESTION, "建议疏散指示标志间距加密。", ClauseCitation("GB 51309-2018", "4.5.8", "疏散指示")),
    ("cad", Severity.GENERAL, "人防门框墙厚度未标注。", ClauseCitation("GB 50038-2005", "3.3.6", "防护密闭门")),
    ("cad", Severity.SUGGESTION, "建议补充战时通风系统图。", ClauseCitation("GB 50038-2005", "5.2.1", "通风")),
    ("drawings", Severity.MANDATORY, "楼梯栏杆高度不足1.05m。", ClauseCitation("GB 50352-2019", "6.7.3", "栏杆")),
    ("drawings", Severity.GENERAL, SCRIPT, ClauseCitation("GB 50011-2010", "6.1.2", "抗震等级")),
    (
        "drawings",
        Severity.GENERAL,
        "卫生间降板范围与结构图不一致。",
        ClauseCitation("GB 50010-2010", "9.2.1", "钢筋锚固"),
    ),
    ("drawings", Severity.SUGGESTION, "建议复核屋面排水坡度。", ClauseCitation("GB 50345-2012", "4.3.1", "屋面排水")),
)


@pytest.fixture(scope="session")
def sheets() -> list[bytes]:
    return [sheet_pdf(f"A-{i:02d}") for i in range(3)]


@pytest.fixture(scope="session")
def project() -> LetterProject:
    return LetterProject(
        name="滨江花园二期3号住宅楼",
        code="PRJ-2026-0042",
        address="杭州市滨江区江南大道 188 号",
        building_use="住宅（地下车库）",
        design_institute="浙江某建筑设计研究院有限公司",
        construction_unit="杭州某置业有限公司",
        review_number="联审〔2026〕第 0042 号",
    )


@pytest.fixture(scope="session")
def comments(sheets: list[bytes]) -> tuple[LetterComment, ...]:
    made = []
    for index, (track, severity, text, citation) in enumerate(COMMENT_SPECS):
        made.append(
            LetterComment(
                number=f"{track.upper()[:2]}-{index + 1}",
                track=track,
                severity=severity,
                text=text,
                sheet_number=f"建施-{index % 3 + 1:02d}",
                sheet_title=f"{index % 3 + 1}层平面图",
                status=CommentStatus.OPEN,
                reviewer="张伟",
                citations=(citation,),
                markups=_markups(index),
                sheet_pdf=sheets[index % 3],
            )
        )
    return tuple(made)


@pytest.fixture(scope="session")
def joint_letter(project: LetterProject, comments: tuple[LetterComment, ...]) -> OpinionLetter:
    # Listed in reverse so the letter has to sort by severity itself.
    return OpinionLetter(
        project=project,
        round_number=1,
        tracks=TRACKS,
        comments=tuple(reversed(comments)),
        issue_date=date(2026, 11, 23),
        issuing_organisation="杭州市施工图审查中心",
    )
