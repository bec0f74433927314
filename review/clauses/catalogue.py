"""Loading and searching the clause catalogue.

File format (one or more standards per file)::

    {"format": 1,
     "standards": [
       {"code": "GB 50016", "edition": "2014", "version_note": "2018年版", "title_zh": "建筑设计防火规范",
        "title_en": "Code for fire protection design of buildings", "tracks": ["fire"], "note": "…",
        "clauses": [{"number": "5.5.17", "topic_zh": "公共建筑的安全疏散距离",
                     "topic_en": "Evacuation distances in public buildings", "mandatory": true,
                     "tracks": ["fire"]}]}]}

A clause's id is ``"{code}-{edition}:{number}"`` (``GB 50016-2014:5.5.17``), the form comments store.
``mandatory`` is true for a 强制性条文, false when known not to be one, null when not recorded;
``tracks`` defaults to the standard's. Unknown keys, missing keys, malformed numbers, unknown tracks
and duplicate ids (also across files) are refused.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from review.errors import ReviewError

TRACKS = frozenset({"fire", "civil_air_defence", "construction", "lightning"})
"""Tracks a clause can concern: 消防, 人防, 施工图审查, 防雷."""

_NUMBER = re.compile(r"\d{1,2}(\.\d{1,2}[A-Z]?){0,3}")
_CODE = re.compile(r"(GB|GB/T|JGJ|JGJ/T|CJJ|DB\d{2}(/T)?|T/[A-Z]+) \d{1,6}(\.\d)?")
_EDITION = re.compile(r"\d{4}")
_STANDARD_KEYS = {
    "required": {"code", "edition", "title_zh", "tracks", "clauses"},
    "optional": {"title_en", "version_note", "note"},
}
_CLAUSE_KEYS = {"required": {"number", "topic_zh"}, "optional": {"topic_en", "mandatory", "tracks", "keywords"}}


class CatalogueInvalid(ReviewError, ValueError):
    """A catalogue file that breaks the format; names the file and the entry."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} / {en}")


@dataclass(frozen=True)
class Standard:
    """A code or standard (规范/标准) in one edition."""

    code: str
    """Its number without the year, e.g. ``GB 50016``."""
    edition: str
    """Year of the edition, e.g. ``2014``."""
    title_zh: str
    title_en: str
    version_note: str
    """Revision the catalogue follows when the edition was partly revised, e.g. ``2018年版``."""
    note: str
    tracks: frozenset[str]

    @property
    def designation(self) -> str:
        """``GB 50016-2014``."""
        return f"{self.code}-{self.edition}"


@dataclass(frozen=True)
class Clause:
    """One clause (条文) or section of a standard, with our own summary of its topic."""

    standard: Standard
    number: str
    """Clause number, e.g. ``5.5.17``; a section or chapter number where the entry covers one."""
    topic_zh: str
    topic_en: str
    mandatory: bool | None
    """Whether it is a 强制性条文; None when the catalogue does not record it."""
    tracks: frozenset[str]
    keywords: tuple[str, ...]

    @property
    def clause_id(self) -> str:
        """``GB 50016-2014:5.5.17``: the id comments store."""
        return f"{self.standard.designation}:{self.number}"

    @property
    def citation_zh(self) -> str:
        """How a comment cites it: 《建筑设计防火规范》GB 50016-2014（2018年版）第 5.5.17 条."""
        version = f"（{self.standard.version_note}）" if self.standard.version_note else ""
        return f"《{self.standard.title_zh}》{self.standard.designation}{version}第 {self.number} 条"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _number_key(number: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(re.sub(r"\D", "", part) or 0), re.sub(r"\d", "", part)) for part in number.split("."))


@dataclass(frozen=True)
class Catalogue:
    """Every known clause, searchable."""

    standards: tuple[Standard, ...]
    clauses: tuple[Clause, ...]
    _index: Mapping[str, Clause] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", MappingProxyType({c.clause_id: c for c in self.clauses}))

    def get(self, clause_id: str) -> Clause | None:
        """The clause with this id, or None."""
        return self._index.get(clause_id)

    def search(
        self,
        keyword: str = "",
        *,
        code: str | None = None,
        number: str | None = None,
        track: str | None = None,
        mandatory: bool | None = None,
    ) -> list[Clause]:
        """Clauses matching every given filter, ordered by standard and clause number.

        ``keyword`` matches the topic (Chinese or English), keywords, the standard's title or the number,
        ignoring case and full-width forms; several words must all match. ``code`` matches ``GB 50016`` or
        ``GB50016`` or the designation with the year; ``number`` matches the clause and those under it
        (``5.5`` finds ``5.5.17``).
        """
        words = [_fold(w) for w in keyword.split()]
        code_key = _fold(code).replace(" ", "") if code else None
        found = []
        for clause in self.clauses:
            s = clause.standard
            if code_key and code_key not in (_fold(s.code).replace(" ", ""), _fold(s.designation).replace(" ", "")):
                continue
            if number and clause.number != number and not clause.number.startswith(number + "."):
                continue
            if track and track not in clause.tracks:
                continue
            if mandatory is not None and clause.mandatory is not mandatory:
                continue
            if words:
                haystack = _fold(
                    " ".join(
                        [clause.topic_zh, clause.topic_en, s.title_zh, s.title_en, clause.number, *clause.keywords]
                    )
                )
                if not all(w in haystack for w in words):
                    continue
            found.append(clause)
        return sorted(found, key=lambda c: (c.standard.code, c.standard.edition, _number_key(c.number)))

    def for_track(self, track: str) -> list[Clause]:
        """Every clause concerning ``track``."""
        return self.search(track=track)


def _fail(source: str, where: str, zh: str, en: str) -> CatalogueInvalid:
    return CatalogueInvalid(f"规范条文目录 {source} {where}：{zh}", f"clause catalogue {source} {where}: {en}")


