from __future__ import annotations

import pytest

from review.sheets.units import SheetUnits, scale_units, units_at

MM_PER_POINT = 25.4 / 72


@pytest.mark.parametrize(
    ("text", "per_point", "unit"),
    [
        ("1:100", 100 * MM_PER_POINT, "mm"),
        ("1：50", 50 * MM_PER_POINT, "mm"),
        ("比例 1:200", 200 * MM_PER_POINT, "mm"),
        ("2:1", 0.5 * MM_PER_POINT, "mm"),
        ("1:100 1:100", 100 * MM_PER_POINT, "mm"),
        ('1/4" = 1\'-0"', 48 / 72, "in"),
        ("1\" = 20'", 240 / 72, "in"),
    ],
)
def test_a_written_scale_gives_units_per_point(text: str, per_point: float, unit: str) -> None:
    units = scale_units(text)
    assert units is not None
    assert (units.per_point, units.unit) == (pytest.approx(per_point), unit)


@pytest.mark.parametrize("text", [None, "", "NTS", "见图", "AS SHOWN", "1:100, 1:50", "12:30 1:100", "0:100"])
def test_no_units_without_one_true_scale(text: str | None) -> None:
    assert scale_units(text) is None


def test_units_at_a_scale() -> None:
    assert units_at(100, "m", 1000) == SheetUnits(pytest.approx(100 * MM_PER_POINT / 1000), "m")  # type: ignore[arg-type]
    assert units_at(None, "mm", 1) is None
    assert units_at(float("nan"), "mm", 1) is None
