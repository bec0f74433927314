"""Check a fee schedule file: ``python -m review.fees.validate [FILE]``.

Without an argument the shipped example is checked. Prints each track's tiers and exits 1 on the
first defect, with the message in Chinese and English.
"""

from __future__ import annotations

import sys
from pathlib import Path

from review.fees.errors import FeeScheduleInvalid
from review.fees.invoice import format_yuan
from review.fees.schedule import FeeSchedule, example_schedule, load_schedule_bytes


def describe(schedule: FeeSchedule) -> list[str]:
    """One line for the schedule, then one per track."""
    lines = [f"{schedule.title}{' (EXAMPLE 示例)' if schedule.example else ''}"]
    for fee in schedule.tracks.values():
        tiers = ", ".join(
            f"{tier.from_m2}–{'' if tier.to_m2 is None else tier.to_m2} m² @ {tier.rate_fen_per_m2} fen/m²"
            for tier in fee.tiers
        )
        cap = "none" if fee.maximum_fen is None else format_yuan(fee.maximum_fen)
        lines.append(f"  {fee.track} {fee.name_zh}: min {format_yuan(fee.minimum_fen)}, max {cap}; {tiers}")
    return lines


def main(argv: list[str]) -> int:
    """Validate the file named in ``argv`` (or the shipped example); return the exit status."""
    try:
        schedule = load_schedule_bytes(Path(argv[0]).read_bytes()) if argv else example_schedule()
    except FeeScheduleInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(describe(schedule)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
