"""Track rules (分专项规则): which review tracks (专项) each sheet goes to, and why.

The rules are data (``data/track_rules.json``): for every track, a list of rules, each a sheet
pattern (see :mod:`review.routing.matching`) with the reason shown to the intake clerk (受理窗口)
in Chinese and English. A sheet goes to every enabled track one of whose rules it matches, so one
sheet may go to several tracks (an architecture floor plan is read by fire, construction and
planning reviewers alike). The clerk corrects the outcome by hand with :func:`apply_override`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from types import MappingProxyType

from review.routing.errors import OverrideInvalid, UnknownTrack
from review.routing.facts import SheetFacts
from review.routing.kinds import OTHER
from review.routing.loading import check_format, decode, fields, invalid, read_json, text
from review.routing.matching import SheetPattern, parse_pattern
from review.sheets.findings import Finding, Severity

KNOWN_TRACKS: tuple[str, ...] = ("fire", "civil_air_defence", "construction", "lightning", "utilities", "planning")
"""Codes of the review tracks, in display order: 消防, 人防, 施工图审查, 防雷, 市政公用, 规划."""

MANUAL_RULE = "manual"
"""Rule id of a track assigned by hand."""

_FILE = "track_rules.json"


@dataclass(frozen=True)
class TrackRule:
    """One reason for a track to take a sheet."""

    id: str
    """Stable identifier within the track, e.g. ``architecture_views``."""
    pattern: SheetPattern
    """The sheets the rule takes."""
    zh: str
    """Why, in Chinese, as the clerk reads it."""
    en: str
    """Why, in English."""


@dataclass(frozen=True)
class TrackRouting:
    """One track's name and rules."""

    code: str
    """Track code, one of :data:`KNOWN_TRACKS`."""
    zh: str
    """Track name in Chinese, e.g. 消防审查."""
    en: str
    """Track name in English."""
    rules: tuple[TrackRule, ...]
    """Rules in file order; a sheet is taken when any one matches."""


@dataclass(frozen=True)
class TrackRules:
    """The validated content of ``track_rules.json``: every known track, in display order."""

    tracks: Mapping[str, TrackRouting]
    """Track code → its rules."""


@dataclass(frozen=True)
class RoutingReason:
    """Why a sheet is in one track."""

    track: str
    """Track code."""
    rule: str
    """Id of the rule that matched, or :data:`MANUAL_RULE`."""
    zh: str
    """Explanation in Chinese, naming the track."""
    en: str
    """Explanation in English, naming the track."""


@dataclass(frozen=True)
class RoutingDecision:
    """The tracks one sheet goes to, with the reasons for each."""

    sheet: SheetFacts
    """The sheet routed."""
    kind: str
    """The sheet's kind (图纸类别) the rules saw."""
    tracks: tuple[str, ...]
    """Track codes, in display order."""
    reasons: tuple[RoutingReason, ...]
    """At least one reason per track in :attr:`tracks`."""
    enabled: tuple[str, ...]
    """The tracks that were enabled, in display order; a manual override may only add these."""
    disabled_matches: tuple[str, ...] = ()
    """Tracks whose rules matched but which are not enabled, so the sheet does not go there."""
    added_by_hand: tuple[str, ...] = ()
    """Tracks the clerk added."""
    removed_by_hand: tuple[str, ...] = ()
    """Tracks the clerk removed."""
    findings: tuple[Finding, ...] = ()
    """What the clerk should look at: a sheet in no track, a kind nothing identified."""
    rule_reasons: tuple[RoutingReason, ...] = ()
    """Reasons of every enabled track the rules gave, kept so that an override can be undone."""

    def reasons_for(self, track: str) -> tuple[RoutingReason, ...]:
        """The reasons the sheet is in ``track``."""
        return tuple(reason for reason in self.reasons if reason.track == track)


def _rules_of(code: str, raw: object) -> TrackRouting:
    where = f"{_FILE} tracks.{code}"
    entry = fields(where, raw, frozenset({"zh", "en", "rules"}))
    if not isinstance(entry["rules"], list):
        raise invalid(where, "rules 须为列表", "rules must be a list")
    rules: list[TrackRule] = []
    for index, item in enumerate(entry["rules"]):
        at = f"{where} rules[{index}]"
        rule = fields(at, item, frozenset({"id", "match", "zh", "en"}))
        rule_id = text(at, "id", rule["id"])
        if rule_id == MANUAL_RULE or any(r.id == rule_id for r in rules):
            raise invalid(at, f"规则标识 {rule_id} 重复或保留", f"rule id {rule_id} is repeated or reserved")
        pattern = parse_pattern(f"{at} match", rule["match"])
        rules.append(TrackRule(rule_id, pattern, text(at, "zh", rule["zh"]), text(at, "en", rule["en"])))
    return TrackRouting(code, text(where, "zh", entry["zh"]), text(where, "en", entry["en"]), tuple(rules))


def parse_track_rules(raw: object) -> TrackRules:
    """Validate decoded track rules; every known track must be present and nothing else."""
    top = fields(_FILE, raw, frozenset({"format", "tracks"}))
    check_format(_FILE, top["format"])
    tracks = fields(f"{_FILE} tracks", top["tracks"], frozenset(KNOWN_TRACKS))
    return TrackRules(MappingProxyType({code: _rules_of(code, tracks[code]) for code in KNOWN_TRACKS}))


def load_track_rules_bytes(data: bytes) -> TrackRules:
    """Decode and validate a track-rules file's content."""
    return parse_track_rules(decode(_FILE, data))


