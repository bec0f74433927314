"""The fee schedule in use: the bureau's file (``LIANTU_FEE_SCHEDULE_FILE``) or the shipped example."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from review.fees import FeeSchedule, FeeScheduleInvalid, example_schedule, load_schedule_bytes


@cache
def load_fee_schedule(path: Path | None) -> FeeSchedule:
    """The schedule of ``path`` (the example when None); ``ValueError`` naming the file when it is wrong."""
    if path is None:
        return example_schedule()
    try:
        return load_schedule_bytes(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the fee schedule: {exc} / 无法读取收费标准") from None
    except FeeScheduleInvalid as exc:
        raise ValueError(f"{path}: {exc.en} / {exc.zh}") from None


def check_fee_schedule_file(path: Path | None) -> None:
    """Settings check of ``LIANTU_FEE_SCHEDULE_FILE``."""
    load_fee_schedule(path)
