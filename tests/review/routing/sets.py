"""Realistic sheet sets: a Chinese residential tower with a civil air defence basement, and a Western office."""

from __future__ import annotations

from review.routing.facts import ProjectFacts, SheetFacts

CHINESE_SET: tuple[tuple[str, str], ...] = (
    ("建施-00", "图纸目录"),
    ("建施-01", "建筑设计总说明"),
    ("建施-02", "消防设计专篇"),
    ("建施-03", "总平面图"),
    ("建施-04", "地下一层平面图"),
    ("建施-05", "一层平面图"),
    ("建施-06", "二~十八层平面图"),
    ("建施-07", "屋顶平面图"),
    ("建施-08", "①-⑩轴立面图"),
    ("建施-09", "1-1剖面图"),
    ("建施-10", "楼梯详图"),
    ("建施-11", "门窗表及门窗详图"),
    ("结施-01", "结构设计总说明"),
    ("结施-02", "基础平面布置图"),
    ("结施-03", "地下室顶板配筋图"),
    ("结施-04", "二层梁平法施工图"),
    ("水施-01", "给排水设计说明"),
    ("水施-02", "一层给排水平面图"),
    ("水施-03", "消火栓系统图"),
    ("水施-04", "自动喷水灭火系统图"),
    ("暖施-01", "暖通设计说明"),
    ("暖施-02", "地下室防排烟平面图"),
    ("暖施-03", "一层通风平面图"),
    ("电施-01", "电气设计说明"),
    ("电施-02", "一层照明平面图"),
    ("电施-03", "火灾自动报警系统图"),
    ("电施-04", "屋顶防雷平面图"),
    ("电施-05", "基础接地平面图"),
    ("人防-01", "人防设计说明"),
    ("人防-02", "人防区平面图"),
    ("人防结施-01", "人防区顶板配筋图"),
    ("人防电施-01", "人防区电气平面图"),
)

WESTERN_SET: tuple[tuple[str, str], ...] = (
    ("A-001", "General Notes"),
    ("A-002", "Fire Safety Design Statement"),
    ("A-100", "Site Plan"),
    ("A-101", "Ground Floor Plan"),
    ("A-102", "First Floor Plan"),
    ("A-201", "North Elevation"),
    ("A-301", "Section A-A"),
    ("A-501", "Stair Details"),
    ("S-001", "Structural General Notes"),
    ("S-201", "Level 2 Framing Plan"),
    ("FP-001", "Sprinkler Layout Level 1"),
    ("FP-002", "Fire Alarm Riser"),
    ("M-101", "Ventilation Layout Level 1"),
    ("E-101", "Lighting Layout Level 1"),
    ("E-501", "Lightning Protection Plan"),
    ("E-502", "Earthing Layout"),
    ("P-101", "Drainage Plan Level 1"),
)

TOWER = ProjectFacts(
    civil_air_defence_area_m2=3200.0,
    floors_above=18,
    floors_below=1,
    height_m=54.3,
    gross_floor_area_m2=21000.0,
    building_use="residential",
)
"""A residential tower with one basement storey, part of it a civil air defence shelter."""

OFFICE = ProjectFacts(
    civil_air_defence_area_m2=0.0,
    floors_above=2,
    floors_below=0,
    height_m=9.6,
    gross_floor_area_m2=2400.0,
    building_use="office",
)
"""A two-storey office without basement or shelter."""

CORE_TRACKS = ("fire", "civil_air_defence", "construction")
"""The tracks enabled out of the box."""


def sheets(numbered: tuple[tuple[str, str], ...], *, without: tuple[str, ...] = ()) -> list[SheetFacts]:
    """Sheet facts of a set, leaving out the numbers in ``without``."""
    return [SheetFacts.of(number, title) for number, title in numbered if number not in without]


def sheet(number: str, title: str = "") -> SheetFacts:
    """One sheet of either set by number, or a new one when a title is given."""
    if title:
        return SheetFacts.of(number, title)
    found = dict(CHINESE_SET + WESTERN_SET)
    return SheetFacts.of(number, found[number])
