from __future__ import annotations

import pytest

from review.routing.checklist import (
    IntakeDecision,
    ItemStatus,
    checklists,
    evaluate,
    intake_options,
    parse_checklists,
)
from review.routing.errors import FactsInvalid, IntakeMismatch
from review.routing.facts import ProjectFacts, building_use_code
from review.routing.rules import KNOWN_TRACKS
from review.workflow import ActorRole, Event, Refusal, SubmissionState, decide

from .sets import CHINESE_SET, CORE_TRACKS, OFFICE, TOWER, WESTERN_SET, sheets

CAD_SHEETS = ("人防-01", "人防-02", "人防结施-01", "人防电施-01")


def test_the_complete_tower_set_is_accepted() -> None:
    report = evaluate(TOWER, sheets(CHINESE_SET), CORE_TRACKS)
    assert [t.track for t in report.tracks] == list(CORE_TRACKS)
    assert report.findings == ()
    assert intake_options(report).decision is IntakeDecision.ACCEPT
    fire = {r.item.id: r for r in report.track("fire").met}
    assert fire["fire_design_description"].sheets == ("建施-02",)
    assert fire["floor_plans"].sheets == ("建施-04", "建施-05", "建施-06", "建施-07")
    assert fire["fire_water_systems"].sheets == ("水施-03", "水施-04")
    assert fire["smoke_control"].sheets == ("暖施-02",)
    cad = {r.item.id: r for r in report.track("civil_air_defence").met}
    assert cad["civil_air_defence_plans"].sheets == ("人防-02", "人防结施-01", "人防电施-01")
    assert cad["civil_air_defence_structure"].sheets == ("人防结施-01",)


def test_the_western_office_set_is_accepted() -> None:
    report = evaluate(OFFICE, sheets(WESTERN_SET), (*CORE_TRACKS, "lightning"))
    assert intake_options(report).decision is IntakeDecision.ACCEPT
    fire = {r.item.id: r for r in report.track("fire").results}
    assert fire["fire_design_description"].sheets == ("A-002",)
    assert fire["fire_water_systems"].sheets == ("FP-001",)
    assert fire["fire_alarm"].sheets == ("FP-002",)
    assert fire["smoke_control"].status is ItemStatus.NOT_APPLICABLE  # 9.6 m, no basement
    lightning = {r.item.id: r for r in report.track("lightning").results}
    assert lightning["lightning_plans"].sheets == ("E-501",)
    assert lightning["earthing"].status is ItemStatus.MET


def test_without_civil_air_defence_area_no_shelter_sheets_are_required() -> None:
    no_shelter = ProjectFacts(civil_air_defence_area_m2=0.0, floors_above=18, floors_below=1, height_m=54.3)
    report = evaluate(no_shelter, sheets(CHINESE_SET, without=CAD_SHEETS), CORE_TRACKS)
    cad = report.track("civil_air_defence")
    assert {r.status for r in cad.results} == {ItemStatus.NOT_APPLICABLE}
    assert intake_options(report).decision is IntakeDecision.ACCEPT


def test_with_civil_air_defence_area_missing_shelter_plans_return_the_submission() -> None:
    report = evaluate(TOWER, sheets(CHINESE_SET, without=CAD_SHEETS), CORE_TRACKS)
    cad = report.track("civil_air_defence")
    assert [r.item.id for r in cad.missing_essential] == ["civil_air_defence_description", "civil_air_defence_plans"]
    options = intake_options(report)
    assert options.decision is IntakeDecision.RETURN
    assert any("人防平面图" in reason.zh and "人防建筑面积" in reason.zh for reason in options.reasons)
    assert any("civil air defence plans" in reason.en for reason in options.reasons)


def test_an_unknown_shelter_area_counts_as_requiring_shelter_sheets() -> None:
    unknown = ProjectFacts(floors_above=18, floors_below=1, height_m=54.3)
    report = evaluate(unknown, sheets(CHINESE_SET, without=CAD_SHEETS), CORE_TRACKS)
    assert intake_options(report).decision is IntakeDecision.RETURN
    assert all(r.assumed for r in report.track("civil_air_defence").results)
    unknown_facts = [f for f in report.findings if f.code == "CHECKLIST_FACT_UNKNOWN"]
    assert len(unknown_facts) == 1
    assert "人防建筑面积" in unknown_facts[0].zh
    reasons = intake_options(report).reasons
    assert all("按适用处理" in r.zh for r in reasons)
    assert all("taken to apply" in r.en for r in reasons)


