from __future__ import annotations

import pytest

from app.tracks import STANDARD_TRACKS
from review.errors import ReviewError
from review.routing.errors import OverrideInvalid, RoutingError, UnknownTrack
from review.routing.facts import SheetFacts
from review.routing.rules import KNOWN_TRACKS, MANUAL_RULE, apply_override, route, route_all, track_name

from .sets import CHINESE_SET, CORE_TRACKS, WESTERN_SET, sheet, sheets

ALL_TRACKS = KNOWN_TRACKS


def tracks_of(number: str, enabled: tuple[str, ...] = CORE_TRACKS, title: str = "") -> tuple[str, ...]:
    return route(sheet(number, title), enabled).tracks


def test_known_tracks_are_the_platform_tracks_with_the_same_names() -> None:
    assert tuple(track.code for track in sorted(STANDARD_TRACKS, key=lambda t: t.sort_order)) == KNOWN_TRACKS
    for track in STANDARD_TRACKS:
        assert track_name(track.code) == (track.name_zh, track.name_en)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("建施-00", ("construction",)),
        ("建施-01", ("fire", "construction")),
        ("建施-02", ("fire", "construction")),
        ("建施-03", ("fire", "construction")),
        ("建施-05", ("fire", "construction")),
        ("建施-08", ("fire", "construction")),
        ("建施-09", ("fire", "construction")),
        ("建施-10", ("construction",)),
        ("结施-03", ("construction",)),
        ("水施-02", ("construction",)),
        ("水施-03", ("fire", "construction")),
        ("暖施-02", ("fire", "construction")),
        ("电施-03", ("fire", "construction")),
        ("电施-04", ("construction",)),
        ("人防-01", ("civil_air_defence", "construction")),
        ("人防-02", ("civil_air_defence", "construction")),
        ("人防结施-01", ("civil_air_defence", "construction")),
        ("A-101", ("fire", "construction")),
        ("A-501", ("construction",)),
        ("S-201", ("construction",)),
        ("FP-001", ("fire", "construction")),
        ("E-501", ("construction",)),
    ],
)
def test_sheets_of_the_sample_sets_go_to_the_expected_core_tracks(number: str, expected: tuple[str, ...]) -> None:
    assert tracks_of(number) == expected


def test_construction_review_takes_every_sheet() -> None:
    for facts in sheets(CHINESE_SET) + sheets(WESTERN_SET):
        assert "construction" in route(facts, CORE_TRACKS).tracks


def test_a_floor_plan_goes_to_several_tracks_with_a_reason_for_each() -> None:
    decision = route(sheet("建施-05"), ALL_TRACKS)
    assert decision.kind == "floor_plan"
    assert decision.tracks == ("fire", "construction", "planning")
    for track in decision.tracks:
        reasons = decision.reasons_for(track)
        assert reasons, track
        name_zh, name_en = track_name(track)
        assert all(r.zh.startswith(name_zh) and r.en.startswith(name_en) for r in reasons)
    assert [r.rule for r in decision.reasons_for("fire")] == ["architecture_views"]


def test_lightning_sheets_go_to_lightning_only_when_the_track_is_enabled() -> None:
    off = route(sheet("电施-04"), CORE_TRACKS)
    assert "lightning" not in off.tracks
    assert off.disabled_matches == ("lightning",)
    on = route(sheet("电施-04"), (*CORE_TRACKS, "lightning"))
    assert on.tracks == ("construction", "lightning")
    assert {r.rule for r in on.reasons_for("lightning")} == {"electrical_lightning", "lightning_title"}
    assert "lightning" in route(sheet("电施-05"), ALL_TRACKS).tracks  # 接地 only, no 防雷 in the title
    assert "lightning" in route(sheet("E-501"), ALL_TRACKS).tracks
    assert "lightning" not in route(sheet("电施-02"), ALL_TRACKS).tracks


def test_fire_prefixed_sheets_and_titles_go_to_fire() -> None:
    decision = route(sheet("消防-01", "消防车道及登高场地布置图"), CORE_TRACKS)
    assert "fire" in decision.tracks
    assert {r.rule for r in decision.reasons_for("fire")} >= {"fire_discipline", "fire_title"}
    assert "fire" in tracks_of("消施-03", title="系统图")
    assert "fire" in tracks_of("建施-12", title="消防电梯详图")


def test_civil_air_defence_takes_prefixed_sheets_and_titles_mentioning_it() -> None:
    decision = route(sheet("建施-04", "地下一层平面图（含人防区）"), CORE_TRACKS)
    assert decision.tracks == ("fire", "civil_air_defence", "construction")
    assert "civil_air_defence_title" in {r.rule for r in decision.reasons_for("civil_air_defence")}
    assert "civil_air_defence" in tracks_of("人防电施-01")
    assert "civil_air_defence" not in tracks_of("建施-04")


