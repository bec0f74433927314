"""Reading and checking the deadline configuration: time limits per track and the holiday calendar.

Both are checked when the settings are read, so that a configuration with holes — a track without
a time limit, a malformed file, a current year the calendar has no data for — stops start-up with a
message naming what to fix, instead of leaving a review without a deadline.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

from review.deadlines import DeadlineError, DeadlinePolicy, china_calendar, parse_policy
from review.deadlines.clock import SHANGHAI

SHIPPED_TIME_LIMITS = Path(__file__).with_name("time_limits.json")
_KEYS = frozenset({"due_soon_days", "tracks"})


def _refuse(path: Path, zh: str, en: str) -> ValueError:
    return ValueError(f"{path}: {en} / {zh}")


@cache
def load_time_limits(path: Path = SHIPPED_TIME_LIMITS) -> DeadlinePolicy:
    """The policy of a time-limits file; ``ValueError`` when it is unreadable or leaves a standard track out."""
    from app.tracks import STANDARD_TRACKS

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(path, f"无法读取审查时限配置：{exc}", f"cannot read the time limits: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != _KEYS:
        raise _refuse(path, "应恰好包含 due_soon_days 与 tracks", "the file must have exactly due_soon_days and tracks")
    due_soon = raw["due_soon_days"]
    if not isinstance(due_soon, int) or isinstance(due_soon, bool) or due_soon < 0:
        raise _refuse(path, "due_soon_days 须为非负整数", "due_soon_days must be a non-negative integer")
    if not isinstance(raw["tracks"], dict):
        raise _refuse(path, "tracks 须为对象", "tracks must be an object")
    try:
        policy = parse_policy(raw["tracks"], due_soon_days=due_soon)
    except DeadlineError as exc:
        raise _refuse(path, exc.zh, exc.en) from None
    missing = [track.code for track in STANDARD_TRACKS if track.code not in policy.limits]
    if missing:
        raise _refuse(
            path,
            f"专项 {'、'.join(missing)} 没有配置审查时限",
            f"no time limit is configured for track(s) {', '.join(missing)}",
        )
    return policy


def check_time_limits_file(path: Path | None) -> None:
    """Settings check of ``LIANTU_TIME_LIMITS_FILE`` (the shipped file when None)."""
    load_time_limits(SHIPPED_TIME_LIMITS if path is None else path)


def check_calendar(*, today: dt.date | None = None) -> None:
    """Refuse when the holiday calendar has no data at all for the current year.

    A provisional year passes here: deadlines reaching into it are refused when they are computed,
    unless ``LIANTU_CALENDAR_ALLOW_PROVISIONAL`` is set (see :func:`app.deadlines.start_clock`).
    """
    year = (today or dt.datetime.now(SHANGHAI).date()).year
    try:
        china_calendar(allow_provisional=True).check_year(year)
    except DeadlineError as exc:
        raise ValueError(
            f"{exc.en}; add review/deadlines/data/holidays_cn_{year}.json (see review/deadlines/README.md)"
            f" / {exc.zh}；请补充该年节假日数据"
        ) from None
