from __future__ import annotations

import pytest

from review.routing.facts import SheetFacts
from review.routing.kinds import OTHER, classify, kind_table

from .sets import CHINESE_SET, WESTERN_SET, sheets


@pytest.mark.parametrize(
    ("discipline", "title", "kind"),
    [
        ("architecture", "建筑设计总说明", "design_description"),
        ("architecture", "消防设计说明", "fire_design_description"),
        ("architecture", "防火设计专篇", "fire_design_description"),
        ("architecture", "总平面图", "site_plan"),
        ("architecture", "一层平面图", "floor_plan"),
        ("architecture", "一 层 平 面 图", "floor_plan"),
        ("architecture", "Ground Floor Plan", "floor_plan"),
        ("architecture", "1-1剖面图", "section"),
        ("architecture", "Section A-A", "section"),
        ("architecture", "南立面图", "elevation"),
        ("architecture", "墙身大样", "detail"),
        ("architecture", "门窗表", "schedule"),
        ("architecture", "图纸目录", "index"),
        ("civil_air_defence", "人防区平面图", "civil_air_defence_plan"),
        ("structure", "地下室顶板配筋图", "structural_plan"),
        ("structure", "二层平面图", "structural_plan"),
        ("plumbing", "消火栓系统图", "fire_system"),
        ("plumbing", "自动喷水灭火系统图", "fire_system"),
        ("hvac", "地下室防排烟平面图", "fire_system"),
        ("electrical", "火灾自动报警系统图", "fire_system"),
        ("electrical", "屋顶防雷平面图", "lightning"),
        ("electrical", "基础接地平面图", "lightning"),
        ("plumbing", "一层给排水平面图", "drainage"),
        ("hvac", "一层通风平面图", "hvac"),
        ("electrical", "一层照明平面图", "electrical"),
        ("plumbing", "系统原理图", "drainage"),
        ("architecture", "节能设计专篇", "design_description"),
        ("civil_air_defence", "人防设计专篇", "civil_air_defence_description"),
        ("architecture", "封面", "index"),
        ("architecture", "Cover Sheet", "index"),
        ("architecture", "Door Schedule", "schedule"),
        ("architecture", "Typical Wall Sections", "section"),
        ("architecture", "楼梯平面详图", "detail"),
        ("structure", "墙柱定位图", "structural_plan"),
        ("structure", "柱平法施工图", "structural_plan"),
        ("structure", "梁柱节点详图", "detail"),
        ("structure", "基础详图", "detail"),
        ("plumbing", "室外给排水总平面图", "site_plan"),
        ("plumbing", "消防水池及泵房详图", "fire_system"),
        ("hvac", "Mechanical Layout Level 2", "hvac"),
        ("electrical", "应急照明平面图", "fire_system"),
        (None, "Plant room equipment", OTHER),
    ],
)
def test_titles_give_kinds(discipline: str | None, title: str, kind: str) -> None:
    assert classify(discipline, title) == kind


def test_the_more_specific_kind_wins_over_the_general_one() -> None:
    # 消防设计说明 also contains 设计说明, 总平面图 also contains 平面: order in the data decides.
    assert classify("architecture", "消防设计说明") != classify("architecture", "建筑设计说明")
    assert classify("architecture", "总平面图") == "site_plan"


def test_latin_keywords_match_whole_words_only() -> None:
    assert classify(None, "Planting scheme") == OTHER
    assert classify(None, "Roof plan") == "floor_plan"


def test_a_discipline_scoped_rule_applies_to_that_discipline_only() -> None:
    assert classify("architecture", "二层平面图") == "floor_plan"
    assert classify("structure", "二层平面图") == "structural_plan"


def test_a_kind_set_by_hand_wins() -> None:
    facts = SheetFacts.of("建施-12", "一层平面图", kind="detail")
    assert facts.sheet_kind == "detail"


def test_every_sheet_of_the_sample_sets_is_recognised() -> None:
    for facts in sheets(CHINESE_SET) + sheets(WESTERN_SET):
        assert facts.sheet_kind != OTHER, facts
        assert facts.discipline is not None, facts


def test_every_kind_can_be_produced() -> None:
    table = kind_table()
    produced = {rule.kind for rule in table.rules} | set(table.by_discipline.values()) | {OTHER}
    assert produced == set(table.kinds)


def test_sheet_facts_normalise_the_number_and_take_the_discipline_from_it() -> None:
    facts = SheetFacts.of("建施01", "一层平面图")
    assert (facts.number, facts.prefix, facts.discipline) == ("建施-01", "建施", "architecture")
    assert SheetFacts.of("人防结施-1").discipline == "civil_air_defence"
    assert SheetFacts.of("X?", "foo").prefix == ""
    assert SheetFacts.of("A-101", "Plan", discipline="structure").discipline == "structure"


def test_describe_names_kind_and_discipline_in_both_languages() -> None:
    zh, en = SheetFacts.of("建施-05", "一层平面图").describe()
    assert zh == "建施-05（平面图，建筑）"
    assert en == "建施-05 (floor plan, Architecture)"
