"""Sheet numbers (图号): normalisation, discipline and the numbering report (duplicates, gaps).

A sheet number is a discipline prefix, then a number of one or more dot-separated parts, then an
optional letter suffix: 建施-01, 结施-3, 人防建施-02, A-101, A-1.2, FP-2a.

Two forms are kept:

- ``display`` keeps the digits as written (zero padding included): 建施01 → ``建施-01``, 建施-1 → ``建施-1``;
- ``key`` drops leading zeros, so 建施-01 and 建施-1 are the same sheet: both have key ``建施-1``.

Every comparison (matching sheets across rounds, duplicates, gaps) uses ``key``; the interface shows ``display``.
Separators between prefix and number may be nothing, a space (also full-width), a hyphen, an en or em dash,
a full-width hyphen or an underscore; full-width digits and letters are folded by NFKC; Latin is upper-cased.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from review.sheets.disciplines import Discipline, discipline_for_prefix, prefixes_longest_first
from review.sheets.findings import Finding, Severity

_DASHES = "-‐‑‒–—―−－_"
# A run this long of missing numbers is reported as one range rather than sheet by sheet.
_MAX_LISTED_GAP = 5


@dataclass(frozen=True, order=True)
class SheetNumber:
    """A normalised sheet number (图号)."""

    key: str
    """Matching key without leading zeros, e.g. ``建施-1``; equal keys are the same sheet."""
    display: str
    """Canonical form with the digits as written, e.g. ``建施-01``."""
    prefix: str
    """Canonical prefix, e.g. ``建施``, ``A``, ``FP``."""
    parts: tuple[int, ...]
    """Numeric parts, ``(1, 2)`` for A-1.2."""
    digits: tuple[str, ...]
    """Numeric parts as written, ``("01",)`` for 建施-01."""
    suffix: str = ""
    """Optional letter after the number, upper case (A-101A)."""
    discipline: str | None = None
    """Discipline code of the prefix (``architecture``...), from ``review/data/disciplines.json``."""

    @property
    def series(self) -> tuple[str, tuple[int, ...]]:
        """The series this number belongs to: its prefix and every part but the last (A-1.x, 建施-x)."""
        return self.prefix, self.parts[:-1]


@cache
def _pattern() -> re.Pattern[str]:
    prefixes = "|".join(re.escape(p) for p in prefixes_longest_first())
    dashes = re.escape(_DASHES)
    return re.compile(
        rf"(?P<prefix>{prefixes})\s*(?:[{dashes}]\s*)?(?P<number>\d{{1,4}}(?:\s*\.\s*\d{{1,4}}){{0,2}})(?P<suffix>[A-Z]?)",
    )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).upper().strip()


def _build(prefix: str, number: str, suffix: str) -> SheetNumber:
    digits = tuple(part.strip() for part in number.split("."))
    parts = tuple(int(d) for d in digits)
    discipline: Discipline | None = discipline_for_prefix(prefix)
    return SheetNumber(
        key=f"{prefix}-{'.'.join(str(p) for p in parts)}{suffix}",
        display=f"{prefix}-{'.'.join(digits)}{suffix}",
        prefix=prefix,
        parts=parts,
        digits=digits,
        suffix=suffix,
        discipline=discipline.code if discipline else None,
    )


def normalise_sheet_number(text: str) -> SheetNumber | None:
    """The sheet number that ``text`` is, as a whole (surrounding spaces aside), or None.

    建施-01, 建施01, 建施 01, 建施—01 and 建施－01 all give display ``建施-01`` and key ``建施-1``;
    A-101, A101 and ``a 101`` give ``A-101``; A1.2 gives ``A-1.2``.
    """
    match = _pattern().fullmatch(_fold(text))
    if match is None:
        return None
    return _build(match["prefix"], match["number"], match["suffix"])


def find_sheet_numbers(text: str) -> list[SheetNumber]:
    """Every sheet number standing as its own token inside ``text`` (图号：建施-01 → 建施-01).

    A Latin prefix must not follow a Latin letter or digit and the number must not run on into more
    digits or letters, so that words such as ``DN100`` or ``PLAN2`` are not read as sheet numbers.
    """
    folded = _fold(text)
    found: list[SheetNumber] = []
    for match in _pattern().finditer(folded):
        start, end = match.span()
        before = folded[start - 1] if start else " "
        after = folded[end] if end < len(folded) else " "
        if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()) or after == ".":
            continue
        found.append(_build(match["prefix"], match["number"], match["suffix"]))
    return found


def _missing_runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for low, high in itertools.pairwise(values):
        if high - low > 1:
            runs.append((low + 1, high - 1))
    return runs


def report_numbering(numbers: Iterable[SheetNumber]) -> list[Finding]:
    """Duplicates and gaps in a submission's sheet numbers.

    A gap is a number missing between the lowest and the highest of one series (建施-01, 02, 04 → 03 is
    missing; A-1.0, A-1.2 → A-1.1). Numbers before the lowest are not reported: sets start at 0 or 1 by
    habit, and either is fine. Sheets with a letter suffix (A-101A) count for duplicates but not for gaps.
    """
    numbers = list(numbers)
    findings: list[Finding] = []
    by_key: dict[str, list[SheetNumber]] = defaultdict(list)
    for number in numbers:
        by_key[number.key].append(number)
    for same in by_key.values():
        if len(same) > 1:
            shown = sorted({n.display for n in same})
            findings.append(
                Finding(
                    code="SHEET_NUMBER_DUPLICATE",
                    severity=Severity.ERROR,
                    zh=f"图号重复：{'、'.join(shown)} 出现 {len(same)} 次",
                    en=f"Duplicate sheet number: {' = '.join(shown)} appears {len(same)} times",
                )
            )
    series: dict[tuple[str, tuple[int, ...]], list[SheetNumber]] = defaultdict(list)
    for number in numbers:
        if not number.suffix:
            series[number.series].append(number)
    for (prefix, head), members in sorted(series.items()):
        width = max(len(n.digits[-1]) for n in members)
        values = sorted({n.parts[-1] for n in members})
        for low, high in _missing_runs(values):
            stem = prefix + "-" + "".join(f"{p}." for p in head)
            first, last = f"{stem}{low:0{width}d}", f"{stem}{high:0{width}d}"
            if high - low + 1 <= _MAX_LISTED_GAP:
                missing = "、".join(f"{stem}{v:0{width}d}" for v in range(low, high + 1))
                zh, en = f"图号不连续：缺少 {missing}", f"Gap in sheet numbers: {missing.replace('、', ', ')} missing"
            else:
                zh = f"图号不连续：缺少 {first} 至 {last}（共 {high - low + 1} 张）"
                en = f"Gap in sheet numbers: {first} to {last} missing ({high - low + 1} sheets)"
            findings.append(Finding(code="SHEET_NUMBER_GAP", severity=Severity.WARNING, zh=zh, en=en))
    return findings