def test_missing_fire_design_description_returns_with_the_reason() -> None:
    report = evaluate(TOWER, sheets(CHINESE_SET, without=("建施-02",)), CORE_TRACKS)
    fire = report.track("fire")
    assert [r.item.id for r in fire.missing_essential] == ["fire_design_description"]
    assert "CHECKLIST_ESSENTIAL_MISSING" in {f.code for f in report.findings}
    options = intake_options(report)
    assert options.decision is IntakeDecision.RETURN
    assert options.reasons[0].zh == "消防审查：缺少必备材料“消防设计说明（防火设计专篇）”（需 1 张，现有 0 张）"
    assert options.reasons[0].en == (
        "Fire protection review: missing essential item 'fire protection design description'"
        " (1 sheet(s) needed, 0 found)"
    )
    step = decide(SubmissionState.SUBMITTED, Event.RETURN, [ActorRole.INTAKE_CLERK], options.return_reasons())
    assert step.after is SubmissionState.RETURNED
    assert step.detail == options.return_reasons("zh")
    both = options.return_reasons("both").reasons[0]
    assert "消防设计说明" in both
    assert "fire protection design description" in both
    with pytest.raises(IntakeMismatch):
        options.acceptance("承诺补交")


def test_only_a_non_essential_item_missing_allows_acceptance_on_a_commitment() -> None:
    report = evaluate(TOWER, sheets(CHINESE_SET, without=("电施-03",)), CORE_TRACKS)
    assert report.track("fire").missing_essential == ()
    assert [r.item.id for r in report.track("fire").missing_non_essential] == ["fire_alarm"]
    assert [f.code for f in report.findings] == ["CHECKLIST_NON_ESSENTIAL_MISSING"]
    options = intake_options(report)
    assert options.decision is IntakeDecision.ACCEPT_WITH_COMMITMENT
    assert options.reasons == ()
    assert len(options.commitment_items) == 1
    assert "火灾自动报警" in options.commitment_items[0].zh
    assert "fire alarm" in options.commitment_items[0].en
    acceptance = options.acceptance("申请人承诺于开工前补交火灾自动报警系统图")
    step = decide(SubmissionState.SUBMITTED, Event.ACCEPT, [ActorRole.INTAKE_CLERK], acceptance)
    assert step.after is SubmissionState.ACCEPTED
    with pytest.raises(Refusal):
        decide(SubmissionState.SUBMITTED, Event.ACCEPT, [ActorRole.INTAKE_CLERK], options.acceptance())
    with pytest.raises(IntakeMismatch):
        options.return_reasons()


def test_a_return_lists_essential_items_first_then_the_tolerable_ones() -> None:
    report = evaluate(TOWER, sheets(CHINESE_SET, without=("建施-02", "电施-03")), CORE_TRACKS)
    options = intake_options(report)
    assert options.decision is IntakeDecision.RETURN
    assert ["必备材料" in r.zh for r in options.reasons] == [True, False]
    assert len(options.commitment_items) == 1


def test_a_plain_acceptance_carries_no_commitment() -> None:
    options = intake_options(evaluate(TOWER, sheets(CHINESE_SET), CORE_TRACKS))
    step = decide(SubmissionState.SUBMITTED, Event.ACCEPT, [ActorRole.INTAKE_CLERK], options.acceptance())
    assert step.after is SubmissionState.ACCEPTED
    assert options.commitment_items == ()


def test_smoke_control_is_required_for_a_tall_building_only() -> None:
    without_smoke = sheets(CHINESE_SET, without=("暖施-02",))
    tall = evaluate(TOWER, without_smoke, ("fire",)).track("fire")
    assert [r.item.id for r in tall.missing_non_essential] == ["smoke_control"]
    low = ProjectFacts(civil_air_defence_area_m2=0.0, floors_above=3, floors_below=0, height_m=12.0)
    fire = evaluate(low, without_smoke, ("fire",)).track("fire")
    assert fire.missing_non_essential == ()


