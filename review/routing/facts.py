"""What routing and the intake checklist know about a sheet and about a project."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, fields

from review.routing.errors import FactsInvalid
from review.routing.kinds import classify, kind_table
from review.sheets.disciplines import discipline_by_code
from review.sheets.numbers import normalise_sheet_number


@dataclass(frozen=True)
class SheetFacts:
    """One sheet as routing sees it: number, title and discipline, and the kind they add up to."""

    number: str
    """Sheet number (图号) as shown, normalised when it could be (``建施-01``, ``A-101``)."""
    title: str = ""
    """Sheet title (图名), e.g. 一层平面图 or Ground Floor Plan."""
    discipline: str | None = None
    """Discipline code (专业), e.g. ``architecture``; None when unknown."""
    prefix: str = ""
    """Canonical sheet-number prefix (``建施``, ``人防建施``, ``FP``); empty when the number is not recognised."""
    kind: str | None = None
    """Sheet kind set by hand (图纸类别); None to classify from discipline and title."""

    @classmethod
    def of(cls, number: str, title: str = "", discipline: str | None = None, kind: str | None = None) -> SheetFacts:
        """Facts from a sheet number as written: it is normalised, and gives the discipline when none is given."""
        parsed = normalise_sheet_number(number)
        if parsed is None:
            return cls(number.strip(), title, discipline, "", kind)
        return cls(parsed.display, title, discipline or parsed.discipline, parsed.prefix, kind)

    @property
    def sheet_kind(self) -> str:
        """The kind set by hand, else the one classified from discipline and title."""
        return self.kind or classify(self.discipline, self.title)

    def describe(self) -> tuple[str, str]:
        """Number, kind and discipline in Chinese and English, e.g. ``建施-01（平面图，建筑）``."""
        kind = kind_table().kinds.get(self.sheet_kind)
        discipline = discipline_by_code(self.discipline) if self.discipline else None
        zh_parts = [kind.zh if kind else self.sheet_kind, discipline.zh if discipline else "专业不明"]
        en_parts = [kind.en if kind else self.sheet_kind, discipline.en if discipline else "unknown discipline"]
        return f"{self.number}（{'，'.join(zh_parts)}）", f"{self.number} ({', '.join(en_parts)})"


_BUILDING_USE_NAMES: dict[str, tuple[str, ...]] = {
    "residential": ("住宅", "居住", "住宅楼", "公寓", "residential", "housing", "apartment"),
    "public": ("公共建筑", "公建", "public"),
    "office": ("办公", "办公楼", "写字楼", "office"),
    "commercial": ("商业", "商场", "商铺", "酒店", "commercial", "retail", "hotel"),
    "industrial": ("工业", "厂房", "industrial", "factory"),
    "warehouse": ("仓库", "仓储", "物流", "warehouse", "storage"),
    "school": ("学校", "教学楼", "幼儿园", "school", "kindergarten"),
    "hospital": ("医院", "医疗", "卫生院", "hospital", "clinic"),
    "mixed": ("综合", "综合楼", "商住", "mixed", "mixed use", "mixed-use"),
    "other": ("其他", "其它", "other"),
}

BUILDING_USES: tuple[str, ...] = tuple(_BUILDING_USE_NAMES)
"""Building uses (建筑用途) conditions may test: 住宅, 公共建筑, 办公, 商业, 厂房, 仓库, 学校, 医院, 综合, 其他."""


def building_use_code(text: str) -> str | None:
    """The building-use code a project's free-text 建筑用途 names (住宅 → ``residential``), or None.

    None lets conditions on building use stay unknown, so the items they govern apply.
    """
    key = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    return next((code for code, names in _BUILDING_USE_NAMES.items() if key in names), None)


@dataclass(frozen=True)
class ProjectFacts:
    """The facts of a project (建设项目) that decide which checklist items apply; None means not yet known."""

    civil_air_defence_area_m2: float | None = None
    """Civil air defence area (人防建筑面积), m²; 0 when the project builds none."""
    floors_above: int | None = None
    """Storeys above ground (地上层数)."""
    floors_below: int | None = None
    """Storeys below ground (地下层数)."""
    height_m: float | None = None
    """Building height (建筑高度), m."""
    gross_floor_area_m2: float | None = None
    """Gross floor area (总建筑面积), m²."""
    building_use: str | None = None
    """Building use, one of :data:`BUILDING_USES`."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "building_use":
                if value is not None and value not in BUILDING_USES:
                    raise FactsInvalid(f"未知建筑用途 {value!r}", f"unknown building use {value!r}")
                continue
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise FactsInvalid(
                    f"{field.name} 须为非负数，实为 {value!r}",
                    f"{field.name} must be a non-negative number, got {value!r}",
                )

    def get(self, name: str) -> float | str | None:
        """The value of one fact by name."""
        value: float | str | None = getattr(self, name)
        return value


FACT_NAMES: frozenset[str] = frozenset(field.name for field in fields(ProjectFacts))
"""Names conditions may refer to."""

NUMERIC_FACTS: frozenset[str] = FACT_NAMES - {"building_use"}
"""Facts compared as numbers; the others are compared as text."""
