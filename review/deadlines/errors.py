"""Errors of working-day deadlines (审查时限)."""

from __future__ import annotations

from review.errors import ReviewError


class DeadlineError(ReviewError):
    """Root of the deadline errors; carries the message in Chinese (``zh``) and English (``en``)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} / {en}")


class CalendarDataInvalid(DeadlineError, ValueError):
    """A holiday data file that breaks the format: unknown keys, contradictory or misplaced dates."""


class CalendarGap(DeadlineError, LookupError):
    """A computation reached a year the calendar does not know, or knows only provisionally."""

    def __init__(self, year: int, *, provisional: bool) -> None:
        self.year = year
        self.provisional = provisional
        if provisional:
            super().__init__(
                f"{year} 年的节假日安排尚未公布（仅有按法定节日推算的暂定数据），不能据此计算期限",
                f"the holiday arrangement for {year} is only provisional (statutory days without the official "
                "adjustments); deadlines reaching into it are refused unless provisional years are allowed",
            )
        else:
            super().__init__(
                f"日历中没有 {year} 年的节假日数据，不能计算期限",
                f"the calendar has no holiday data for {year}; cannot compute the deadline",
            )


class InvalidDeadlineInput(DeadlineError, ValueError):
    """Arguments a deadline cannot be computed from (naive datetimes, negative days, unordered intervals)."""


class DeadlinePolicyInvalid(DeadlineError, ValueError):
    """A per-track time-limit configuration with unknown keys or non-positive days."""


class UnknownTrack(DeadlineError, LookupError):
    """A track that the time-limit configuration does not name."""

    def __init__(self, track: str) -> None:
        self.track = track
        super().__init__(f"审查时限配置中没有专项“{track}”", f"no time limit is configured for track {track!r}")
