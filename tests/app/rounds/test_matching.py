"""Content similarity of sheets: drawing text, without the title-block text every sheet shares."""

from __future__ import annotations

from app.rounds.matching import boilerplate, similarity


def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


TEMPLATE = "设计单位联图建筑设计院比例1:100审定校对"


def test_shared_title_block_text_does_not_make_sheets_alike() -> None:
    stair = _bigrams(TEMPLATE + "楼梯详图踏步平台栏杆")
    roof = _bigrams(TEMPLATE + "屋面排水坡度女儿墙")
    wall = _bigrams(TEMPLATE + "外墙大样保温层")
    brand_new = _bigrams(TEMPLATE + "地下室人防门")
    renumbered_stair = _bigrams(TEMPLATE + "楼梯详图踏步平台栏杆扶手")
    assert similarity(brand_new, stair) > 0.4  # the template alone makes them look alike
    common = boilerplate([stair, roof, wall])
    assert similarity(brand_new - common, stair - common) == 0.0
    assert similarity(renumbered_stair - common, stair - common) > 0.8


def test_two_sheets_are_too_few_to_tell_boilerplate() -> None:
    assert boilerplate([_bigrams("甲乙丙"), _bigrams("甲乙丁")]) == frozenset()
    assert similarity(frozenset(), _bigrams("甲乙")) == 0.0
