"""Per-track time limits (各专项审查时限), e.g. fire first review 10 working days, re-review 5.

Configured as a mapping ``{track: {"first_review": days, "re_review": days}}``; unknown keys and
non-positive days are refused when the configuration is read, an unknown track when it is asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from review.deadlines.calendar import WorkCalendar
from review.deadlines.clock import DEFAULT_HOURS, DeadlineStatus, OfficeHours, deadline_status, deadline_with_pauses
from review.deadlines.errors import DeadlinePolicyInvalid, UnknownTrack

_LIMIT_KEYS = frozenset({"first_review", "re_review"})


@dataclass(frozen=True)
class TrackTimeLimit:
    """The time limits of one track, in working days."""

    first_review: int
    """Round 1 (首次审查)."""
    re_review: int
    """Every later round (复审)."""


@dataclass(frozen=True)
class DeadlinePolicy:
    """Time limits by track code, plus when a period is flagged as due soon."""

    limits: Mapping[str, TrackTimeLimit]
    """Track code → limits."""
    due_soon_days: int = 2
    """A period with at most this many working days left is flagged 临近超期."""

    def days_for(self, track: str, round_number: int) -> int:
        """Working days allowed for ``track`` in round ``round_number`` (1 = first review)."""
        if round_number < 1:
            raise DeadlinePolicyInvalid(f"轮次须从 1 开始：{round_number}", f"rounds start at 1: {round_number}")
        limit = self.limits.get(track)
        if limit is None:
            raise UnknownTrack(track)
        return limit.first_review if round_number == 1 else limit.re_review

    def deadline(
        self,
        track: str,
        round_number: int,
        start: dt.datetime,
        calendar: WorkCalendar,
        *,
        pauses: Sequence[tuple[dt.datetime, dt.datetime | None]] = (),
        hours: OfficeHours = DEFAULT_HOURS,
    ) -> dt.datetime | None:
        """The deadline of one track review started at ``start``; ``None`` while a pause is open."""
        return deadline_with_pauses(start, self.days_for(track, round_number), pauses, calendar, hours)

    def status(self, deadline: dt.datetime, now: dt.datetime, calendar: WorkCalendar) -> DeadlineStatus:
        """Due-soon and overdue flags with this policy's threshold."""
        return deadline_status(deadline, now, calendar, due_soon_days=self.due_soon_days)


def _days(track: str, key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise DeadlinePolicyInvalid(
            f"专项“{track}”的 {key} 须为正整数工作日，实为 {value!r}",
            f"{key} of track {track!r} must be a positive whole number of working days, got {value!r}",
        )
    return value


def parse_policy(raw: Mapping[str, Any], *, due_soon_days: int = 2) -> DeadlinePolicy:
    """Build a :class:`DeadlinePolicy` from decoded configuration, refusing anything unexpected."""
    if not raw:
        raise DeadlinePolicyInvalid("审查时限配置为空", "the time-limit configuration names no track")
    if due_soon_days < 0:
        raise DeadlinePolicyInvalid("临近超期天数不能为负", "due_soon_days cannot be negative")
    limits: dict[str, TrackTimeLimit] = {}
    for track, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise DeadlinePolicyInvalid(
                f"专项“{track}”的配置应为对象", f"the entry of track {track!r} must be a mapping"
            )
        unknown = sorted(set(entry) - _LIMIT_KEYS)
        missing = sorted(_LIMIT_KEYS - set(entry))
        if unknown or missing:
            raise DeadlinePolicyInvalid(
                f"专项“{track}”：未知字段 {unknown}，缺少字段 {missing}",
                f"track {track!r}: unknown keys {unknown}, missing keys {missing}",
            )
        limits[track] = TrackTimeLimit(
            _days(track, "first_review", entry["first_review"]), _days(track, "re_review", entry["re_review"])
        )
    return DeadlinePolicy(MappingProxyType(limits), due_soon_days)


EXAMPLE_POLICY = parse_policy(
    {
        "fire": {"first_review": 10, "re_review": 5},
        "civil_air_defence": {"first_review": 10, "re_review": 5},
        "construction": {"first_review": 15, "re_review": 7},
    }
)
"""A starting point matching common local practice; each bureau configures its own."""
