import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from review.deadlines.calendar import china_calendar
from review.deadlines.clock import (
    OfficeHours,
    add_working_days,
    deadline_status,
    deadline_with_pauses,
    elapsed_working_days,
    receipt_day,
    working_days_between,
)
from review.deadlines.errors import CalendarGap, InvalidDeadlineInput

SH = ZoneInfo("Asia/Shanghai")
CAL = china_calendar()


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def test_receipt_day_rules() -> None:
    assert receipt_day(at(2025, 3, 3, 17, 29), CAL) == dt.date(2025, 3, 3)
    assert receipt_day(at(2025, 3, 3, 17, 30), CAL) == dt.date(2025, 3, 4)  # after close
    assert receipt_day(at(2025, 3, 1), CAL) == dt.date(2025, 3, 3)  # Saturday
    assert receipt_day(at(2025, 1, 26), CAL) == dt.date(2025, 1, 26)  # Sunday 调休上班 is a working day
    # 02:00 UTC on Monday is 10:00 in Shanghai: the timezone is applied before anything else.
    assert receipt_day(dt.datetime(2025, 3, 3, 2, 0, tzinfo=dt.UTC), CAL) == dt.date(2025, 3, 3)


def test_plain_week() -> None:
    assert add_working_days(at(2025, 3, 3), 1, CAL) == at(2025, 3, 4, 17, 30)
    assert add_working_days(at(2025, 3, 3), 5, CAL) == at(2025, 3, 10, 17, 30)
    assert add_working_days(at(2025, 3, 3), 0, CAL) == at(2025, 3, 3, 17, 30)
    # Friday evening counts from Monday's receipt: day 1 is Tuesday.
    assert add_working_days(at(2025, 3, 7, 18, 0), 1, CAL) == at(2025, 3, 11, 17, 30)


def test_deadline_spanning_spring_festival_2025() -> None:
    start = at(2025, 1, 24)  # Friday
    deadline = add_working_days(start, 10, CAL)
    # Days: 1/26 (Sun, working), 1/27, then 1/28–2/4 off, 2/5, 2/6, 2/7, 2/8 (Sat, working), 2/10, 2/11, 2/12, 2/13.
    assert deadline == at(2025, 2, 13, 17, 30)
    assert working_days_between(start, deadline, CAL) == 10


def test_deadline_spanning_spring_festival_2026() -> None:
    deadline = add_working_days(at(2026, 2, 12), 5, CAL)
    # 2/13, 2/14 (Sat, working), 2/24, 2/25, 2/26
    assert deadline == at(2026, 2, 26, 17, 30)


def test_end_of_day_option() -> None:
    hours = OfficeHours(end_at_close=False)
    deadline = add_working_days(at(2025, 3, 3), 1, CAL, hours)
    assert deadline == at(2025, 3, 5, 0, 0)
    assert working_days_between(at(2025, 3, 3), deadline, CAL, hours) == 1
    # The office still closes at 17:30 for receipts.
    assert receipt_day(at(2025, 3, 3, 18, 0), CAL, hours) == dt.date(2025, 3, 4)


def test_working_days_between_counts_started_days() -> None:
    assert working_days_between(at(2025, 3, 3), at(2025, 3, 3, 16), CAL) == 0
    assert working_days_between(at(2025, 3, 3), at(2025, 3, 4, 9), CAL) == 1
    assert working_days_between(at(2025, 3, 3), at(2025, 3, 8), CAL) == 4  # Saturday: Tue–Fri
    with pytest.raises(InvalidDeadlineInput):
        working_days_between(at(2025, 3, 4), at(2025, 3, 3), CAL)


def test_naive_and_negative_inputs_are_refused() -> None:
    with pytest.raises(InvalidDeadlineInput, match="naive"):
        add_working_days(dt.datetime(2025, 3, 3, 10), 1, CAL)
    with pytest.raises(InvalidDeadlineInput, match="负"):
        add_working_days(at(2025, 3, 3), -1, CAL)


def test_deadline_into_a_provisional_year_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarGap) as gap:
        add_working_days(at(2026, 12, 21), 10, CAL)
    assert gap.value.year == 2027
    lenient = china_calendar(allow_provisional=True)
    assert add_working_days(at(2026, 12, 21), 10, lenient) == at(2027, 1, 5, 17, 30)  # 1/1 off


def test_paused_clock() -> None:
    start = at(2025, 3, 3)  # Monday
    pauses = [(at(2025, 3, 5, 11), at(2025, 3, 12, 15))]
    # Running 3/3 → 3/5 uses 3/4 and 3/5 (2 days); after the return on 3/12, 3/13 is day 3.
    deadline = deadline_with_pauses(start, 5, pauses, CAL)
    assert deadline == at(2025, 3, 17, 17, 30)
    assert deadline is not None
    running = [(start, pauses[0][0]), (pauses[0][1], deadline)]
    assert elapsed_working_days(running, CAL) == 5
    assert deadline_with_pauses(start, 5, [], CAL) == add_working_days(start, 5, CAL)


