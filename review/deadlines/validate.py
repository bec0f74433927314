"""Check holiday data files: ``python -m review.deadlines.validate [FILE…]``.

Without arguments every shipped year is checked. Prints one line per year and exits 1 on the
first defect, with the message in Chinese and English.
"""

from __future__ import annotations

import sys
from pathlib import Path

from review.deadlines.calendar import HolidayYear, load_year_bytes, shipped_years
from review.deadlines.errors import CalendarDataInvalid


def _describe(year: HolidayYear) -> str:
    state = "provisional 暂定" if year.provisional else "official 正式"
    return (
        f"{year.year}: {state}, {len(year.rest_days)} rest days, {len(year.working_days)} adjusted working days"
        f" — {year.source_title} {year.source_number or ''}".rstrip()
    )


def main(argv: list[str]) -> int:
    """Validate the files named in ``argv`` (or the shipped ones); return the exit status."""
    try:
        years = [load_year_bytes(Path(name).read_bytes(), name) for name in argv] if argv else list(shipped_years())
    except CalendarDataInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    for year in years:
        print(_describe(year))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
