from __future__ import annotations

import json
from pathlib import Path

import pytest

from review.clauses import TRACKS, CatalogueInvalid, load_catalogue, load_catalogue_bytes

EXTRA = {
    "format": 1,
    "standards": [
        {
            "code": "DB11 1234",
            "edition": "2024",
            "title_zh": "某地方防火标准",
            "tracks": ["fire"],
            "clauses": [
                {"number": "4.2.1", "topic_zh": "地下车库充电设施的防火分隔", "mandatory": False},
                {"number": "4.2.2", "topic_zh": "充电区域的灭火设施", "tracks": ["fire", "construction"]},
            ],
        }
    ],
}


def as_bytes(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def test_packaged_catalogue_loads() -> None:
    catalogue = load_catalogue()
    designations = {s.designation for s in catalogue.standards}
    assert {"GB 50016-2014", "GB 55037-2022", "GB 50038-2005", "GB 50057-2010", "GB 50352-2019"} <= designations
    assert len(catalogue.clauses) > 150
    clause = catalogue.get("GB 50016-2014:5.5.17")
    assert clause is not None
    assert clause.mandatory is True
    assert "疏散距离" in clause.topic_zh
    assert clause.citation_zh == "《建筑设计防火规范》GB 50016-2014（2018年版）第 5.5.17 条"
    assert catalogue.get("GB 50016-2014:99.9") is None
    for c in catalogue.clauses:
        assert c.tracks <= TRACKS
        assert c.topic_zh


def test_every_track_has_clauses() -> None:
    catalogue = load_catalogue()
    for track in TRACKS:
        clauses = catalogue.for_track(track)
        assert clauses, track
        assert all(track in c.tracks for c in clauses)
    assert all(c.standard.code == "GB 50038" for c in catalogue.for_track("civil_air_defence"))
    assert {c.standard.code for c in catalogue.for_track("lightning")} == {"GB 50057"}


def test_search() -> None:
    catalogue = load_catalogue()
    by_number = catalogue.search(code="GB50016", number="5.5")
    numbers = [c.number for c in by_number]
    assert "5.5.17" in numbers
    assert "5.4.9" not in numbers
    assert numbers.index("5.5.9") < numbers.index("5.5.10") < numbers.index("5.5.17")  # numeric order
    assert [c.number for c in catalogue.search(code="gb 50016-2014", number="5.5.17")] == ["5.5.17"]
    hits = catalogue.search("防火分区 面积")
    assert any(c.clause_id == "GB 50016-2014:5.3.1" for c in hits)
    assert all("防火分区" in c.topic_zh and "面积" in c.topic_zh for c in hits if c.standard.code == "GB 50016")
    assert catalogue.search("FIRE LANE", track="fire")
    assert catalogue.search("ＦＩＲＥ　ＬＡＮＥ") == catalogue.search("fire lane")  # full-width input folds
    assert catalogue.search("sprinkler")[0].number == "8.3"
    mandatory_fire = catalogue.search(track="fire", mandatory=True)
    assert mandatory_fire
    assert all(c.mandatory for c in mandatory_fire)
    assert catalogue.search("楼梯", code="GB 50057") == []


def test_extra_file(tmp_path: Path) -> None:
    extra = tmp_path / "local.json"
    extra.write_bytes(as_bytes(EXTRA))
    catalogue = load_catalogue([extra])
    first = catalogue.get("DB11 1234-2024:4.2.1")
    second = catalogue.get("DB11 1234-2024:4.2.2")
    assert first is not None
    assert second is not None
    assert first.mandatory is False
    assert first.tracks == frozenset({"fire"})
    assert second.mandatory is None
    assert second.tracks == frozenset({"fire", "construction"})
    assert catalogue.get("GB 50016-2014:5.5.17") is not None
    alone = load_catalogue_bytes([("local.json", as_bytes(EXTRA))], include_packaged=False)
    assert len(alone.clauses) == 2


def broken(path: tuple[str | int, ...], value: object) -> dict[str, object]:
    document = json.loads(json.dumps(EXTRA))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (broken(("standards", 0, "clauses", 0, "text"), "条文原文"), "unknown keys"),
        (broken(("standards", 0, "colour"), "red"), "unknown keys"),
        (broken(("extra",), 1), "unknown keys"),
        (broken(("standards", 0, "title_zh"), KeyError), "missing keys"),
        (broken(("standards", 0, "clauses", 0, "number"), "5.5.17 条"), "malformed clause number"),
        (broken(("standards", 0, "clauses", 1, "number"), "4.2.1"), "duplicate clause id"),
        (broken(("standards", 0, "tracks"), ["planning"]), "unknown tracks"),
        (broken(("standards", 0, "edition"), "24"), "edition"),
        (broken(("standards", 0, "code"), "建筑规范"), "malformed standard code"),
        (broken(("standards", 0, "clauses", 0, "mandatory"), "yes"), "mandatory"),
        (broken(("standards", 0, "clauses"), []), "non-empty list"),
        (broken(("format",), 2), "format 1"),
    ],
)
def test_invalid_extra_refused(document: dict[str, object], message: str) -> None:
    with pytest.raises(CatalogueInvalid, match=message) as caught:
        load_catalogue_bytes([("local.json", as_bytes(document))], include_packaged=False)
    assert "local.json" in caught.value.zh


def test_duplicate_of_packaged_clause_refused() -> None:
    packaged = next(s for s in load_catalogue().standards if s.designation == "GB 50016-2014")
    duplicate = {
        "format": 1,
        "standards": [
            {
                "code": "GB 50016",
                "edition": "2014",
                "version_note": "2018年版",
                "title_zh": "建筑设计防火规范",
                "title_en": "Code for fire protection design of buildings",
                "note": packaged.note,
                "tracks": ["fire"],
                "clauses": [{"number": "5.5.17", "topic_zh": "重复"}],
            }
        ],
    }
    with pytest.raises(CatalogueInvalid, match="duplicate clause id"):
        load_catalogue_bytes([("dup.json", as_bytes(duplicate))])


def test_not_json_refused() -> None:
    with pytest.raises(CatalogueInvalid, match="not valid JSON"):
        load_catalogue_bytes([("x.json", b"{")], include_packaged=False)
