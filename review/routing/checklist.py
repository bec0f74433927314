"""The completeness checklist of intake (受理材料清单) per track, and what the clerk may do with the result.

Each track's items are data (``data/checklists.json``). An item says which sheets satisfy it (sheet
patterns, see :mod:`review.routing.matching`, and a minimum count), whether it is essential (必备：
missing it means the submission goes back) or not (非必备: it may be supplied later on the
applicant's written commitment, 容缺受理), and when it applies (a condition over project facts,
see :mod:`review.routing.conditions`; always when absent).

Items are checked against every sheet of the submission, whatever track the sheets were routed
to: completeness is about what was handed in, routing about who reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Literal

from review.routing.conditions import FACT_LABELS, Condition, describe, facts_needed, holds, parse_condition
from review.routing.errors import IntakeMismatch
from review.routing.facts import ProjectFacts, SheetFacts
from review.routing.loading import check_format, decode, fields, flag, invalid, read_json, text
from review.routing.matching import SheetPattern, parse_pattern
from review.routing.rules import KNOWN_TRACKS, check_tracks, track_name, track_rules
from review.sheets.findings import Finding, Severity
from review.workflow import Acceptance, ReturnReasons

_FILE = "checklists.json"


@dataclass(frozen=True)
class ChecklistItem:
    """One thing a track needs handed in."""

    id: str
    """Stable identifier within the track, e.g. ``fire_design_description``."""
    zh: str
    """Label in Chinese, e.g. 消防设计说明（防火设计专篇）."""
    en: str
    """Label in English."""
    essential: bool
    """必备: missing it returns the submission. Otherwise it may be tolerated on a commitment (容缺受理)."""
    satisfied_by: tuple[SheetPattern, ...]
    """A sheet counts when it matches any of these patterns."""
    min_count: int = 1
    """How many matching sheets are needed."""
    when: Condition | None = None
    """When the item applies; None: always."""


@dataclass(frozen=True)
class TrackChecklistRules:
    """The items of one track."""

    track: str
    """Track code."""
    items: tuple[ChecklistItem, ...]
    """Items in display order."""


@dataclass(frozen=True)
class Checklists:
    """The validated content of ``checklists.json``: every known track, in display order."""

    tracks: Mapping[str, TrackChecklistRules]
    """Track code → its items."""


class ItemStatus(StrEnum):
    """How one item stands."""

    MET = "met"  # 已满足
    MISSING = "missing"  # 缺少
    NOT_APPLICABLE = "not_applicable"  # 不适用


@dataclass(frozen=True)
class ItemResult:
    """One item checked against the sheets handed in."""

    item: ChecklistItem
    """The item."""
    status: ItemStatus
    """Met, missing or not applicable."""
    sheets: tuple[str, ...]
    """Numbers of the sheets that satisfy it, in the order given."""
    assumed: bool = False
    """The condition could not be decided (a project fact is unknown), so the item was taken to apply."""


@dataclass(frozen=True)
class TrackChecklist:
    """One track's checklist, checked."""

    track: str
    """Track code."""
    zh: str
    """Track name in Chinese."""
    en: str
    """Track name in English."""
    results: tuple[ItemResult, ...]
    """Every item with its outcome, in display order."""

    def _with(self, status: ItemStatus, essential: bool | None = None) -> tuple[ItemResult, ...]:
        return tuple(
            r for r in self.results if r.status is status and (essential is None or r.item.essential is essential)
        )

    @property
    def met(self) -> tuple[ItemResult, ...]:
        """Items satisfied, with the sheets satisfying them."""
        return self._with(ItemStatus.MET)

    @property
    def missing_essential(self) -> tuple[ItemResult, ...]:
        """Essential items (必备) not satisfied."""
        return self._with(ItemStatus.MISSING, essential=True)

    @property
    def missing_non_essential(self) -> tuple[ItemResult, ...]:
        """Non-essential items (可容缺) not satisfied."""
        return self._with(ItemStatus.MISSING, essential=False)


@dataclass(frozen=True)
class ChecklistReport:
    """The checklist of every enabled track."""

    tracks: tuple[TrackChecklist, ...]
    """One entry per enabled track, in display order."""
    findings: tuple[Finding, ...] = ()
    """Missing items and unknown project facts, with codes, for the intake page."""

    def track(self, code: str) -> TrackChecklist:
        """The checklist of one track (it must have been enabled)."""
        found = next((t for t in self.tracks if t.track == code), None)
        if found is None:
            raise KeyError(code)
        return found


