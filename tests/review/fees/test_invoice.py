import datetime as dt
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from review.fees.errors import FeeScheduleInvalid, InvoiceInputInvalid
from review.fees.invoice import compute_invoice, format_invoice_number, format_yuan, parse_invoice_number
from review.fees.schedule import example_schedule, load_schedule_bytes, parse_schedule
from review.fees.validate import main as validate_main

SCHEDULE = example_schedule()


def test_example_schedule_loads_and_says_it_is_an_example() -> None:
    assert SCHEDULE.example
    assert "示例" in SCHEDULE.title
    assert set(SCHEDULE.tracks) == {"construction", "fire", "civil_air_defence"}
    assert [tier.to_m2 for tier in SCHEDULE.tracks["construction"].tiers] == [10000, 50000, None]


def test_progressive_tiers_in_integer_fen() -> None:
    invoice = compute_invoice(12345.67, ["construction", "fire", "civil_air_defence"], SCHEDULE)
    construction, fire, civil = invoice.lines
    assert invoice.area_m2 == Decimal("12345.67")
    assert construction.amount_fen == 2_622_221  # 10000 × 220 + 2345.67 × 180 = 2 622 220.6
    assert [charge.area_m2 for charge in construction.charges] == [Decimal(10000), Decimal("2345.67")]
    assert fire.amount_fen == 1_187_654  # 10000 × 100 + 2345.67 × 80 = 1 187 653.6
    assert civil.amount_fen == 617_284  # 12345.67 × 50 = 617 283.5, half up
    assert invoice.total_fen == 4_427_159
    assert all(isinstance(line.amount_fen, int) for line in invoice.lines)
    assert isinstance(invoice.total_fen, int)
    assert invoice.example_schedule
    assert invoice.number is None


def test_format_yuan() -> None:
    assert format_yuan(2_622_221) == "¥26,222.21"
    assert format_yuan(5) == "¥0.05"
    assert format_yuan(-150) == "-¥1.50"


def test_a_tier_boundary_does_not_jump() -> None:
    below = compute_invoice("10000", ["construction"], SCHEDULE).total_fen
    above = compute_invoice("10000.01", ["construction"], SCHEDULE).total_fen
    assert (below, above) == (2_200_000, 2_200_002)  # 0.01 m² × 180 = 1.8 fen → 2


def test_minimum_and_maximum() -> None:
    small = compute_invoice(500, ["construction"], SCHEDULE).lines[0]
    assert (small.computed_fen, small.amount_fen, small.minimum_applied) == (110_000, 300_000, True)
    big = compute_invoice(200_000, ["civil_air_defence"], SCHEDULE).lines[0]
    assert (big.computed_fen, big.amount_fen, big.maximum_applied) == (10_000_000, 5_000_000, True)


@pytest.mark.parametrize(
    ("area", "tracks"),
    [(0, ["fire"]), (-5, ["fire"]), ("abc", ["fire"]), (float("nan"), ["fire"]), (100, []), (100, ["fire", "fire"])],
)
def test_invalid_invoice_input(area: Any, tracks: list[str]) -> None:
    with pytest.raises(InvoiceInputInvalid):
        compute_invoice(area, tracks, SCHEDULE)


def test_unknown_track_is_named() -> None:
    with pytest.raises(InvoiceInputInvalid) as refused:
        compute_invoice(100, ["fire", "lightning"], SCHEDULE)
    assert "lightning" in refused.value.en
    assert "lightning" in refused.value.zh


def test_invoice_numbers() -> None:
    number = format_invoice_number(dt.date(2026, 11, 27), 42)
    assert number.startswith("LT20261127-000042-")
    assert parse_invoice_number(number) == (dt.date(2026, 11, 27), 42)
    check = int(number[-1])
    with pytest.raises(InvoiceInputInvalid, match="check digit"):
        parse_invoice_number(number[:-1] + str((check + 1) % 10))
    with pytest.raises(InvoiceInputInvalid, match="check digit"):
        parse_invoice_number(number.replace("000042", "000043"))
    with pytest.raises(InvoiceInputInvalid):
        parse_invoice_number("LT2026-1")
    with pytest.raises(InvoiceInputInvalid):
        format_invoice_number(dt.date(2026, 11, 27), 0)
    invoice = compute_invoice(100, ["fire"], SCHEDULE, number=number)
    assert invoice.number == number
    with pytest.raises(InvoiceInputInvalid):
        compute_invoice(100, ["fire"], SCHEDULE, number="INV-1")


def _raw() -> dict[str, Any]:
    text = resources.files("review.fees").joinpath("data/fee_schedule_example.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _mutated(change: str) -> dict[str, Any]:
    raw = _raw()
    fire = raw["tracks"]["fire"]
    if change == "gap":
        fire["tiers"][1]["from_m2"] = 12000
    elif change == "overlap":
        fire["tiers"][1]["from_m2"] = 8000
    elif change == "negative rate":
        fire["tiers"][0]["rate_fen_per_m2"] = -1
    elif change == "float rate":
        fire["tiers"][0]["rate_fen_per_m2"] = 1.5
    elif change == "unknown key":
        fire["discount"] = 10
    elif change == "unknown top key":
        raw["currency"] = "CNY"
    elif change == "closed last tier":
        fire["tiers"][2]["to_m2"] = 100000
    elif change == "open middle tier":
        fire["tiers"][1]["to_m2"] = None
    elif change == "not from zero":
        fire["tiers"][0]["from_m2"] = 1
    elif change == "cap below minimum":
        fire["maximum_fen"] = 100
    elif change == "empty bounds":
        fire["tiers"][0]["to_m2"] = 0
    return raw


@pytest.mark.parametrize(
    "change",
    [
        "gap",
        "overlap",
        "negative rate",
        "float rate",
        "unknown key",
        "unknown top key",
        "closed last tier",
        "open middle tier",
        "not from zero",
        "cap below minimum",
        "empty bounds",
    ],
)
def test_schedule_validation(change: str) -> None:
    with pytest.raises(FeeScheduleInvalid):
        parse_schedule(_mutated(change))


def test_schedule_bytes() -> None:
    assert load_schedule_bytes(json.dumps(_raw()).encode()).tracks["fire"].minimum_fen == 150_000
    with pytest.raises(FeeScheduleInvalid, match="JSON"):
        load_schedule_bytes(b"\xff")


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_main([]) == 0
    out = capsys.readouterr().out
    assert "EXAMPLE" in out
    assert "fire 消防设计审查费: min ¥1,500.00, max none" in out
    bad = tmp_path / "schedule.json"
    bad.write_text(json.dumps(_mutated("gap")), "utf-8")
    assert validate_main([str(bad)]) == 1
    assert "档位不连续" in capsys.readouterr().err