def test_structural_and_plumbing_plans_stay_out_of_fire() -> None:
    assert "fire" not in tracks_of("结施-02")
    assert "fire" not in tracks_of("水施-02")


def test_planning_and_utilities_take_the_site_plan_when_enabled() -> None:
    decision = route(sheet("建施-03"), ALL_TRACKS)
    assert decision.tracks == ("fire", "construction", "utilities", "planning")
    assert route(sheet("建施-03"), CORE_TRACKS).disabled_matches == ("utilities", "planning")


def test_unknown_enabled_track_is_refused() -> None:
    with pytest.raises(UnknownTrack) as caught:
        route(sheet("建施-01"), ("fire", "landscaping"))
    assert "landscaping" in caught.value.zh
    assert "landscaping" in caught.value.en
    assert isinstance(caught.value, ReviewError)
    assert isinstance(caught.value, ValueError)


def test_a_sheet_in_no_track_is_a_finding() -> None:
    decision = route(sheet("X-1", "Plant room equipment"), ("fire",))
    assert decision.tracks == ()
    assert [f.code for f in decision.findings] == ["ROUTING_NO_TRACK", "ROUTING_KIND_UNKNOWN"]
    assert "X-1" in decision.findings[0].zh
    assert "X-1" in decision.findings[0].en


def test_override_adds_and_removes_tracks_with_reasons() -> None:
    decision = route(sheet("建施-10"), CORE_TRACKS)
    changed = apply_override(decision, add=["fire"], remove=["construction"])
    assert changed.tracks == ("fire",)
    assert changed.added_by_hand == ("fire",)
    assert changed.removed_by_hand == ("construction",)
    assert [r.rule for r in changed.reasons] == [MANUAL_RULE]
    assert changed.reasons[0].zh == "消防审查：受理窗口人工分入"
    back = apply_override(changed, add=["construction"], remove=["fire"])
    assert back.tracks == ("construction",)
    assert back.added_by_hand == ()
    assert back.removed_by_hand == ()


def test_override_removing_every_track_is_flagged() -> None:
    decision = apply_override(route(sheet("建施-10"), CORE_TRACKS), remove=["construction"])
    assert decision.tracks == ()
    assert "ROUTING_NO_TRACK" in {f.code for f in decision.findings}
    restored = apply_override(decision, add=["construction"])
    assert "ROUTING_NO_TRACK" not in {f.code for f in restored.findings}


def test_override_of_a_track_already_there_or_absent_changes_nothing() -> None:
    decision = route(sheet("建施-05"), CORE_TRACKS)
    same = apply_override(decision, add=["fire"], remove=["civil_air_defence"])
    assert same.tracks == decision.tracks
    assert same.reasons == decision.reasons
    assert same.added_by_hand == ()
    assert same.removed_by_hand == ()


def test_override_validates_track_codes() -> None:
    decision = route(sheet("建施-05"), CORE_TRACKS)
    with pytest.raises(UnknownTrack):
        apply_override(decision, add=["firee"])
    with pytest.raises(UnknownTrack):
        apply_override(decision, remove=["人防"])
    with pytest.raises(OverrideInvalid) as both:
        apply_override(decision, add=["fire"], remove=["fire"])
    assert "fire" in both.value.en
    with pytest.raises(OverrideInvalid) as disabled:
        apply_override(decision, add=["lightning"])
    assert "未启用" in disabled.value.zh
    assert isinstance(disabled.value, RoutingError)


def test_a_shelter_number_goes_to_civil_air_defence_whatever_the_title_block_discipline() -> None:
    facts = SheetFacts.of("人防建施-01", "地下一层平面图", discipline="architecture")
    decision = route(facts, CORE_TRACKS)
    assert decision.tracks == ("fire", "civil_air_defence", "construction")
    assert [r.rule for r in decision.reasons_for("civil_air_defence")] == ["civil_air_defence_number"]


def test_a_sheet_without_title_is_flagged_but_still_routed_by_discipline() -> None:
    decision = route(SheetFacts.of("水施-09"), CORE_TRACKS)
    assert decision.kind == "drainage"
    assert decision.findings == ()
    untitled = route(SheetFacts.of("建施-99"), CORE_TRACKS)
    assert untitled.tracks == ("construction",)
    assert [f.code for f in untitled.findings] == ["ROUTING_KIND_UNKNOWN"]
    assert "没有图名" in untitled.findings[0].zh


def test_route_all_routes_a_whole_set_in_order() -> None:
    decisions = route_all(sheets(WESTERN_SET), CORE_TRACKS)
    assert [d.sheet.number for d in decisions] == [number for number, _ in WESTERN_SET]
    fire = [d.sheet.number for d in decisions if "fire" in d.tracks]
    assert fire == ["A-001", "A-002", "A-100", "A-101", "A-102", "A-201", "A-301", "FP-001", "FP-002"]
    with pytest.raises(UnknownTrack):
        route_all(sheets(WESTERN_SET), ["fire", "x"])