def _keys(entry: Any, spec: Mapping[str, set[str]], source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(entry, dict):
        raise _fail(source, where, "应为对象", "must be an object")
    unknown = set(entry) - spec["required"] - spec["optional"]
    if unknown:
        raise _fail(source, where, f"未知字段 {sorted(unknown)}", f"unknown keys {sorted(unknown)}")
    missing = spec["required"] - set(entry)
    if missing:
        raise _fail(source, where, f"缺少字段 {sorted(missing)}", f"missing keys {sorted(missing)}")
    return entry


def _text(entry: Mapping[str, Any], key: str, source: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(source, where, f"{key} 应为非空文字", f"{key} must be a non-empty string")
    return value.strip()


def _tracks(value: Any, source: str, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise _fail(source, where, "tracks 应为非空列表", "tracks must be a non-empty list of strings")
    unknown = set(value) - TRACKS
    if unknown:
        raise _fail(source, where, f"未知专项 {sorted(unknown)}", f"unknown tracks {sorted(unknown)}")
    return frozenset(value)


def _standard(entry: Any, source: str, where: str) -> tuple[Standard, list[Any]]:
    entry = _keys(entry, _STANDARD_KEYS, source, where)
    code = _text(entry, "code", source, where)
    edition = _text(entry, "edition", source, where)
    if not _CODE.fullmatch(code):
        raise _fail(source, where, f"规范编号格式不正确：{code}", f"malformed standard code {code!r}")
    if not _EDITION.fullmatch(edition):
        raise _fail(source, where, f"版本年份格式不正确：{edition}", f"edition must be a year, not {edition!r}")
    clauses = entry["clauses"]
    if not isinstance(clauses, list) or not clauses:
        raise _fail(source, where, "clauses 应为非空列表", "clauses must be a non-empty list")
    standard = Standard(
        code=code,
        edition=edition,
        title_zh=_text(entry, "title_zh", source, where),
        title_en=_text(entry, "title_en", source, where, required=False),
        version_note=_text(entry, "version_note", source, where, required=False),
        note=_text(entry, "note", source, where, required=False),
        tracks=_tracks(entry["tracks"], source, where),
    )
    return standard, clauses


def _clause(entry: Any, standard: Standard, source: str, where: str) -> Clause:
    entry = _keys(entry, _CLAUSE_KEYS, source, where)
    number = _text(entry, "number", source, where)
    if not _NUMBER.fullmatch(number):
        raise _fail(source, where, f"条文编号格式不正确：{number}", f"malformed clause number {number!r}")
    mandatory = entry.get("mandatory")
    if mandatory is not None and not isinstance(mandatory, bool):
        raise _fail(source, where, "mandatory 应为 true、false 或 null", "mandatory must be true, false or null")
    keywords = entry.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise _fail(source, where, "keywords 应为文字列表", "keywords must be a list of strings")
    return Clause(
        standard=standard,
        number=number,
        topic_zh=_text(entry, "topic_zh", source, where),
        topic_en=_text(entry, "topic_en", source, where, required=False),
        mandatory=mandatory,
        tracks=_tracks(entry["tracks"], source, where) if "tracks" in entry else standard.tracks,
        keywords=tuple(k.strip() for k in keywords),
    )


def _parse(data: bytes, source: str) -> tuple[list[Standard], list[Clause]]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(source, "", "不是有效的 JSON", f"not valid JSON ({exc})") from exc
    document = _keys(document, {"required": {"format", "standards"}, "optional": {"_comment"}}, source, "")
    if document["format"] != 1:
        raise _fail(source, "", "只支持 format 1", "only format 1 is supported")
    if not isinstance(document["standards"], list):
        raise _fail(source, "", "standards 应为列表", "standards must be a list")
    standards: list[Standard] = []
    clauses: list[Clause] = []
    for i, raw in enumerate(document["standards"]):
        standard, raw_clauses = _standard(raw, source, f"standards[{i}]")
        standards.append(standard)
        for j, raw_clause in enumerate(raw_clauses):
            clauses.append(_clause(raw_clause, standard, source, f"{standard.designation} clauses[{j}]"))
    return standards, clauses


def _assemble(parts: Iterable[tuple[str, bytes]]) -> Catalogue:
    standards: dict[str, Standard] = {}
    clauses: dict[str, Clause] = {}
    for source, data in parts:
        new_standards, new_clauses = _parse(data, source)
        for standard in new_standards:
            known = standards.get(standard.designation)
            if known is not None and known != standard:
                raise _fail(
                    source,
                    standard.designation,
                    "与已加载的同一规范信息不一致",
                    "differs from the same standard loaded before",
                )
            standards[standard.designation] = standard
        for clause in new_clauses:
            if clause.clause_id in clauses:
                raise _fail(source, clause.clause_id, "条文重复", "duplicate clause id")
            clauses[clause.clause_id] = clause
    return Catalogue(tuple(standards.values()), tuple(clauses.values()))


def load_catalogue_bytes(files: Iterable[tuple[str, bytes]], *, include_packaged: bool = True) -> Catalogue:
    """The packaged catalogue (unless told otherwise) extended by ``(name, bytes)`` files."""
    packaged = _packaged() if include_packaged else []
    return _assemble([*packaged, *files])


def _packaged() -> list[tuple[str, bytes]]:
    folder = resources.files("review.clauses") / "data"
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    return [(f"data/{e.name}", e.read_bytes()) for e in entries]


def load_catalogue(extra_paths: Iterable[str | Path] = ()) -> Catalogue:
    """The packaged catalogue extended by JSON files at ``extra_paths``."""
    return load_catalogue_bytes([(str(p), Path(p).read_bytes()) for p in extra_paths])
