import codecs
import csv
import datetime as dt
import io
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from review.deadlines.calendar import china_calendar
from review.deadlines.errors import DeadlinePolicyInvalid, InvalidDeadlineInput, UnknownTrack
from review.deadlines.policy import EXAMPLE_POLICY, parse_policy
from review.deadlines.statistics import (
    RoundRecord,
    average,
    on_time_rate,
    percentile,
    reviewer_workload,
    reviewer_workload_csv,
    rounds_per_project,
    summarize_tracks,
    to_csv,
    track_summary_csv,
)


def test_policy_per_track_and_round() -> None:
    policy = parse_policy({"fire": {"first_review": 10, "re_review": 5}}, due_soon_days=3)
    assert policy.days_for("fire", 1) == 10
    assert policy.days_for("fire", 2) == 5
    assert policy.days_for("fire", 4) == 5
    assert policy.due_soon_days == 3
    assert EXAMPLE_POLICY.days_for("construction", 1) == 15
    with pytest.raises(UnknownTrack) as unknown:
        policy.days_for("lightning", 1)
    assert "lightning" in unknown.value.zh
    with pytest.raises(DeadlinePolicyInvalid):
        policy.days_for("fire", 0)


def test_policy_computes_track_deadlines() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    calendar = china_calendar()
    policy = parse_policy({"fire": {"first_review": 10, "re_review": 5}})
    start = dt.datetime(2025, 9, 26, 9, tzinfo=shanghai)  # Friday before National Day
    first = policy.deadline("fire", 1, start, calendar)
    # 9/28 (Sun, working), 9/29, 9/30, then 10/1–10/8 off, 10/9, 10/10, 10/11 (Sat, working), 10/13, 10/14, 10/15, 10/16
    assert first == dt.datetime(2025, 10, 16, 17, 30, tzinfo=shanghai)
    assert policy.deadline("fire", 2, start, calendar) == dt.datetime(2025, 10, 10, 17, 30, tzinfo=shanghai)
    assert policy.deadline("fire", 1, start, calendar, pauses=[(start, None)]) is None
    status = policy.status(first, dt.datetime(2025, 10, 14, 9, tzinfo=shanghai), calendar)
    assert (status.working_days_left, status.due_soon, status.overdue) == (2, True, False)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"fire": {"first_review": 0, "re_review": 5}},
        {"fire": {"first_review": 10, "re_review": -1}},
        {"fire": {"first_review": 10, "re_review": True}},
        {"fire": {"first_review": 10}},
        {"fire": {"first_review": 10, "re_review": 5, "third": 3}},
        {"fire": 10},
    ],
)
def test_policy_refuses_bad_configuration(raw: dict[str, object]) -> None:
    with pytest.raises(DeadlinePolicyInvalid):
        parse_policy(raw)  # type: ignore[arg-type]


def test_percentile_nearest_rank_on_known_data() -> None:
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 30) == 20
    assert percentile(values, 40) == 20
    assert percentile(values, 50) == 35
    assert percentile(values, 100) == 50
    assert percentile(list(range(1, 21)), 90) == 18  # ⌈0.9·20⌉ = 18th value
    assert percentile([7, 1, 3, 9, 5, 2, 8, 4, 6, 10], 90) == 9
    assert percentile([4, 2, 3], 90) == 4  # fewer than 10 values: the maximum
    with pytest.raises(InvalidDeadlineInput):
        percentile([], 90)
    with pytest.raises(InvalidDeadlineInput):
        percentile([1], 0)


RECORDS = [
    RoundRecord("P1", "fire", 1, 8, 10, ("wang",)),
    RoundRecord("P1", "fire", 2, 6, 5, ("wang",)),
    RoundRecord("P1", "construction", 1, 12, 15, ("li", "zhao")),
    RoundRecord("P2", "fire", 1, 11, 10, ("chen",)),
    RoundRecord("P2", "construction", 1, 10, 15, ("li",)),
    RoundRecord("P2", "construction", 2, 3, 7, ("li",)),
    RoundRecord("P2", "construction", 3, 2, 7, ("li",)),
]


def test_summaries() -> None:
    assert average([1, 2, 4]) == Fraction(7, 3)
    assert on_time_rate(RECORDS) == Fraction(5, 7)
    fire, construction = summarize_tracks(RECORDS)[::-1]
    assert (fire.track, fire.rounds, fire.average_days, fire.p90_days) == ("fire", 3, Fraction(25, 3), 11)
    assert fire.on_time_rate == Fraction(1, 3)
    assert (construction.track, construction.on_time_rate, construction.p90_days) == ("construction", 1, 12)
    split = {summary.track: summary for summary in summarize_tracks(RECORDS, split_rounds=True)}
    assert split["construction/re_review"].average_days == Fraction(5, 2)
    assert split["fire/first_review"].rounds == 2


def test_rounds_and_workload() -> None:
    assert rounds_per_project(RECORDS) == {"P1": 2, "P2": 3}
    loads = reviewer_workload(RECORDS)
    assert [(load.reviewer, load.reviews, load.working_days) for load in loads] == [
        ("li", 4, 27),
        ("wang", 2, 14),
        ("zhao", 1, 12),
        ("chen", 1, 11),
    ]


def test_csv_has_bom_and_opens_back() -> None:
    data = track_summary_csv(summarize_tracks(RECORDS))
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "专项 Track"
    assert rows[1] == ["construction", "4", "6.75", "12", "1.00"]
    assert rows[2] == ["fire", "3", "8.33", "11", "0.33"]
    assert to_csv(["名称"], [["消防"]]) == codecs.BOM_UTF8 + "名称\r\n消防\r\n".encode()


def test_csv_neutralises_formulas_typed_by_users() -> None:
    data = to_csv(["name", "days"], [['=HYPERLINK("http://x")', -3], ["@SUM(A1)", 1], ["王工", 2]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "-3"]
    assert rows[2][0] == "'@SUM(A1)"
    assert rows[3][0] == "王工"
    workload = reviewer_workload_csv(reviewer_workload(RECORDS)).decode("utf-8-sig").splitlines()
    assert workload[1] == "li,4,27"
