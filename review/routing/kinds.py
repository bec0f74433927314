"""Sheet kinds (图纸类别): what a sheet shows, read from its title (图名) and discipline (专业).

The keywords live in ``data/sheet_kinds.json``, not here: an ordered list of rules, most specific
first, so that 消防设计说明 is a fire design description before it is a design description and
总平面图 a site plan before it is a floor plan. The first rule whose keyword occurs in the title
(and whose disciplines, when it names any, include the sheet's) gives the kind. A title no rule
matches takes the default kind of its discipline (给排水 → drainage), else ``other``.

Titles are compared after NFKC folding and lower-casing. Chinese keywords match anywhere, with the
title's blanks removed (CAD titles are often spaced out: 一 层 平 面 图). Latin keywords match whole
words only, so ``plan`` is not found in ``plant``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType

from review.routing.loading import check_format, codes, fields, invalid, read_json, text, texts
from review.sheets.disciplines import all_disciplines

OTHER = "other"
"""The kind of a sheet nothing identifies."""

_FILE = "sheet_kinds.json"


@dataclass(frozen=True)
class SheetKind:
    """One kind of sheet and its names."""

    code: str
    """Stable identifier, e.g. ``floor_plan``."""
    zh: str
    """Chinese name, e.g. 平面图."""
    en: str
    """English name, e.g. floor plan."""


@dataclass(frozen=True)
class KindRule:
    """Keywords that make a title one kind."""

    kind: str
    """Kind code given on a match."""
    keywords: tuple[str, ...]
    """Folded keywords; any one occurring in the title is a match."""
    disciplines: tuple[str, ...] = ()
    """When not empty, the rule applies only to sheets of these disciplines."""


@dataclass(frozen=True)
class KindTable:
    """The validated content of ``sheet_kinds.json``."""

    kinds: Mapping[str, SheetKind]
    """Kind code → kind, in file order."""
    rules: tuple[KindRule, ...]
    """Keyword rules, tried in order."""
    by_discipline: Mapping[str, str]
    """Discipline code → kind for titles no rule matches."""


def fold_title(title: str) -> str:
    """The form titles and keywords are compared in: NFKC, lower case, blanks collapsed."""
    return " ".join(unicodedata.normalize("NFKC", title).lower().split())


def keyword_in(keyword: str, folded_title: str) -> bool:
    """Whether a folded keyword occurs in a folded title (whole words for Latin, anywhere for Chinese)."""
    if keyword.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(keyword)}(?![a-z0-9])", folded_title) is not None
    return keyword.replace(" ", "") in folded_title.replace(" ", "")


def discipline_codes() -> frozenset[str]:
    """Codes of every discipline of ``review/data/disciplines.json``."""
    return frozenset(d.code for d in all_disciplines())


def parse_kind_table(raw: object, where: str = _FILE) -> KindTable:
    """Validate a decoded kind table; raise :class:`~review.routing.errors.RulesInvalid` on any defect."""
    top = fields(where, raw, frozenset({"format", "kinds", "rules", "by_discipline"}))
    check_format(where, top["format"])
    if not isinstance(top["kinds"], dict) or not top["kinds"]:
        raise invalid(where, "kinds 须为非空对象", "kinds must be a non-empty object")
    kinds: dict[str, SheetKind] = {}
    for code, entry in top["kinds"].items():
        at = f"{where} kinds.{code}"
        names = fields(at, entry, frozenset({"zh", "en"}))
        kinds[code] = SheetKind(code, text(at, "zh", names["zh"]), text(at, "en", names["en"]))
    if OTHER not in kinds:
        raise invalid(where, f"kinds 须含 {OTHER}", f"kinds must include {OTHER}")
    known_kinds, known_disciplines = frozenset(kinds), discipline_codes()
    if not isinstance(top["rules"], list) or not top["rules"]:
        raise invalid(where, "rules 须为非空列表", "rules must be a non-empty list")
    rules: list[KindRule] = []
    for index, entry in enumerate(top["rules"]):
        at = f"{where} rules[{index}]"
        rule = fields(at, entry, frozenset({"kind", "keywords"}), frozenset({"disciplines"}))
        kind = codes(at, "kind", [rule["kind"]], known_kinds, ("图纸类别", "sheet kind"))[0]
        keywords = tuple(fold_title(k) for k in texts(at, "keywords", rule["keywords"]))
        scope: tuple[str, ...] = ()
        if "disciplines" in rule:
            scope = codes(at, "disciplines", rule["disciplines"], known_disciplines, ("专业", "discipline"))
        rules.append(KindRule(kind, keywords, scope))
    defaults = top["by_discipline"]
    if not isinstance(defaults, dict):
        raise invalid(where, "by_discipline 须为对象", "by_discipline must be an object")
    for discipline, kind in defaults.items():
        at = f"{where} by_discipline.{discipline}"
        if discipline not in known_disciplines:
            raise invalid(at, f"未知专业 {discipline}", f"unknown discipline {discipline}")
        codes(at, "kind", [kind], known_kinds, ("图纸类别", "sheet kind"))
    return KindTable(MappingProxyType(kinds), tuple(rules), MappingProxyType(dict(defaults)))


@cache
def kind_table() -> KindTable:
    """The shipped kind table (``data/sheet_kinds.json``)."""
    return parse_kind_table(read_json(_FILE))


def classify(discipline: str | None, title: str, table: KindTable | None = None) -> str:
    """The kind code of a sheet with this discipline code and title (图名)."""
    if table is None:
        return _classify_shipped(discipline, title)
    return _classify(discipline, title, table)


# Every track rule and checklist item asks for the kind of the same sheets again.
@lru_cache(maxsize=8192)
def _classify_shipped(discipline: str | None, title: str) -> str:
    return _classify(discipline, title, kind_table())


def _classify(discipline: str | None, title: str, table: KindTable) -> str:
    folded = fold_title(title)
    for rule in table.rules:
        if rule.disciplines and discipline not in rule.disciplines:
            continue
        if any(keyword_in(keyword, folded) for keyword in rule.keywords):
            return rule.kind
    return table.by_discipline.get(discipline or "", OTHER)
