import datetime as dt
import json
from pathlib import Path

import pytest

from review.deadlines.calendar import WorkCalendar, china_calendar, load_year_bytes, parse_year, shipped_years
from review.deadlines.errors import CalendarDataInvalid, CalendarGap
from review.deadlines.validate import main as validate_main

D = dt.date


def test_every_shipped_year_loads_and_is_named_after_its_year() -> None:
    years = shipped_years()
    assert [year.year for year in years] == [2025, 2026, 2027]
    assert [year.provisional for year in years] == [False, False, True]
    assert all(year.source_title for year in years)


def test_2025_matches_the_published_notice() -> None:
    calendar = china_calendar()
    year = next(data for data in shipped_years() if data.year == 2025)
    assert year.source_number == "国办发明电〔2024〕12号"
    expected_rest = {D(2025, 1, 1)}
    expected_rest |= {D(2025, 1, 28) + dt.timedelta(days=n) for n in range(8)}  # 1/28–2/4
    expected_rest |= {D(2025, 4, 4), D(2025, 4, 5), D(2025, 4, 6)}
    expected_rest |= {D(2025, 5, n) for n in range(1, 6)}
    expected_rest |= {D(2025, 5, 31), D(2025, 6, 1), D(2025, 6, 2)}
    expected_rest |= {D(2025, 10, n) for n in range(1, 9)}
    assert year.rest_days == expected_rest
    assert year.working_days == {D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28), D(2025, 10, 11)}
    assert calendar.is_working_day(D(2025, 1, 26))  # Sunday, 调休上班
    assert calendar.is_working_day(D(2025, 2, 8))  # Saturday
    assert not calendar.is_working_day(D(2025, 2, 4))  # Tuesday, 正月初七
    assert not calendar.is_working_day(D(2025, 10, 8))  # Wednesday, last day of 国庆+中秋
    assert calendar.is_working_day(D(2025, 10, 9))
    assert not calendar.is_working_day(D(2025, 3, 1))  # an ordinary Saturday
    assert calendar.is_working_day(D(2025, 3, 3))  # an ordinary Monday


def test_2026_matches_the_published_notice() -> None:
    calendar = china_calendar()
    year = next(data for data in shipped_years() if data.year == 2026)
    assert len(year.rest_days) == 33
    assert year.working_days == {
        D(2026, 1, 4),
        D(2026, 2, 14),
        D(2026, 2, 28),
        D(2026, 5, 9),
        D(2026, 9, 20),
        D(2026, 10, 10),
    }
    assert not calendar.is_working_day(D(2026, 2, 23))  # Monday, 正月初七
    assert not calendar.is_working_day(D(2026, 9, 25))  # 中秋, Friday
    assert calendar.is_working_day(D(2026, 10, 8))


def test_provisional_and_missing_years_are_refused() -> None:
    calendar = china_calendar()
    with pytest.raises(CalendarGap) as provisional:
        calendar.is_working_day(D(2027, 3, 1))
    assert provisional.value.provisional
    assert "暂定" in provisional.value.zh
    assert "provisional" in provisional.value.en
    with pytest.raises(CalendarGap) as missing:
        calendar.is_working_day(D(2024, 12, 31))
    assert not missing.value.provisional
    lenient = china_calendar(allow_provisional=True)
    assert not lenient.is_working_day(D(2027, 2, 5))  # 除夕
    assert lenient.is_working_day(D(2027, 2, 9))
    with pytest.raises(CalendarGap):
        lenient.is_working_day(D(2028, 1, 3))


def _year(**changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "format": 1,
        "year": 2030,
        "provisional": False,
        "source": {"title": "t", "number": None, "issued": "2029-11-01", "note": ""},
        "holidays": [
            {
                "name_zh": "春节",
                "name_en": "Spring Festival",
                "rest_from": "2030-02-02",
                "rest_to": "2030-02-08",
                "working_days": ["2030-01-26"],
            },
        ],
    }
    raw.update(changes)
    return raw


def _holiday(**changes: object) -> list[dict[str, object]]:
    entry = dict(_year()["holidays"][0])  # type: ignore[index]
    entry.update(changes)
    return [entry]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_year(colour="red"), "colour"),
        (_year(holidays=_holiday(rest_from="2031-02-02")), "outside the year"),
        (_year(holidays=_holiday(working_days=["2030-02-03"])), "both"),  # a Sunday inside the rest span
        (_year(holidays=_holiday(working_days=["2030-01-28"])), "weekday anyway"),
        (_year(holidays=_holiday(rest_to="2030-02-01")), "before rest_from"),
        (
            _year(holidays=[*_holiday(), *_holiday(rest_from="2030-02-08", rest_to="2030-02-09", working_days=[])]),
            "both",
        ),
        (_year(holidays=_holiday(extra=1)), "extra"),
        (_year(format=2), "format"),
        (_year(holidays=_holiday(rest_from="2030-2-2")), "ISO"),
    ],
)
def test_the_loader_refuses_defective_data(raw: dict[str, object], message: str) -> None:
    with pytest.raises(CalendarDataInvalid, match=message):
        parse_year(raw)


def test_valid_custom_year_and_duplicate_years() -> None:
    year = load_year_bytes(json.dumps(_year()).encode())
    calendar = WorkCalendar([year])
    assert calendar.is_working_day(D(2030, 1, 26))
    assert calendar.working_days_in(D(2030, 2, 1), D(2030, 2, 11)) == 2  # Friday 2/1 and Monday 2/11
    with pytest.raises(CalendarDataInvalid):
        WorkCalendar([year, year])
    with pytest.raises(CalendarDataInvalid, match="JSON"):
        load_year_bytes(b"{not json")


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_main([]) == 0
    out = capsys.readouterr().out
    assert "2025: official" in out
    assert "2027: provisional" in out
    bad = tmp_path / "holidays_cn_2030.json"
    bad.write_text(json.dumps(_year(holidays=_holiday(working_days=["2030-02-03"]))), "utf-8")
    assert validate_main([str(bad)]) == 1
    assert "同时出现" in capsys.readouterr().err
