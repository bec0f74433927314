"""Disciplines (专业) and the sheet-number prefixes that name them, read from ``review/data/disciplines.json``."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Discipline:
    """One design discipline, e.g. 建筑 architecture, 结构 structure, 人防 civil air defence."""

    code: str
    """Stable identifier used by tracks and storage, e.g. ``architecture``."""
    zh: str
    """Chinese name shown in the interface."""
    en: str
    """English name shown in the interface."""
    prefixes: tuple[str, ...]
    """Sheet-number prefixes of this discipline, e.g. ``("建施", "A")``."""
    names: tuple[str, ...]
    """Values a title block's 专业 field may hold for this discipline."""


def fold(text: str) -> str:
    """NFKC, Latin upper case, no whitespace: the form prefixes and names are compared in."""
    return "".join(unicodedata.normalize("NFKC", text).upper().split())


@cache
def all_disciplines() -> tuple[Discipline, ...]:
    """Every discipline of the data file, in file order."""
    raw: dict[str, Any] = json.loads(resources.files("review").joinpath("data/disciplines.json").read_text("utf-8"))
    return tuple(
        Discipline(
            code=entry["code"],
            zh=entry["zh"],
            en=entry["en"],
            prefixes=tuple(fold(p) for p in entry["prefixes"]),
            names=tuple(entry["names"]),
        )
        for entry in raw["disciplines"]
    )


@cache
def prefixes_longest_first() -> tuple[str, ...]:
    """Every known prefix, longest first so that 人防建施 wins over 人防 and FP over P."""
    found = {p for d in all_disciplines() for p in d.prefixes}
    return tuple(sorted(found, key=lambda p: (-len(p), p)))


def discipline_for_prefix(prefix: str) -> Discipline | None:
    """The discipline a sheet-number prefix belongs to."""
    key = fold(prefix)
    return next((d for d in all_disciplines() if key in d.prefixes), None)


def discipline_by_code(code: str) -> Discipline | None:
    """The discipline with this code."""
    return next((d for d in all_disciplines() if d.code == code), None)


def discipline_for_name(name: str) -> Discipline | None:
    """The discipline a title block's 专业 value names (建筑, 结构专业, Electrical...)."""
    key = fold(name)
    for discipline in all_disciplines():
        if any(fold(n) == key for n in discipline.names) or fold(discipline.zh) == key:
            return discipline
    return None
