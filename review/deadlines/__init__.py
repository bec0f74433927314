"""Working-day deadlines for supervision (电子监察): the calendar, deadlines, paused clocks, statistics.

See ``README.md`` in this folder for the rules and how to add a year of holiday data.
"""

from review.deadlines.calendar import HolidayYear, WorkCalendar, china_calendar
from review.deadlines.clock import (
    DeadlineStatus,
    OfficeHours,
    add_working_days,
    deadline_status,
    deadline_with_pauses,
    elapsed_working_days,
    receipt_day,
    working_days_between,
)
from review.deadlines.errors import CalendarDataInvalid, CalendarGap, DeadlineError, InvalidDeadlineInput, UnknownTrack
from review.deadlines.policy import DeadlinePolicy, TrackTimeLimit, parse_policy

__all__ = [
    "CalendarDataInvalid",
    "CalendarGap",
    "DeadlineError",
    "DeadlinePolicy",
    "DeadlineStatus",
    "HolidayYear",
    "InvalidDeadlineInput",
    "OfficeHours",
    "TrackTimeLimit",
    "UnknownTrack",
    "WorkCalendar",
    "add_working_days",
    "china_calendar",
    "deadline_status",
    "deadline_with_pauses",
    "elapsed_working_days",
    "parse_policy",
    "receipt_day",
    "working_days_between",
]