@cache
def track_rules() -> TrackRules:
    """The shipped track rules (``data/track_rules.json``)."""
    return parse_track_rules(read_json(_FILE))


def check_tracks(codes: Iterable[str]) -> tuple[str, ...]:
    """The given track codes in display order, without repeats; raise :class:`UnknownTrack` for any unknown one."""
    given = set(codes)
    unknown = sorted(given - set(KNOWN_TRACKS))
    if unknown:
        listed = ", ".join(unknown)
        raise UnknownTrack(f"未知专项 {listed}", f"unknown track {listed}")
    return tuple(code for code in KNOWN_TRACKS if code in given)


def track_name(code: str, rules: TrackRules | None = None) -> tuple[str, str]:
    """Chinese and English name of a track."""
    routing = (rules or track_rules()).tracks[check_tracks([code])[0]]
    return routing.zh, routing.en


def route(sheet: SheetFacts, enabled_tracks: Iterable[str], rules: TrackRules | None = None) -> RoutingDecision:
    """The enabled tracks ``sheet`` goes to and why."""
    rules = rules or track_rules()
    enabled = check_tracks(enabled_tracks)
    kind = sheet.sheet_kind
    tracks: list[str] = []
    reasons: list[RoutingReason] = []
    disabled: list[str] = []
    for code, routing in rules.tracks.items():
        matched = [rule for rule in routing.rules if rule.pattern.matches(sheet)]
        if not matched:
            continue
        if code not in enabled:
            disabled.append(code)
            continue
        tracks.append(code)
        reasons.extend(
            RoutingReason(code, rule.id, f"{routing.zh}：{rule.zh}", f"{routing.en}: {rule.en}") for rule in matched
        )
    return RoutingDecision(
        sheet=sheet,
        kind=kind,
        tracks=tuple(tracks),
        reasons=tuple(reasons),
        enabled=enabled,
        disabled_matches=tuple(disabled),
        findings=_findings(sheet, kind, tracks),
        rule_reasons=tuple(reasons),
    )


def route_all(
    sheets: Iterable[SheetFacts], enabled_tracks: Iterable[str], rules: TrackRules | None = None
) -> tuple[RoutingDecision, ...]:
    """The decision for every sheet of a submission, in the order given."""
    enabled = check_tracks(enabled_tracks)
    return tuple(route(sheet, enabled, rules) for sheet in sheets)


def _findings(sheet: SheetFacts, kind: str, tracks: list[str]) -> tuple[Finding, ...]:
    found: list[Finding] = []
    if not tracks:
        found.append(
            Finding(
                code="ROUTING_NO_TRACK",
                severity=Severity.ERROR,
                zh=f"图纸 {sheet.number} 未分入任何专项，请人工指定",
                en=f"Sheet {sheet.number} goes to no track; assign it by hand",
            )
        )
    if kind == OTHER and sheet.kind is None:
        if sheet.title.strip():
            zh = f"无法从图名“{sheet.title}”识别图纸 {sheet.number} 的类别，请核对分专项结果"
            en = f"Kind of sheet {sheet.number} not recognised from its title '{sheet.title}'; check its tracks"
        else:
            zh = f"图纸 {sheet.number} 没有图名，无法识别类别，请核对分专项结果"
            en = f"Sheet {sheet.number} has no title, so its kind is unknown; check its tracks"
        found.append(Finding(code="ROUTING_KIND_UNKNOWN", severity=Severity.WARNING, zh=zh, en=en))
    return tuple(found)


def apply_override(
    decision: RoutingDecision,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    rules: TrackRules | None = None,
) -> RoutingDecision:
    """The decision after the clerk adds and removes tracks by hand (人工调整).

    Every code must be a known track (:class:`UnknownTrack`); a track may not be both added and
    removed, and only enabled tracks may be added (:class:`OverrideInvalid`). Adding a track the
    sheet is in, or removing one it is not in, changes nothing. A track added by hand carries a
    manual reason; a track the rules gave that is removed and added back gets its rule reasons again.
    """
    rules = rules or track_rules()
    added, removed = check_tracks(add), check_tracks(remove)
    both = sorted(set(added) & set(removed))
    if both:
        listed = ", ".join(both)
        raise OverrideInvalid(f"专项 {listed} 不能同时添加和移除", f"track {listed} cannot be both added and removed")
    not_enabled = [code for code in added if code not in decision.enabled]
    if not_enabled:
        listed = ", ".join(not_enabled)
        raise OverrideInvalid(f"专项 {listed} 未启用，不能分入", f"track {listed} is not enabled")
    tracks = check_tracks((set(decision.tracks) | set(added)) - set(removed))
    by_rules = {reason.track for reason in decision.rule_reasons}
    reasons = [reason for reason in decision.rule_reasons if reason.track in tracks]
    for code in tracks:
        if code not in by_rules:
            zh, en = track_name(code, rules)
            manual = f"{zh}：受理窗口人工分入", f"{en}: assigned by the intake clerk"
            reasons.append(RoutingReason(code, MANUAL_RULE, *manual))
    order = {code: index for index, code in enumerate(KNOWN_TRACKS)}
    reasons.sort(key=lambda reason: order[reason.track])
    return replace(
        decision,
        tracks=tracks,
        reasons=tuple(reasons),
        added_by_hand=check_tracks(set(tracks) - by_rules),
        removed_by_hand=check_tracks(by_rules - set(tracks)),
        findings=_findings(decision.sheet, decision.kind, list(tracks)),
    )
