"""Strict reading of the routing data files: every object's keys are checked, every code must be known."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from review.routing.errors import RulesInvalid

FORMAT = 1
"""Version of the data-file layout this code reads."""


def invalid(where: str, zh: str, en: str) -> RulesInvalid:
    """The error for a defect at ``where`` (a file name and a path inside it)."""
    return RulesInvalid(f"{where}：{zh}", f"{where}: {en}")


def read_json(name: str) -> object:
    """The decoded content of ``review/routing/data/<name>``."""
    return decode(name, resources.files("review.routing").joinpath(f"data/{name}").read_bytes())


def decode(where: str, data: bytes) -> object:
    """Decode UTF-8 JSON, turning any decoding failure into :class:`RulesInvalid`."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid(where, f"不是有效的 UTF-8 JSON：{exc}", f"not valid UTF-8 JSON: {exc}") from None


def fields(
    where: str, raw: object, required: frozenset[str], optional: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    """``raw`` as an object holding every required key and no key outside required and optional.

    Keys starting with ``_`` are comments and are ignored.
    """
    if not isinstance(raw, dict):
        raise invalid(where, "应为对象", "must be an object")
    keys = {key for key in raw if not key.startswith("_")}
    unknown, missing = sorted(keys - required - optional), sorted(required - keys)
    if unknown:
        raise invalid(where, f"未知字段 {', '.join(unknown)}", f"unknown keys {', '.join(unknown)}")
    if missing:
        raise invalid(where, f"缺少字段 {', '.join(missing)}", f"missing keys {', '.join(missing)}")
    return {key: value for key, value in raw.items() if key in keys}


def text(where: str, key: str, value: object) -> str:
    """A non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(where, f"{key} 须为非空字符串", f"{key} must be a non-empty string")
    return value


def texts(where: str, key: str, value: object, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A list of non-blank strings."""
    if not isinstance(value, list) or (not value and not allow_empty):
        raise invalid(where, f"{key} 须为非空字符串列表", f"{key} must be a non-empty list of strings")
    return tuple(text(f"{where} {key}[{index}]", key, item) for index, item in enumerate(value))


def flag(where: str, key: str, value: object) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise invalid(where, f"{key} 须为 true 或 false", f"{key} must be true or false")
    return value


def codes(where: str, key: str, value: object, known: frozenset[str], what: tuple[str, str]) -> tuple[str, ...]:
    """A non-empty list of codes, each one of ``known``; ``what`` names the kind of code in zh and en."""
    found = texts(where, key, value)
    unknown = sorted(set(found) - known)
    if unknown:
        zh, en = what
        raise invalid(where, f"未知{zh} {', '.join(unknown)}", f"unknown {en} {', '.join(unknown)}")
    return found


def check_format(where: str, value: object) -> None:
    """Refuse a layout version this code does not read."""
    if value != FORMAT:
        raise invalid(where, f"不支持的格式版本 {value!r}", f"unsupported format {value!r}")
