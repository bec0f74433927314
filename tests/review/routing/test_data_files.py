from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from review.routing.checklist import checklists, load_checklists_bytes, parse_checklists
from review.routing.errors import RulesInvalid
from review.routing.kinds import kind_table, parse_kind_table
from review.routing.rules import KNOWN_TRACKS, load_track_rules_bytes, parse_track_rules, track_rules


def shipped(name: str) -> Any:
    return json.loads(resources.files("review.routing").joinpath(f"data/{name}").read_text("utf-8"))


def changed(name: str, change: Callable[[Any], None]) -> Any:
    raw = copy.deepcopy(shipped(name))
    change(raw)
    return raw


def test_the_shipped_data_files_load() -> None:
    kinds = kind_table()
    assert "fire_design_description" in kinds.kinds
    assert kinds.rules[0].kind == "index"
    rules = track_rules()
    assert tuple(rules.tracks) == KNOWN_TRACKS
    assert all(rule.zh and rule.en for routing in rules.tracks.values() for rule in routing.rules)
    assert rules.tracks["construction"].rules[0].pattern.any
    lists = checklists()
    assert tuple(lists.tracks) == KNOWN_TRACKS
    assert lists.tracks["civil_air_defence"].items[0].when is not None


def test_the_shipped_files_parse_again_from_bytes() -> None:
    data = resources.files("review.routing").joinpath("data/track_rules.json").read_bytes()
    assert load_track_rules_bytes(data) == track_rules()
    data = resources.files("review.routing").joinpath("data/checklists.json").read_bytes()
    assert load_checklists_bytes(data) == checklists()


def _rule(raw: Any, track: str = "fire", index: int = 0) -> Any:
    return raw["tracks"][track]["rules"][index]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda raw: raw.update(format=2), "format"),
        (lambda raw: raw.update(extra=1), "extra"),
        (lambda raw: raw["tracks"].update(landscaping=raw["tracks"]["fire"]), "landscaping"),
        (lambda raw: raw["tracks"].pop("planning"), "planning"),
        (lambda raw: _rule(raw).update(colour="red"), "colour"),
        (lambda raw: _rule(raw)["match"].update(kinds=["floor_plan", "ceiling_plan"]), "ceiling_plan"),
        (lambda raw: _rule(raw)["match"].update(disciplines=["geology"]), "geology"),
        (lambda raw: _rule(raw)["match"].update(title_words=["x"]), "title_words"),
        (lambda raw: _rule(raw).update(match={}), "at least one"),
        (lambda raw: _rule(raw).update(match={"any": True, "kinds": ["section"]}), "any"),
        (lambda raw: _rule(raw).update(id=_rule(raw, index=1)["id"]), "repeated"),
        (lambda raw: _rule(raw).update(id="manual"), "reserved"),
        (lambda raw: _rule(raw).update(zh=""), "zh"),
        (lambda raw: _rule(raw)["match"].update(kinds=[]), "kinds"),
    ],
)
def test_defective_track_rules_are_refused(change: Callable[[Any], None], needle: str) -> None:
    with pytest.raises(RulesInvalid) as caught:
        parse_track_rules(changed("track_rules.json", change))
    assert needle in caught.value.en
    assert "track_rules.json" in caught.value.zh


def _item(raw: Any, track: str = "fire", index: int = 0) -> Any:
    return raw["tracks"][track]["items"][index]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda raw: raw["tracks"].update(sewer={"items": []}), "sewer"),
        (lambda raw: raw["tracks"].pop("fire"), "fire"),
        (lambda raw: _item(raw).update(required=True), "required"),
        (lambda raw: _item(raw).pop("essential"), "essential"),
        (lambda raw: _item(raw).update(essential="yes"), "essential"),
        (lambda raw: _item(raw).update(min_count=0), "min_count"),
        (lambda raw: _item(raw).update(satisfied_by=[]), "satisfied_by"),
        (lambda raw: _item(raw).update(satisfied_by=[{"kinds": ["perspective"]}]), "perspective"),
        (lambda raw: _item(raw).update(id=_item(raw, index=1)["id"]), "repeated"),
        (lambda raw: _item(raw).update(when={"fact": "colour", "op": "==", "value": 1}), "colour"),
        (lambda raw: _item(raw).update(when={"fact": "height_m", "op": "in", "value": [1]}), "operator"),
        (lambda raw: _item(raw).update(when={"fact": "height_m", "op": ">", "value": "24"}), "number"),
        (lambda raw: _item(raw).update(when={"fact": "building_use", "op": "==", "value": "castle"}), "castle"),
        (lambda raw: _item(raw).update(when={"fact": "building_use", "op": ">", "value": "office"}), "operator"),
        (lambda raw: _item(raw).update(when={"all": []}), "non-empty"),
        (lambda raw: _item(raw).update(when={"any": [], "all": []}), "exactly one"),
        (lambda raw: _item(raw).update(when={"some": []}), "some"),
    ],
)
def test_defective_checklists_are_refused(change: Callable[[Any], None], needle: str) -> None:
    with pytest.raises(RulesInvalid) as caught:
        parse_checklists(changed("checklists.json", change))
    assert needle in caught.value.en


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda raw: raw["kinds"].pop("other"), "other"),
        (lambda raw: raw["rules"][0].update(kind="mural"), "mural"),
        (lambda raw: raw["rules"][0].update(keywords=[]), "keywords"),
        (lambda raw: raw["rules"][0].update(disciplines=["geology"]), "geology"),
        (lambda raw: raw["by_discipline"].update(geology="other"), "geology"),
        (lambda raw: raw["by_discipline"].update(plumbing="pipes"), "pipes"),
        (lambda raw: raw["kinds"]["section"].update(de="Schnitt"), "de"),
    ],
)
def test_defective_kind_tables_are_refused(change: Callable[[Any], None], needle: str) -> None:
    with pytest.raises(RulesInvalid) as caught:
        parse_kind_table(changed("sheet_kinds.json", change))
    assert needle in caught.value.en


def test_files_that_are_not_json_are_refused() -> None:
    with pytest.raises(RulesInvalid, match="JSON"):
        load_track_rules_bytes(b"\xff\xfe not json")
    with pytest.raises(RulesInvalid, match="JSON"):
        load_checklists_bytes(b"{")


def test_comment_keys_are_allowed() -> None:
    raw = changed("track_rules.json", lambda raw: _rule(raw).update(_note="why this rule exists"))
    assert parse_track_rules(raw) == track_rules()
