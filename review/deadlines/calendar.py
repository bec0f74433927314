"""The working-day calendar of mainland China (工作日历).

A day is a working day (工作日) when it is Monday to Friday and not a rest day of a holiday
arrangement, or when it is a weekend day the State Council declared a working day (调休上班).
Each year comes from one data file, ``data/holidays_cn_YYYY.json``, transcribing the notice
国务院办公厅关于YYYY年部分节假日安排的通知. A year whose notice is not yet published may be
shipped ``provisional`` (statutory days only); asking about such a year, or about a year with no
file at all, raises :class:`CalendarGap` unless the calendar was built with
``allow_provisional=True`` (which still refuses missing years). A wrong date is worse than a clear
refusal: a deadline decides whether a department is reported as late.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from review.deadlines.errors import CalendarDataInvalid, CalendarGap

FORMAT = 1
_TOP_KEYS = frozenset({"format", "year", "provisional", "source", "holidays"})
_SOURCE_KEYS = frozenset({"title", "number", "issued", "note"})
_HOLIDAY_KEYS = frozenset({"name_zh", "name_en", "rest_from", "rest_to", "working_days"})


@dataclass(frozen=True)
class Holiday:
    """One festival of a year's arrangement (放假调休安排)."""

    name_zh: str
    """Chinese name as in the notice, e.g. 春节."""
    name_en: str
    """English name."""
    rest_days: tuple[dt.date, ...]
    """Every day off, weekends inside the span included (放假)."""
    working_days: tuple[dt.date, ...]
    """Weekend days declared working days for this festival (调休上班)."""


@dataclass(frozen=True)
class HolidayYear:
    """One year of holiday data as loaded and validated."""

    year: int
    """The calendar year the file covers; every date lies in it."""
    provisional: bool
    """True when the official notice is not transcribed yet: statutory days only."""
    source_title: str
    """Title of the notice (or of the rule the provisional days come from)."""
    source_number: str | None
    """Document number (文号), when verified."""
    holidays: tuple[Holiday, ...]
    """The festivals in the order of the notice."""

    @property
    def rest_days(self) -> frozenset[dt.date]:
        """All days off of the arrangement."""
        return frozenset(day for holiday in self.holidays for day in holiday.rest_days)

    @property
    def working_days(self) -> frozenset[dt.date]:
        """All weekend days declared working days."""
        return frozenset(day for holiday in self.holidays for day in holiday.working_days)


def _invalid(where: str, zh: str, en: str) -> CalendarDataInvalid:
    return CalendarDataInvalid(f"节假日数据 {where}：{zh}", f"holiday data {where}: {en}")


