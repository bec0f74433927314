"""Supervision statistics (电子监察统计) over review rounds, as pure functions over value records.

Durations are working days as computed by :mod:`review.deadlines.clock`. The 90th percentile uses
the **nearest-rank** method: sort the n values and take the one at rank ⌈p/100 × n⌉ (1-based). It
always returns an observed duration, which a bureau can trace back to a real round; with few rounds
it is coarse by design (for n < 10 the 90th percentile is the maximum).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from review.deadlines.errors import InvalidDeadlineInput

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RoundRecord:
    """One track's review in one round (一个专项的一轮审查), as the statistics need it."""

    project: str
    """Project code (项目编号)."""
    track: str
    """Track code, e.g. ``fire``."""
    round_number: int
    """1 for the first review, 2… for re-reviews."""
    working_days: int
    """Working days the review took, pauses excluded."""
    limit_days: int
    """Working days allowed (审查时限)."""
    reviewers: tuple[str, ...] = ()
    """Reviewers (审查人员) who worked on it."""

    @property
    def on_time(self) -> bool:
        """Concluded within the limit (按时办结)."""
        return self.working_days <= self.limit_days


@dataclass(frozen=True)
class TrackSummary:
    """Figures for one track, or one track and round kind."""

    track: str
    """Track code."""
    rounds: int
    """Number of track reviews counted."""
    average_days: Fraction
    """Mean working days (exact; round for display)."""
    p90_days: int
    """90th percentile of working days, nearest-rank."""
    on_time_rate: Fraction
    """Share concluded within the limit, 0…1."""


@dataclass(frozen=True)
class ReviewerLoad:
    """Workload of one reviewer (审查人员工作量)."""

    reviewer: str
    """Reviewer identifier."""
    reviews: int
    """Track reviews the reviewer took part in."""
    working_days: int
    """Working days summed over those reviews."""


def _need(values: Sequence[object], what: str) -> None:
    if not values:
        raise InvalidDeadlineInput(f"没有可统计的{what}", f"no {what} to compute statistics over")


def average(values: Sequence[int]) -> Fraction:
    """Arithmetic mean, exact."""
    _need(values, "数据")
    return Fraction(sum(values), len(values))


def percentile(values: Sequence[int], p: float) -> int:
    """The ``p``-th percentile (0 < p ≤ 100) by the nearest-rank method."""
    _need(values, "数据")
    if not 0 < p <= 100:
        raise InvalidDeadlineInput(f"百分位须在 0 与 100 之间：{p}", f"percentile must lie in (0, 100]: {p}")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[rank - 1]


def on_time_rate(records: Sequence[RoundRecord]) -> Fraction:
    """Share of reviews concluded within their limit."""
    _need(records, "审查记录")
    return Fraction(sum(record.on_time for record in records), len(records))


def summarize_tracks(records: Iterable[RoundRecord], *, split_rounds: bool = False) -> list[TrackSummary]:
    """One summary per track (``split_rounds``: per track and first review / re-review), sorted by track."""
    groups: dict[str, list[RoundRecord]] = defaultdict(list)
    for record in records:
        key = record.track
        if split_rounds:
            key = f"{record.track}/{'first_review' if record.round_number == 1 else 're_review'}"
        groups[key].append(record)
    summaries = []
    for key in sorted(groups):
        group = groups[key]
        days = [record.working_days for record in group]
        summaries.append(TrackSummary(key, len(group), average(days), percentile(days, 90), on_time_rate(group)))
    return summaries


def rounds_per_project(records: Iterable[RoundRecord]) -> dict[str, int]:
    """Number of review rounds (轮次) each project went through: its highest round number over all tracks."""
    rounds: dict[str, int] = {}
    for record in records:
        rounds[record.project] = max(rounds.get(record.project, 0), record.round_number)
    return dict(sorted(rounds.items()))


def reviewer_workload(records: Iterable[RoundRecord]) -> list[ReviewerLoad]:
    """Reviews and working days per reviewer, busiest first (ties by name)."""
    reviews: dict[str, int] = defaultdict(int)
    days: dict[str, int] = defaultdict(int)
    for record in records:
        for reviewer in set(record.reviewers):
            reviews[reviewer] += 1
            days[reviewer] += record.working_days
    loads = [ReviewerLoad(name, reviews[name], days[name]) for name in reviews]
    return sorted(loads, key=lambda load: (-load.reviews, -load.working_days, load.reviewer))


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """CSV bytes in UTF-8 with a byte-order mark, so that Excel opens the Chinese correctly.

    Fractions are written as decimals with two places; CRLF line ends as Excel writes them. Text
    starting with ``= + - @`` (or a tab or carriage return) gets a leading apostrophe, so that a
    name typed by a user cannot run as a spreadsheet formula when the bureau opens the file.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: object) -> object:
    if isinstance(value, Fraction):
        return _two_places(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _two_places(value: Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def track_summary_csv(summaries: Iterable[TrackSummary]) -> bytes:
    """The track summaries as a CSV with bilingual column headings."""
    header = ["专项 Track", "审查次数 Reviews", "平均工作日 Average", "90%分位 P90", "按时办结率 On-time rate"]
    return to_csv(header, ([s.track, s.rounds, s.average_days, s.p90_days, s.on_time_rate] for s in summaries))


def reviewer_workload_csv(loads: Iterable[ReviewerLoad]) -> bytes:
    """Reviewer workloads as a CSV with bilingual column headings."""
    header = ["审查人员 Reviewer", "审查次数 Reviews", "工作日合计 Working days"]
    return to_csv(header, ([load.reviewer, load.reviews, load.working_days] for load in loads))
