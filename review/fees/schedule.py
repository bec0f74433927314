"""The fee schedule (收费标准): per-track, tiered rates on gross floor area, loaded from data.

Tiers are progressive (超额累进): the part of the area inside each tier is charged at that tier's
rate, like income-tax brackets, so the fee never jumps when the area crosses a boundary. A track
may have a minimum (起收金额) and a maximum (封顶金额). Money is integer fen (分) throughout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from review.fees.errors import FeeScheduleInvalid

FORMAT = 1
_TOP_KEYS = frozenset({"format", "example", "title", "note", "tracks"})
_TRACK_KEYS = frozenset({"name_zh", "name_en", "minimum_fen", "maximum_fen", "tiers"})
_TIER_KEYS = frozenset({"from_m2", "to_m2", "rate_fen_per_m2"})


@dataclass(frozen=True)
class Tier:
    """One band of area and its rate."""

    from_m2: int
    """Lower bound of the band, m² (inclusive)."""
    to_m2: int | None
    """Upper bound, m²; ``None`` for the open last band."""
    rate_fen_per_m2: int
    """Fen charged per m² inside the band."""


@dataclass(frozen=True)
class TrackFee:
    """How one track's review fee is computed."""

    track: str
    """Track code, e.g. ``fire``."""
    name_zh: str
    """Name of the fee on the invoice, Chinese."""
    name_en: str
    """Name of the fee on the invoice, English."""
    minimum_fen: int
    """Smallest amount charged (0: none)."""
    maximum_fen: int | None
    """Largest amount charged; ``None``: no cap."""
    tiers: tuple[Tier, ...]
    """Contiguous bands from 0 m², the last one open."""


@dataclass(frozen=True)
class FeeSchedule:
    """A validated fee schedule."""

    title: str
    """Title shown with the invoice (e.g. the price authority's document)."""
    example: bool
    """True for the shipped example schedule, which no bureau should charge by."""
    tracks: Mapping[str, TrackFee]
    """Track code → fee rule."""


def _invalid(where: str, zh: str, en: str) -> FeeScheduleInvalid:
    return FeeScheduleInvalid(f"收费标准 {where}：{zh}", f"fee schedule {where}: {en}")


def _keys(where: str, raw: object, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise _invalid(where, "应为对象", "must be an object")
    unknown, missing = sorted(set(raw) - allowed), sorted(allowed - set(raw))
    if unknown:
        raise _invalid(where, f"未知字段 {', '.join(unknown)}", f"unknown keys {', '.join(unknown)}")
    if missing:
        raise _invalid(where, f"缺少字段 {', '.join(missing)}", f"missing keys {', '.join(missing)}")
    return raw


def _whole(where: str, key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        zh, en = f"{key} 须为非负整数，实为 {value!r}", f"{key} must be a non-negative integer, got {value!r}"
        raise _invalid(where, zh, en)
    return value


def _whole_or_none(where: str, key: str, value: object) -> int | None:
    return None if value is None else _whole(where, key, value)


def _tiers(where: str, raw: object) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise _invalid(where, "tiers 须为非空列表", "tiers must be a non-empty list")
    tiers: list[Tier] = []
    expected_from = 0
    for index, entry in enumerate(raw):
        at = f"{where} tier {index + 1}"
        fields = _keys(at, entry, _TIER_KEYS)
        lower = _whole(at, "from_m2", fields["from_m2"])
        upper = _whole_or_none(at, "to_m2", fields["to_m2"])
        rate = _whole(at, "rate_fen_per_m2", fields["rate_fen_per_m2"])
        if lower != expected_from:
            zh = f"档位不连续：应从 {expected_from} m² 开始，实为 {lower}"
            raise _invalid(at, zh, f"tiers not contiguous: expected from_m2 {expected_from}, got {lower}")
        if upper is None:
            if index != len(raw) - 1:
                raise _invalid(at, "只有最后一档可以不设上限", "only the last tier may be open-ended")
        elif upper <= lower:
            raise _invalid(at, "档位上限须大于下限", "to_m2 must exceed from_m2")
        else:
            expected_from = upper
        tiers.append(Tier(lower, upper, rate))
    if tiers[-1].to_m2 is not None:
        raise _invalid(where, "最后一档须不设上限（to_m2 为 null）", "the last tier must be open-ended (to_m2 null)")
    return tuple(tiers)


def _track(code: str, raw: object) -> TrackFee:
    where = f"track {code}"
    fields = _keys(where, raw, _TRACK_KEYS)
    for key in ("name_zh", "name_en"):
        if not isinstance(fields[key], str) or not fields[key].strip():
            raise _invalid(where, f"{key} 不能为空", f"{key} must be a non-empty string")
    minimum = _whole(where, "minimum_fen", fields["minimum_fen"])
    maximum = _whole_or_none(where, "maximum_fen", fields["maximum_fen"])
    if maximum is not None and maximum < minimum:
        raise _invalid(where, "封顶金额小于起收金额", "maximum_fen is below minimum_fen")
    return TrackFee(code, fields["name_zh"], fields["name_en"], minimum, maximum, _tiers(where, fields["tiers"]))


def parse_schedule(raw: object) -> FeeSchedule:
    """Validate a decoded schedule; raise :class:`FeeScheduleInvalid` on any defect."""
    fields = _keys("", raw, _TOP_KEYS)
    if fields["format"] != FORMAT:
        raise _invalid("", f"不支持的格式版本 {fields['format']!r}", f"unsupported format {fields['format']!r}")
    if not isinstance(fields["example"], bool):
        raise _invalid("", "example 须为 true 或 false", "example must be true or false")
    if not isinstance(fields["title"], str) or not fields["title"]:
        raise _invalid("", "须有标题", "a title is required")
    tracks = fields["tracks"]
    if not isinstance(tracks, dict) or not tracks:
        raise _invalid("", "tracks 须为非空对象", "tracks must be a non-empty object")
    parsed = {code: _track(code, entry) for code, entry in tracks.items()}
    return FeeSchedule(fields["title"], fields["example"], MappingProxyType(parsed))


def load_schedule_bytes(data: bytes) -> FeeSchedule:
    """Decode and validate a schedule file's content."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid("", f"不是有效的 UTF-8 JSON：{exc}", f"not valid UTF-8 JSON: {exc}") from None
    return parse_schedule(raw)


def example_schedule() -> FeeSchedule:
    """The shipped example schedule (``data/fee_schedule_example.json``)."""
    data = resources.files("review.fees").joinpath("data/fee_schedule_example.json").read_bytes()
    return load_schedule_bytes(data)
