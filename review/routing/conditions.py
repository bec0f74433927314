"""Conditions over project facts (适用条件): when a checklist item applies.

Written as data: ``{"fact": "civil_air_defence_area_m2", "op": ">", "value": 0}``, combined with
``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": ...}``. A fact the project has not stated yet
makes a comparison unknown; ``all``, ``any`` and ``not`` follow three-valued logic, and the
checklist treats an unknown condition as applying, so that nothing is waived on a missing fact.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from review.routing.facts import BUILDING_USES, FACT_NAMES, NUMERIC_FACTS, ProjectFacts
from review.routing.loading import fields, invalid

FACT_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "civil_air_defence_area_m2": ("人防建筑面积（m²）", "civil air defence area (m²)"),
        "floors_above": ("地上层数", "storeys above ground"),
        "floors_below": ("地下层数", "storeys below ground"),
        "height_m": ("建筑高度（m）", "building height (m)"),
        "gross_floor_area_m2": ("总建筑面积（m²）", "gross floor area (m²)"),
        "building_use": ("建筑用途", "building use"),
    }
)
"""Chinese and English label of every fact."""

_NUMERIC_OPS: Mapping[str, Callable[[Any, Any], bool]] = MappingProxyType(
    {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
)
_TEXT_OPS = frozenset({"==", "!=", "in", "not_in"})


@dataclass(frozen=True)
class Comparison:
    """One fact compared with a value."""

    fact: str
    """Fact name, one of :data:`~review.routing.facts.FACT_NAMES`."""
    op: str
    """``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=`` for numbers; ``==``, ``!=``, ``in``, ``not_in`` for building use."""
    value: float | str | tuple[str, ...]
    """What the fact is compared with."""


@dataclass(frozen=True)
class Combination:
    """Several conditions joined."""

    join: str
    """``all``, ``any`` or ``not`` (``not`` holds exactly one part)."""
    parts: tuple[Condition, ...]
    """The joined conditions."""


Condition = Comparison | Combination


def parse_condition(where: str, raw: object) -> Condition:
    """Validate one decoded condition: known facts, operators fitting the fact, values of the fact's type."""
    if isinstance(raw, dict) and "fact" in raw:
        entry = fields(where, raw, frozenset({"fact", "op", "value"}))
        fact, op, value = entry["fact"], entry["op"], entry["value"]
        if fact not in FACT_NAMES:
            raise invalid(where, f"未知项目信息 {fact!r}", f"unknown project fact {fact!r}")
        if fact in NUMERIC_FACTS:
            if op not in _NUMERIC_OPS:
                raise invalid(where, f"数值比较不支持 {op!r}", f"operator {op!r} does not apply to numbers")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid(where, f"{fact} 须与数值比较", f"{fact} must be compared with a number")
            return Comparison(fact, op, value)
        if op not in _TEXT_OPS:
            raise invalid(where, f"建筑用途比较不支持 {op!r}", f"operator {op!r} does not apply to building use")
        uses = value if op in ("in", "not_in") else [value]
        if not isinstance(uses, list) or not uses or any(use not in BUILDING_USES for use in uses):
            raise invalid(where, f"未知建筑用途 {value!r}", f"unknown building use {value!r}")
        return Comparison(fact, op, tuple(uses) if op in ("in", "not_in") else uses[0])
    entry = fields(where, raw, frozenset(), frozenset({"all", "any", "not"}))
    if len(entry) != 1:
        raise invalid(where, "须且只能为 fact、all、any、not 之一", "must be exactly one of fact, all, any, not")
    join, value = next(iter(entry.items()))
    if join == "not":
        return Combination("not", (parse_condition(f"{where}.not", value),))
    if not isinstance(value, list) or not value:
        raise invalid(where, f"{join} 须为非空列表", f"{join} must be a non-empty list")
    return Combination(join, tuple(parse_condition(f"{where}.{join}[{i}]", part) for i, part in enumerate(value)))


def _compare(comparison: Comparison, actual: float | str) -> bool:
    expected = comparison.value
    if comparison.op in ("in", "not_in"):
        inside = isinstance(expected, tuple) and actual in expected
        return inside if comparison.op == "in" else not inside
    return _NUMERIC_OPS[comparison.op](actual, expected)


def holds(condition: Condition, facts: ProjectFacts) -> bool | None:
    """Whether the condition holds for ``facts``: True, False, or None when a fact it needs is unknown."""
    if isinstance(condition, Comparison):
        actual = facts.get(condition.fact)
        return None if actual is None else _compare(condition, actual)
    results = [holds(part, facts) for part in condition.parts]
    if condition.join == "not":
        return None if results[0] is None else not results[0]
    decisive = condition.join == "any"
    if decisive in results:
        return decisive
    return None if None in results else not decisive


def facts_needed(condition: Condition) -> frozenset[str]:
    """Every fact the condition reads."""
    if isinstance(condition, Comparison):
        return frozenset({condition.fact})
    return frozenset().union(*(facts_needed(part) for part in condition.parts))


def describe(condition: Condition) -> tuple[str, str]:
    """The condition in Chinese and English, e.g. ``人防建筑面积（m²） > 0``."""
    if isinstance(condition, Comparison):
        zh, en = FACT_LABELS[condition.fact]
        value = condition.value
        shown = ", ".join(value) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) else value
        op_zh = {"in": "属于", "not_in": "不属于"}.get(condition.op, condition.op)
        op_en = {"in": "is one of", "not_in": "is none of"}.get(condition.op, condition.op)
        return f"{zh} {op_zh} {shown}", f"{en} {op_en} {shown}"
    parts = [describe(part) for part in condition.parts]
    if condition.join == "not":
        return f"并非（{parts[0][0]}）", f"not ({parts[0][1]})"
    joiner_zh, joiner_en = (" 且 ", " and ") if condition.join == "all" else (" 或 ", " or ")
    return (
        joiner_zh.join(f"（{zh}）" if len(parts) > 1 else zh for zh, _ in parts),
        joiner_en.join(f"({en})" if len(parts) > 1 else en for _, en in parts),
    )