class IntakeDecision(StrEnum):
    """What the clerk may do with the submission (受理意见)."""

    ACCEPT = "accept"  # 受理
    ACCEPT_WITH_COMMITMENT = "accept_with_commitment"  # 容缺受理
    RETURN = "return"  # 退回补正


@dataclass(frozen=True)
class Message:
    """A line shown to the clerk and the designer, in Chinese and English."""

    zh: str
    """Chinese."""
    en: str
    """English."""


@dataclass(frozen=True)
class IntakeOptions:
    """The decision the checklist allows and the texts that go with it."""

    decision: IntakeDecision
    """Accept, accept on a commitment, or return."""
    reasons: tuple[Message, ...] = ()
    """For a return: why, one line per missing essential item, then the tolerable ones."""
    commitment_items: tuple[Message, ...] = ()
    """Non-essential items missing: what the applicant commits to supply (容缺承诺事项)."""

    def return_reasons(self, language: Literal["zh", "en", "both"] = "zh") -> ReturnReasons:
        """The detail of the workflow's return event; only for a return."""
        if self.decision is not IntakeDecision.RETURN:
            raise IntakeMismatch("材料齐全或可容缺，无需退回", "nothing essential is missing; nothing to return")
        return ReturnReasons(tuple(_text(message, language) for message in self.reasons))

    def acceptance(self, commitment: str = "") -> Acceptance:
        """The detail of the workflow's accept event; a tolerated acceptance needs the applicant's commitment."""
        if self.decision is IntakeDecision.RETURN:
            raise IntakeMismatch("缺少必备材料，不能受理", "essential items are missing; cannot accept")
        return Acceptance(self.decision is IntakeDecision.ACCEPT_WITH_COMMITMENT, commitment)


def _text(message: Message, language: Literal["zh", "en", "both"]) -> str:
    if language == "zh":
        return message.zh
    if language == "en":
        return message.en
    return f"{message.zh} / {message.en}"


def _item(where: str, raw: object, seen: set[str]) -> ChecklistItem:
    entry = fields(
        where, raw, frozenset({"id", "zh", "en", "essential", "satisfied_by"}), frozenset({"min_count", "when"})
    )
    item_id = text(where, "id", entry["id"])
    if item_id in seen:
        raise invalid(where, f"条目标识 {item_id} 重复", f"item id {item_id} is repeated")
    seen.add(item_id)
    patterns = entry["satisfied_by"]
    if not isinstance(patterns, list) or not patterns:
        raise invalid(where, "satisfied_by 须为非空列表", "satisfied_by must be a non-empty list")
    min_count = entry.get("min_count", 1)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise invalid(where, "min_count 须为正整数", "min_count must be a positive integer")
    return ChecklistItem(
        id=item_id,
        zh=text(where, "zh", entry["zh"]),
        en=text(where, "en", entry["en"]),
        essential=flag(where, "essential", entry["essential"]),
        satisfied_by=tuple(parse_pattern(f"{where} satisfied_by[{i}]", p) for i, p in enumerate(patterns)),
        min_count=min_count,
        when=parse_condition(f"{where} when", entry["when"]) if "when" in entry else None,
    )


def parse_checklists(raw: object) -> Checklists:
    """Validate decoded checklists; every known track must be present and nothing else."""
    top = fields(_FILE, raw, frozenset({"format", "tracks"}))
    check_format(_FILE, top["format"])
    tracks = fields(f"{_FILE} tracks", top["tracks"], frozenset(KNOWN_TRACKS))
    parsed: dict[str, TrackChecklistRules] = {}
    for code in KNOWN_TRACKS:
        where = f"{_FILE} tracks.{code}"
        entry = fields(where, tracks[code], frozenset({"items"}))
        if not isinstance(entry["items"], list):
            raise invalid(where, "items 须为列表", "items must be a list")
        seen: set[str] = set()
        items = tuple(_item(f"{where} items[{i}]", item, seen) for i, item in enumerate(entry["items"]))
        parsed[code] = TrackChecklistRules(code, items)
    return Checklists(MappingProxyType(parsed))


