"""Sheet patterns shared by track rules and checklist items: which sheets a rule or an item is about.

A pattern lists any of: disciplines, kinds, sheet-number prefixes (a prefix matches every prefix
that starts with it, so ``人防`` covers 人防建施 and 人防结施) and title keywords. A sheet matches
when it fits every list the pattern gives (one entry of each is enough); ``{"any": true}`` matches
every sheet.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from review.routing.facts import SheetFacts
from review.routing.kinds import discipline_codes, fold_title, keyword_in, kind_table
from review.routing.loading import codes, fields, flag, invalid, texts

_KEYS = frozenset({"any", "disciplines", "kinds", "number_prefixes", "title_keywords"})


@dataclass(frozen=True)
class SheetPattern:
    """Which sheets a rule or a checklist item is about."""

    any: bool = False
    """Every sheet matches."""
    disciplines: tuple[str, ...] = ()
    """Discipline codes; empty: any discipline."""
    kinds: tuple[str, ...] = ()
    """Sheet kind codes; empty: any kind."""
    number_prefixes: tuple[str, ...] = ()
    """Sheet-number prefixes the sheet's prefix must start with; empty: any number."""
    title_keywords: tuple[str, ...] = ()
    """Folded keywords one of which the title must contain; empty: any title."""

    def matches(self, sheet: SheetFacts) -> bool:
        """Whether ``sheet`` fits this pattern."""
        if self.any:
            return True
        if self.disciplines and sheet.discipline not in self.disciplines:
            return False
        if self.kinds and sheet.sheet_kind not in self.kinds:
            return False
        if self.number_prefixes and not sheet.prefix.startswith(self.number_prefixes):
            return False
        if self.title_keywords:
            title = fold_title(sheet.title)
            if not any(keyword_in(keyword, title) for keyword in self.title_keywords):
                return False
        return True


def _prefix(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).upper().split())


def parse_pattern(where: str, raw: object) -> SheetPattern:
    """Validate one pattern object; kinds and disciplines must be known codes."""
    entry = fields(where, raw, frozenset(), _KEYS)
    if not entry:
        raise invalid(where, "至少须给出一个条件", "give at least one condition")
    if "any" in entry:
        if not flag(where, "any", entry["any"]) or len(entry) > 1:
            raise invalid(where, "any 只能单独使用且为 true", "any must be true and stand alone")
        return SheetPattern(any=True)
    return SheetPattern(
        disciplines=codes(where, "disciplines", entry["disciplines"], discipline_codes(), ("专业", "discipline"))
        if "disciplines" in entry
        else (),
        kinds=codes(where, "kinds", entry["kinds"], frozenset(kind_table().kinds), ("图纸类别", "sheet kind"))
        if "kinds" in entry
        else (),
        number_prefixes=tuple(_prefix(p) for p in texts(where, "number_prefixes", entry["number_prefixes"]))
        if "number_prefixes" in entry
        else (),
        title_keywords=tuple(fold_title(k) for k in texts(where, "title_keywords", entry["title_keywords"]))
        if "title_keywords" in entry
        else (),
    )