def test_open_pause_and_pause_after_expiry() -> None:
    start = at(2025, 3, 3)
    assert deadline_with_pauses(start, 5, [(at(2025, 3, 5), None)], CAL) is None
    # A pause starting after the period ran out does not move the deadline.
    late_pause = [(at(2025, 3, 20), at(2025, 3, 25))]
    assert deadline_with_pauses(start, 5, late_pause, CAL) == at(2025, 3, 10, 17, 30)


def test_pause_on_the_last_day_keeps_the_rest_of_that_day() -> None:
    start = at(2025, 3, 3)
    assert add_working_days(start, 2, CAL) == at(2025, 3, 5, 17, 30)
    pauses = [(at(2025, 3, 5, 10), at(2025, 3, 10, 9))]
    assert deadline_with_pauses(start, 2, pauses, CAL) == at(2025, 3, 10, 17, 30)
    after_the_deadline = [(at(2025, 3, 5, 17, 30), at(2025, 3, 10, 9))]
    assert deadline_with_pauses(start, 2, after_the_deadline, CAL) == at(2025, 3, 5, 17, 30)


def test_pause_across_national_day_2025() -> None:
    start = at(2025, 9, 24)  # Wednesday
    pauses = [(at(2025, 9, 26, 9), at(2025, 10, 9, 9))]
    # 9/25, 9/26 used; resumed on 10/9 (receipt day), then 10/10, 10/11 (Sat, working), 10/13
    assert deadline_with_pauses(start, 5, pauses, CAL) == at(2025, 10, 13, 17, 30)


def test_intervals_must_be_ordered_and_disjoint() -> None:
    with pytest.raises(InvalidDeadlineInput):
        elapsed_working_days([(at(2025, 3, 5), at(2025, 3, 7)), (at(2025, 3, 6), at(2025, 3, 10))], CAL)
    with pytest.raises(InvalidDeadlineInput):
        elapsed_working_days([(at(2025, 3, 7), at(2025, 3, 5))], CAL)
    with pytest.raises(InvalidDeadlineInput):
        deadline_with_pauses(at(2025, 3, 5), 3, [(at(2025, 3, 4), at(2025, 3, 6))], CAL)
    with pytest.raises(InvalidDeadlineInput):
        deadline_with_pauses(at(2025, 3, 3), 3, [(at(2025, 3, 4), None), (at(2025, 3, 6), at(2025, 3, 7))], CAL)


def test_due_soon_and_overdue() -> None:
    deadline = at(2025, 3, 14, 17, 30)  # Friday
    far = deadline_status(deadline, at(2025, 3, 10), CAL)
    assert (far.working_days_left, far.due_soon, far.overdue) == (4, False, False)
    soon = deadline_status(deadline, at(2025, 3, 12), CAL)
    assert (soon.working_days_left, soon.due_soon, soon.overdue) == (2, True, False)
    today = deadline_status(deadline, at(2025, 3, 14, 17, 0), CAL)
    assert (today.working_days_left, today.due_soon, today.overdue) == (0, True, False)
    late = deadline_status(deadline, at(2025, 3, 14, 17, 31), CAL)
    assert (late.due_soon, late.overdue) == (False, True)
    strict = deadline_status(deadline, at(2025, 3, 12), CAL, due_soon_days=1)
    assert not strict.due_soon
    # Over a holiday the days left are working days, not calendar days.
    over_holiday = deadline_status(at(2025, 2, 5, 17, 30), at(2025, 1, 27), CAL)
    assert over_holiday.working_days_left == 1
    assert over_holiday.due_soon


def test_round_trips_over_two_years_of_random_cases() -> None:
    rng = random.Random(20251127)
    base = at(2025, 1, 1, 0, 0)
    for _ in range(400):
        start = base + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 600))
        days = rng.randrange(0, 25)
        deadline = add_working_days(start, days, CAL)
        assert CAL.is_working_day(deadline.date())
        assert working_days_between(start, deadline, CAL) == days
        pause_start = start + dt.timedelta(hours=rng.randrange(1, 24 * 20))
        pause_end = pause_start + dt.timedelta(hours=rng.randrange(0, 24 * 15))
        paused = deadline_with_pauses(start, days, [(pause_start, pause_end)], CAL)
        assert paused is not None
        if pause_start < deadline:
            # The clock ran before and after the pause, and used exactly the period.
            assert paused >= deadline
            assert elapsed_working_days([(start, pause_start), (pause_end, paused)], CAL) == days
        else:
            assert paused == deadline