def load_checklists_bytes(data: bytes) -> Checklists:
    """Decode and validate a checklist file's content."""
    return parse_checklists(decode(_FILE, data))


@cache
def checklists() -> Checklists:
    """The shipped checklists (``data/checklists.json``)."""
    return parse_checklists(read_json(_FILE))


def _check(item: ChecklistItem, facts: ProjectFacts, sheets: list[SheetFacts]) -> ItemResult:
    applies = True if item.when is None else holds(item.when, facts)
    if applies is False:
        return ItemResult(item, ItemStatus.NOT_APPLICABLE, ())
    numbers = tuple(s.number for s in sheets if any(p.matches(s) for p in item.satisfied_by))
    status = ItemStatus.MET if len(numbers) >= item.min_count else ItemStatus.MISSING
    return ItemResult(item, status, numbers, assumed=applies is None)


def evaluate(
    project_facts: ProjectFacts,
    sheets: Iterable[SheetFacts],
    enabled_tracks: Iterable[str],
    rules: Checklists | None = None,
) -> ChecklistReport:
    """Check every enabled track's items against the sheets handed in."""
    rules = rules or checklists()
    sheets = list(sheets)
    names = track_rules()
    report: list[TrackChecklist] = []
    findings: list[Finding] = []
    unknown_facts: set[str] = set()
    for code in check_tracks(enabled_tracks):
        zh, en = track_name(code, names)
        results = tuple(_check(item, project_facts, sheets) for item in rules.tracks[code].items)
        report.append(TrackChecklist(code, zh, en, results))
        for result in results:
            if result.assumed and result.item.when is not None:
                unknown_facts |= {f for f in facts_needed(result.item.when) if project_facts.get(f) is None}
            if result.status is ItemStatus.MISSING:
                findings.append(_missing_finding(zh, en, result))
    for fact in sorted(unknown_facts):
        label_zh, label_en = FACT_LABELS[fact]
        findings.append(
            Finding(
                code="CHECKLIST_FACT_UNKNOWN",
                severity=Severity.WARNING,
                zh=f"项目未填写{label_zh}，相关材料按需要提交处理",
                en=f"The project does not state its {label_en}; the items depending on it are treated as required",
            )
        )
    return ChecklistReport(tuple(report), tuple(findings))


def _missing_message(track_zh: str, track_en: str, result: ItemResult) -> Message:
    item = result.item
    found = len(result.sheets)
    kind_zh, kind_en = (
        ("必备材料", "essential item") if item.essential else ("可容缺材料", "item that may follow later")
    )
    zh = f"{track_zh}：缺少{kind_zh}“{item.zh}”（需 {item.min_count} 张，现有 {found} 张）"
    en = f"{track_en}: missing {kind_en} '{item.en}' ({item.min_count} sheet(s) needed, {found} found)"
    if item.when is not None:
        when_zh, when_en = describe(item.when)
        zh += f"；适用条件：{when_zh}"
        en += f"; applies when {when_en}"
        if result.assumed:
            zh += "（项目信息未填写，按适用处理）"
            en += " (project facts not stated, so taken to apply)"
    return Message(zh, en)


def _missing_finding(track_zh: str, track_en: str, result: ItemResult) -> Finding:
    message = _missing_message(track_zh, track_en, result)
    essential = result.item.essential
    return Finding(
        code="CHECKLIST_ESSENTIAL_MISSING" if essential else "CHECKLIST_NON_ESSENTIAL_MISSING",
        severity=Severity.ERROR if essential else Severity.WARNING,
        zh=message.zh,
        en=message.en,
    )


def intake_options(report: ChecklistReport) -> IntakeOptions:
    """What the clerk may do: accept when nothing is missing, accept on a commitment when only
    non-essential items are missing, return when an essential item is missing (with every missing
    item as a reason, essential ones first)."""
    essential = [_missing_message(t.zh, t.en, r) for t in report.tracks for r in t.missing_essential]
    tolerable = [_missing_message(t.zh, t.en, r) for t in report.tracks for r in t.missing_non_essential]
    if essential:
        return IntakeOptions(IntakeDecision.RETURN, tuple(essential + tolerable), tuple(tolerable))
    if tolerable:
        return IntakeOptions(IntakeDecision.ACCEPT_WITH_COMMITMENT, (), tuple(tolerable))
    return IntakeOptions(IntakeDecision.ACCEPT)
