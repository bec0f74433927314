"""Value types of the review opinion letter (审查意见书).

A letter is issued per track (专业/专项审查) at the end of each review round; the designer also gets a
joint letter (联合审查意见书) covering every track. Everything here is plain data handed over by the
caller: the letter builder reads no database and no storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from review.clauses.catalogue import Clause
from review.comments import CommentStatus, Severity
from review.markups.model import Markup

SEVERITY_LABELS: Mapping[Severity, tuple[str, str]] = MappingProxyType(
    {
        Severity.MANDATORY: ("强制性条文", "Mandatory clause"),
        Severity.GENERAL: ("一般", "General"),
        Severity.SUGGESTION: ("建议", "Advisory"),
    }
)
"""Chinese and English headings of the severity sections."""

SEVERITY_ORDER: tuple[Severity, ...] = (Severity.MANDATORY, Severity.GENERAL, Severity.SUGGESTION)
"""The order of the severity sections in a letter: 强制性条文, 一般, 建议."""

STATUS_LABELS: Mapping[CommentStatus, tuple[str, str]] = MappingProxyType(
    {
        CommentStatus.OPEN: ("待答复", "Open"),
        CommentStatus.ANSWERED: ("已答复", "Answered"),
        CommentStatus.RESOLVED: ("已关闭", "Resolved"),
        CommentStatus.REOPENED: ("重新打开", "Reopened"),
        CommentStatus.WITHDRAWN: ("已撤回", "Withdrawn"),
    }
)
"""Chinese and English names of a comment's status as printed."""


class Conclusion(StrEnum):
    """The track's conclusion for the round (审查结论)."""

    PASSED = "passed"
    """通过."""
    REVISE = "revise"
    """需修改: the design institute must revise and resubmit."""

    @property
    def label_zh(self) -> str:
        """The wording printed in the letter."""
        return "通过" if self is Conclusion.PASSED else "需修改"


@dataclass(frozen=True)
class ClauseCitation:
    """One clause a comment relies on (依据条文)."""

    code_id: str
    """Designation of the code or standard, e.g. ``GB 50016-2014``."""
    clause: str
    """Clause number inside it, e.g. ``5.5.17``."""
    title: str = ""
    """Short title of the clause or of the code, e.g. 《建筑设计防火规范》安全疏散距离."""

    @classmethod
    def of(cls, clause: Clause) -> ClauseCitation:
        """The citation of a clause of the catalogue (代码、条号、规范名称及条文主题)."""
        standard = clause.standard
        version = f"（{standard.version_note}）" if standard.version_note else ""
        return cls(standard.designation + version, clause.number, f"《{standard.title_zh}》{clause.topic_zh}")


@dataclass(frozen=True)
class LetterProject:
    """The project data printed at the head of a letter (工程概况)."""

    name: str
    """项目名称."""
    code: str
    """项目编号 (the permit project code)."""
    address: str
    """建设地点."""
    building_use: str
    """建筑用途 as declared by the applicant."""
    design_institute: str
    """设计单位."""
    construction_unit: str
    """建设单位."""
    review_number: str
    """审查编号: the document number printed under the title."""


@dataclass(frozen=True)
class LetterComment:
    """One review comment (审查意见) as it appears in a letter."""

    number: str
    """The comment's number within its track, e.g. ``XF-3``."""
    track: str
    """Key of the track the comment belongs to (:attr:`LetterTrack.key`)."""
    severity: Severity
    """强制性条文 / 一般 / 建议."""
    text: str
    """The reviewer's wording, printed as plain text (never interpreted as markup)."""
    sheet_number: str
    """图号 of the sheet the comment is about."""
    sheet_title: str
    """图名 of that sheet."""
    status: CommentStatus
    """The comment's state when the letter is issued (printed as 待答复, 已关闭, …)."""
    reviewer: str
    """Name of the reviewer who wrote it."""
    citations: tuple[ClauseCitation, ...] = ()
    """The clauses the comment relies on, in the reviewer's order."""
    markups: tuple[Markup, ...] = ()
    """The shapes drawn for this comment, in sheet coordinates (PDF points, origin top-left)."""
    sheet_pdf: bytes | None = None
    """The sheet revision's PDF the marked regions are cropped from; None prints no images."""
    page_index: int = 0
    """Page of ``sheet_pdf`` holding the sheet (0-based)."""


@dataclass(frozen=True)
class LetterTrack:
    """One track's part of a round (专项审查): who reviewed and what they concluded."""

    key: str
    """Stable key the comments refer to (e.g. ``fire``)."""
    name_zh: str
    """Name printed in the letter, e.g. 消防审查."""
    name_en: str
    """English name, e.g. Fire protection."""
    reviewers: tuple[str, ...]
    """审查人员, in the order printed."""
    lead: str
    """专项负责人 who issues the letter."""
    conclusion: Conclusion
    """The track's conclusion for the round."""
    concluded_on: date
    """Date of the conclusion (日期 in the track's sign-off)."""
    round_number: int
    """审查轮次 (1 for the first review)."""


@dataclass(frozen=True)
class OpinionLetter:
    """A letter for one round: one track (专项意见书) or several (联合审查意见书)."""

    project: LetterProject
    """The project the letter is about."""
    round_number: int
    """审查轮次."""
    tracks: tuple[LetterTrack, ...]
    """The tracks covered, in the order printed."""
    comments: tuple[LetterComment, ...]
    """Every comment of those tracks; each names one of ``tracks`` by key."""
    issue_date: date
    """落款日期."""
    issuing_organisation: str
    """The review body printed in the sign-off (审查机构)."""

    @property
    def is_joint(self) -> bool:
        """True when the letter covers more than one track (title 施工图联合审查意见书)."""
        return len(self.tracks) > 1
