"""Measuring units of a sheet (量测单位): how many drawing units one PDF point of the sheet stands for.

A sheet drawn at 1:100 in millimetres shows 100 mm of the building in each millimetre of paper, so one
point (1/72 in = 25.4/72 mm of paper) stands for 100 x 25.4 / 72 = 35.28 mm. The viewer's measuring tool
multiplies distances in sheet points by ``per_point``. Without a single true scale there is nothing to
measure with, and ``None`` is returned: never a guess.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from review.sheets.paper import MM_PER_POINT

_RATIO = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)(?![\d.])")
# Architectural scales: 1/4" = 1'-0", 3/32"=1', 1" = 20'.
_IMPERIAL = re.compile(r"(\d+(?:\s+\d+)?(?:/\d+)?)\s*(?:\"|''|IN)\s*=\s*(\d+)\s*(?:'|FT)(?:\s*-?\s*0\s*\"?)?")


@dataclass(frozen=True)
class SheetUnits:
    """What one point of a sheet measures in the drawing."""

    per_point: float
    """Drawing units per PDF point of the sheet."""
    unit: str
    """The drawing unit: ``mm``, ``m``, ``in`` …"""


def _inches(text: str) -> Fraction:
    whole, _, rest = text.strip().partition(" ")
    return Fraction(whole) + Fraction(rest) if rest else Fraction(whole)


def scale_units(text: str | None) -> SheetUnits | None:
    """The units of a sheet whose title block gives the scale ``text``.

    ``1:100`` (also ``1：100``, ``比例 1:100``) is millimetres at 100 to 1; ``2:1`` is a detail at twice
    full size; ``1/4" = 1'-0"`` is inches at 48 to 1. ``NTS``, ``见图``, text without a scale and text
    with several different scales (one per detail) give None.
    """
    if not text:
        return None
    folded = unicodedata.normalize("NFKC", text).upper()
    ratios = {float(b) / float(a) for a, b in _RATIO.findall(folded) if float(a) > 0 and float(b) > 0}
    imperial = {float(int(feet) * 12 / _inches(paper)) for paper, feet in _IMPERIAL.findall(folded)}
    if len(ratios) + len(imperial) != 1:
        return None
    if ratios:
        return units_at(ratios.pop(), "mm", 1.0)
    return units_at(imperial.pop(), "in", 25.4)


def units_at(denominator: float | None, unit: str, mm_per_unit: float) -> SheetUnits | None:
    """The units of a sheet at 1:``denominator`` whose drawing unit is ``mm_per_unit`` millimetres long."""
    if denominator is None or not math.isfinite(denominator) or denominator <= 0 or mm_per_unit <= 0:
        return None
    return SheetUnits(denominator * MM_PER_POINT / mm_per_unit, unit)