def test_disabled_tracks_have_no_checklist() -> None:
    report = evaluate(TOWER, sheets(CHINESE_SET), ("construction",))
    assert [t.track for t in report.tracks] == ["construction"]
    with pytest.raises(KeyError):
        report.track("fire")


def test_an_empty_submission_is_returned_for_every_track() -> None:
    report = evaluate(TOWER, [], KNOWN_TRACKS)
    options = intake_options(report)
    assert options.decision is IntakeDecision.RETURN
    tracks_named = {reason.zh.split("：")[0] for reason in options.reasons}
    assert tracks_named == {"消防审查", "人防审查", "施工图审查", "防雷审查", "市政公用", "规划审查"}


def test_min_count_asks_for_several_sheets() -> None:
    raw = {
        "format": 1,
        "tracks": {code: {"items": []} for code in KNOWN_TRACKS},
    }
    raw["tracks"]["fire"]["items"] = [
        {
            "id": "floor_plans",
            "zh": "各层平面图",
            "en": "floor plans",
            "essential": True,
            "min_count": 5,
            "satisfied_by": [{"disciplines": ["architecture"], "kinds": ["floor_plan"]}],
        }
    ]
    report = evaluate(TOWER, sheets(CHINESE_SET), ("fire",), parse_checklists(raw))
    result = report.track("fire").results[0]
    assert result.status is ItemStatus.MISSING
    assert len(result.sheets) == 4
    assert "需 5 张，现有 4 张" in intake_options(report).reasons[0].zh


def test_building_use_conditions() -> None:
    raw = {"format": 1, "tracks": {code: {"items": []} for code in KNOWN_TRACKS}}
    raw["tracks"]["construction"]["items"] = [
        {
            "id": "energy",
            "zh": "节能设计专篇",
            "en": "energy design statement",
            "essential": False,
            "when": {
                "all": [
                    {"fact": "building_use", "op": "in", "value": ["public", "office"]},
                    {"not": {"fact": "gross_floor_area_m2", "op": "<", "value": 300}},
                ]
            },
            "satisfied_by": [{"title_keywords": ["节能"]}],
        }
    ]
    rules = parse_checklists(raw)
    office = evaluate(OFFICE, [], ("construction",), rules).track("construction").results[0]
    tower = evaluate(TOWER, [], ("construction",), rules).track("construction").results[0]
    assert office.status is ItemStatus.MISSING
    assert tower.status is ItemStatus.NOT_APPLICABLE
    shed = ProjectFacts(gross_floor_area_m2=120.0, building_use="office")
    assert evaluate(shed, [], ("construction",), rules).track("construction").results[0].status is (
        ItemStatus.NOT_APPLICABLE
    )
    unknown_use = ProjectFacts(gross_floor_area_m2=120.0)
    # all(unknown, false) is false: a known fact can settle a condition alone.
    assert evaluate(unknown_use, [], ("construction",), rules).track("construction").results[0].status is (
        ItemStatus.NOT_APPLICABLE
    )


@pytest.mark.parametrize(
    "facts",
    [
        {"civil_air_defence_area_m2": -1.0},
        {"height_m": float("nan")},
        {"floors_above": True},
        {"building_use": "castle"},
    ],
)
def test_impossible_project_facts_are_refused(facts: dict[str, object]) -> None:
    with pytest.raises(FactsInvalid) as caught:
        ProjectFacts(**facts)  # type: ignore[arg-type]
    assert caught.value.zh
    assert caught.value.en


def test_every_track_has_a_checklist_with_an_essential_item() -> None:
    shipped = checklists()
    assert tuple(shipped.tracks) == KNOWN_TRACKS
    for rules in shipped.tracks.values():
        assert any(item.essential for item in rules.items)


@pytest.mark.parametrize(
    ("text", "code"),
    [("住宅", "residential"), (" 办公楼 ", "office"), ("Mixed Use", "mixed"), ("厂房", "industrial"), ("城堡", None)],
)
def test_free_text_building_use_maps_to_a_code(text: str, code: str | None) -> None:
    assert building_use_code(text) == code
