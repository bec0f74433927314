"""Working-day deadlines (审查时限) in Asia/Shanghai time.

The rules, chosen to follow 民法典 第二百零一条 and 第二百零三条 (a period counted in days does not
count its first day; the last day ends when business stops, where there are business hours):

* **Receipt day (收件日).** A submission received on a working day before the close of office hours
  (17:30 by default) is received that day. One received after the close, or on a rest day, is
  taken as received on the next working day.
* **Counting.** The receipt day is not counted; day 1 is the first working day after it.
* **End of the period.** The deadline is the close of office hours (17:30) of the last day, or,
  with ``end_at_close=False``, the end of that day (24:00, i.e. 00:00 of the following day).
* **Days used.** Between two instants, every working day after the receipt day up to and including
  the day of the later instant counts, a started day as a whole one: a reply at 10:00 on the
  deadline day has used the whole period. Hence ``working_days_between(s, add_working_days(s, n)) == n``.
* **Paused clock (暂停计时).** While the designer holds the submission (补正、修改), the clock stops;
  when it comes back the return is a new receipt: its day is not counted either. A pause begun
  on the last day, before the deadline, leaves the rest of that day: the period then ends at the
  close of the day the submission comes back.

Every datetime must be timezone-aware; results are in Asia/Shanghai.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from review.deadlines.calendar import WorkCalendar
from review.deadlines.errors import InvalidDeadlineInput

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class OfficeHours:
    """When the review office works; decides receipt days and when deadlines end."""

    close: dt.time = dt.time(17, 30)
    """Close of business (下班时间): later arrivals count as received on the next working day."""
    end_at_close: bool = True
    """True: a deadline ends at ``close`` of its last day; False: at 24:00 of that day."""


DEFAULT_HOURS = OfficeHours()


def _local(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidDeadlineInput(
            f"{name} 缺少时区（须为带时区的时间）", f"{name} is a naive datetime; a timezone-aware one is required"
        )
    return moment.astimezone(SHANGHAI)


def receipt_day(moment: dt.datetime, calendar: WorkCalendar, hours: OfficeHours = DEFAULT_HOURS) -> dt.date:
    """The working day on which something arriving at ``moment`` counts as received (收件日)."""
    local = _local(moment, "time")
    day = local.date()
    if calendar.is_working_day(day) and local.time() < hours.close:
        return day
    return calendar.next_working_day(day)


def _check_days(days: int) -> None:
    if days < 0:
        raise InvalidDeadlineInput(f"工作日数不能为负：{days}", f"a number of working days cannot be negative: {days}")


def _end_of(day: dt.date, hours: OfficeHours) -> dt.datetime:
    if hours.end_at_close:
        return dt.datetime.combine(day, hours.close, tzinfo=SHANGHAI)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=SHANGHAI)


def add_working_days(
    start: dt.datetime, days: int, calendar: WorkCalendar, hours: OfficeHours = DEFAULT_HOURS
) -> dt.datetime:
    """The deadline ``days`` working days after ``start`` (0 days: the close of the receipt day)."""
    _check_days(days)
    day = receipt_day(start, calendar, hours)
    for _ in range(days):
        day = calendar.next_working_day(day)
    return _end_of(day, hours)


def working_days_between(
    start: dt.datetime, end: dt.datetime, calendar: WorkCalendar, hours: OfficeHours = DEFAULT_HOURS
) -> int:
    """Working days used from ``start`` to ``end`` (see the module rules); 0 when ``end`` is on the receipt day."""
    local_end = _local(end, "end")
    if local_end < _local(start, "start"):
        raise InvalidDeadlineInput("结束时间早于开始时间", "end lies before start")
    first = receipt_day(start, calendar, hours) + dt.timedelta(days=1)
    last = local_end.date()
    if local_end.time() == dt.time(0):
        # 00:00 is 24:00 of the day before: nothing of the new day has been used.
        last -= dt.timedelta(days=1)
    return calendar.working_days_in(first, last)


def _check_intervals(intervals: Sequence[tuple[dt.datetime, dt.datetime | None]], what: str) -> None:
    previous_end: dt.datetime | None = None
    for index, (begin, finish) in enumerate(intervals):
        local_begin = _local(begin, f"{what}[{index}]")
        if previous_end is not None and local_begin < previous_end:
            raise InvalidDeadlineInput(
                f"第 {index + 1} 个时间段与前一段重叠或顺序颠倒",
                f"{what} #{index + 1} overlaps the previous one or is out of order",
            )
        if finish is None:
            if index != len(intervals) - 1:
                raise InvalidDeadlineInput("只有最后一个时间段可以尚未结束", f"only the last of the {what} may be open")
            return
        if _local(finish, f"{what}[{index}]") < local_begin:
            raise InvalidDeadlineInput(
                f"第 {index + 1} 个时间段结束早于开始", f"{what} #{index + 1} ends before it begins"
            )
        previous_end = _local(finish, what)


def elapsed_working_days(
    intervals_running: Sequence[tuple[dt.datetime, dt.datetime]],
    calendar: WorkCalendar,
    hours: OfficeHours = DEFAULT_HOURS,
) -> int:
    """Working days used over the intervals in which the clock ran (ordered, not overlapping)."""
    _check_intervals(intervals_running, "intervals")
    return sum(working_days_between(begin, finish, calendar, hours) for begin, finish in intervals_running)


def deadline_with_pauses(
    start: dt.datetime,
    days: int,
    pauses: Sequence[tuple[dt.datetime, dt.datetime | None]],
    calendar: WorkCalendar,
    hours: OfficeHours = DEFAULT_HOURS,
) -> dt.datetime | None:
    """The deadline of a ``days``-working-day period that stops during ``pauses``.

    Pauses are ordered, do not overlap and begin after ``start``; the last may still be open
    (end ``None``), in which case the deadline is unknown and ``None`` is returned — unless the
    period had already run out before that pause began. A pause that begins at or after the
    deadline does not move it; one that begins on the last day, before the deadline, leaves
    0 days, so the period ends at the close of the day the submission comes back.
    """
    _check_days(days)
    _check_intervals(pauses, "pauses")
    if pauses and _local(pauses[0][0], "pause") < _local(start, "start"):
        raise InvalidDeadlineInput("暂停早于计时开始", "a pause begins before the clock started")
    remaining = days
    running_since = start
    for paused_at, resumed_at in pauses:
        if paused_at >= add_working_days(running_since, remaining, calendar, hours):
            break
        # A pause on the last day keeps the rest of that day: 0 days remain, the period then
        # ends at the close of the day the submission comes back.
        remaining -= working_days_between(running_since, paused_at, calendar, hours)
        if resumed_at is None:
            return None
        running_since = resumed_at
    return add_working_days(running_since, remaining, calendar, hours)


@dataclass(frozen=True)
class DeadlineStatus:
    """Where a running period stands at one moment, for lists and the supervision board (电子监察)."""

    deadline: dt.datetime
    """The deadline the status refers to."""
    working_days_left: int
    """Working days after today up to the deadline's day; 0 on the deadline day and once overdue."""
    due_soon: bool
    """Not overdue and at most the configured number of working days left (临近超期)."""
    overdue: bool
    """The moment lies after the deadline (已超期)."""


def deadline_status(
    deadline: dt.datetime,
    now: dt.datetime,
    calendar: WorkCalendar,
    *,
    due_soon_days: int = 2,
) -> DeadlineStatus:
    """Flag ``deadline`` as due soon or overdue at ``now``."""
    if due_soon_days < 0:
        raise InvalidDeadlineInput("临近超期天数不能为负", "due_soon_days cannot be negative")
    local_now, local_deadline = _local(now, "now"), _local(deadline, "deadline")
    if local_now > local_deadline:
        return DeadlineStatus(local_deadline, 0, due_soon=False, overdue=True)
    last = local_deadline.date()
    if local_deadline.time() == dt.time(0):
        last -= dt.timedelta(days=1)
    left = calendar.working_days_in(local_now.date() + dt.timedelta(days=1), last)
    return DeadlineStatus(local_deadline, left, due_soon=left <= due_soon_days, overdue=False)
