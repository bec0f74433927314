"""A markup with the annotation details exchange formats carry along (author, subject, text, times)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from review.markups.model import Markup

BEIJING = timezone(timedelta(hours=8), "CST")
"""China Standard Time; assumed for PDF dates that carry no offset."""

_PDF_DATE = re.compile(
    r"(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:(Z)|([+-])(\d{2})'?(?:(\d{2})'?)?)?\s*"
)


@dataclass(frozen=True)
class AnnotatedMarkup:
    """A markup as a desktop PDF tool sees an annotation."""

    markup: Markup
    """The shape in sheet coordinates."""
    name: str = ""
    """Stable identifier of the annotation (XFDF ``name``, PDF ``/NM``); often a UUID."""
    author: str = ""
    """Who drew it (XFDF ``title``, PDF ``/T``)."""
    subject: str = ""
    """Short subject line (XFDF ``subject``, PDF ``/Subj``), e.g. the code clause cited."""
    contents: str = ""
    """The remark (XFDF ``contents``, PDF ``/Contents``). For arrows and free text the visible text is written
    instead, since desktop tools show one text per annotation."""
    modified: datetime | None = None
    """Last change, time-zone aware."""
    created: datetime | None = None
    """Creation, time-zone aware."""


@dataclass(frozen=True)
class ImportedMarkup(AnnotatedMarkup):
    """An annotation read from a file: validate ``markup`` against the sheet before storing it."""

    page_index: int = 0
    """Zero-based page the annotation belongs to."""
    source_type: str = ""
    """The annotation type in the file (``square``, ``ink``…), for messages."""


@dataclass(frozen=True)
class ImportFinding:
    """A problem with one annotation of an imported file; the annotation was skipped (导入问题)."""

    code: str
    zh: str
    en: str
    name: str = ""
    """The annotation's ``name`` when it had one."""


@dataclass(frozen=True)
class ImportReport:
    """What an import produced: the markups read and the annotations skipped, with reasons."""

    markups: tuple[ImportedMarkup, ...]
    findings: tuple[ImportFinding, ...] = field(default=())


def format_pdf_date(moment: datetime) -> str:
    """``D:YYYYMMDDHHmmSS+08'00'`` for an aware datetime, in its own offset."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("PDF dates need a time zone")
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"D:{moment:%Y%m%d%H%M%S}{sign}{minutes // 60:02d}'{minutes % 60:02d}'"


def parse_pdf_date(text: str) -> datetime | None:
    """A PDF date string as an aware datetime (China Standard Time when it names no offset); None if unreadable."""
    match = _PDF_DATE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zulu, sign, off_h, off_m = match.groups()
    if zulu:
        zone: timezone = UTC
    elif sign:
        delta = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if delta >= timedelta(hours=24):
            return None
        zone = timezone(delta if sign == "+" else -delta)
    else:
        zone = BEIJING
    try:
        return datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=zone
        )
    except ValueError:
        return None