def _check_keys(where: str, raw: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    missing = sorted(allowed - set(raw))
    if unknown:
        raise _invalid(where, f"未知字段 {', '.join(unknown)}", f"unknown keys {', '.join(unknown)}")
    if missing:
        raise _invalid(where, f"缺少字段 {', '.join(missing)}", f"missing keys {', '.join(missing)}")


def _date(where: str, value: object, year: int) -> dt.date:
    if not isinstance(value, str):
        raise _invalid(where, f"日期应为字符串：{value!r}", f"a date must be a string: {value!r}")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(where, f"日期格式错误：{value}", f"not an ISO date: {value}") from None
    if day.year != year:
        raise _invalid(where, f"日期 {value} 不在 {year} 年内", f"date {value} lies outside the year {year}")
    return day


def _holiday(where: str, raw: object, year: int) -> Holiday:
    if not isinstance(raw, dict):
        raise _invalid(where, "节日条目应为对象", "a holiday entry must be an object")
    _check_keys(where, raw, _HOLIDAY_KEYS)
    for key in ("name_zh", "name_en"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise _invalid(where, f"{key} 不能为空", f"{key} must be a non-empty string")
    where = f"{where}（{raw['name_zh']}）"
    first, last = _date(where, raw["rest_from"], year), _date(where, raw["rest_to"], year)
    if last < first:
        raise _invalid(where, "放假结束日早于开始日", "rest_to lies before rest_from")
    if not isinstance(raw["working_days"], list):
        raise _invalid(where, "working_days 应为列表", "working_days must be a list")
    working = tuple(_date(where, value, year) for value in raw["working_days"])
    for day in working:
        if day.weekday() < 5:
            raise _invalid(
                where,
                f"调休上班日 {day} 本来就是工作日（周一至周五）",
                f"adjusted working day {day} is a weekday anyway (Monday to Friday)",
            )
    rest = tuple(first + dt.timedelta(days=offset) for offset in range((last - first).days + 1))
    return Holiday(raw["name_zh"], raw["name_en"], rest, working)


def parse_year(raw: object, where: str = "") -> HolidayYear:
    """Validate one year's decoded JSON and return it; raise :class:`CalendarDataInvalid` on any defect."""
    if not isinstance(raw, dict):
        raise _invalid(where, "顶层应为对象", "the top level must be an object")
    _check_keys(where, raw, _TOP_KEYS)
    if raw["format"] != FORMAT:
        raise _invalid(where, f"不支持的格式版本 {raw['format']!r}", f"unsupported format {raw['format']!r}")
    year, provisional, source = raw["year"], raw["provisional"], raw["source"]
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise _invalid(where, f"年份无效：{year!r}", f"invalid year: {year!r}")
    if not isinstance(provisional, bool):
        raise _invalid(where, "provisional 应为 true 或 false", "provisional must be true or false")
    if not isinstance(source, dict):
        raise _invalid(where, "source 应为对象", "source must be an object")
    _check_keys(f"{where} source", source, _SOURCE_KEYS)
    if not isinstance(source["title"], str) or not source["title"]:
        raise _invalid(where, "必须注明来源通知的标题", "the source notice's title is required")
    if source["number"] is not None and not isinstance(source["number"], str):
        raise _invalid(where, "文号应为字符串或 null", "the document number must be a string or null")
    if not isinstance(raw["holidays"], list) or not raw["holidays"]:
        raise _invalid(where, "holidays 应为非空列表", "holidays must be a non-empty list")
    holidays = tuple(_holiday(f"{where} #{index + 1}", entry, year) for index, entry in enumerate(raw["holidays"]))
    _check_consistency(where, holidays)
    return HolidayYear(year, provisional, source["title"], source["number"], holidays)


def _check_consistency(where: str, holidays: Iterable[Holiday]) -> None:
    owner: dict[dt.date, str] = {}
    for holiday in holidays:
        for day in (*holiday.rest_days, *holiday.working_days):
            if day in owner:
                raise _invalid(
                    where,
                    f"{day} 同时出现在“{owner[day]}”和“{holiday.name_zh}”中（重叠或矛盾）",
                    f"{day} appears both in {owner[day]} and in {holiday.name_en} (overlap or contradiction)",
                )
            owner[day] = holiday.name_zh


def load_year_bytes(data: bytes, where: str = "") -> HolidayYear:
    """Decode and validate one year's file content."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(where, f"不是有效的 UTF-8 JSON：{exc}", f"not valid UTF-8 JSON: {exc}") from None
    return parse_year(raw, where)


@cache
def shipped_years() -> tuple[HolidayYear, ...]:
    """Every year shipped in ``review/deadlines/data``, validated, in ascending order (read once)."""
    folder = resources.files("review.deadlines").joinpath("data")
    years = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.startswith("holidays_cn_") and entry.name.endswith(".json"):
            loaded = load_year_bytes(entry.read_bytes(), entry.name)
            if entry.name != f"holidays_cn_{loaded.year}.json":
                raise _invalid(
                    entry.name, f"文件名与年份 {loaded.year} 不符", f"file name does not match {loaded.year}"
                )
            years.append(loaded)
    return tuple(years)


class WorkCalendar:
    """Answers "is this a working day?" for the years it was given, and refuses the others."""

    def __init__(self, years: Iterable[HolidayYear], *, allow_provisional: bool = False) -> None:
        by_year: dict[int, HolidayYear] = {}
        for year in years:
            if year.year in by_year:
                raise _invalid(str(year.year), "同一年份重复", "the same year is given twice")
            by_year[year.year] = year
        self._years: Mapping[int, HolidayYear] = MappingProxyType(by_year)
        self._rest = {year: data.rest_days for year, data in by_year.items()}
        self._working = {year: data.working_days for year, data in by_year.items()}
        self.allow_provisional = allow_provisional

    @property
    def years(self) -> Mapping[int, HolidayYear]:
        """The loaded years by number."""
        return self._years

    def check_year(self, year: int) -> None:
        """Raise :class:`CalendarGap` unless deadlines may be computed in ``year``."""
        data = self._years.get(year)
        if data is None:
            raise CalendarGap(year, provisional=False)
        if data.provisional and not self.allow_provisional:
            raise CalendarGap(year, provisional=True)

    def is_working_day(self, day: dt.date) -> bool:
        """True for a working day (工作日), False for a rest day (休息日); :class:`CalendarGap` outside the data."""
        self.check_year(day.year)
        if day in self._working[day.year]:
            return True
        if day in self._rest[day.year]:
            return False
        return day.weekday() < 5

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        candidate = day + dt.timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate += dt.timedelta(days=1)
        return candidate

    def working_days_in(self, first: dt.date, last: dt.date) -> int:
        """Number of working days from ``first`` to ``last``, both included (0 when ``last < first``)."""
        count = 0
        day = first
        while day <= last:
            count += self.is_working_day(day)
            day += dt.timedelta(days=1)
        return count


def china_calendar(*, allow_provisional: bool = False) -> WorkCalendar:
    """The calendar built from every shipped year."""
    return WorkCalendar(shipped_years(), allow_provisional=allow_provisional)
