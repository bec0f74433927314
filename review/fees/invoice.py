"""Invoices for review fees (审查费缴费通知): line items per track, totals in integer fen.

Area is handled as :class:`~decimal.Decimal` rounded to 0.01 m² (a float from the database goes
through its shortest ``repr`` first, so 12345.67 stays 12345.67). Each line is computed exactly
and rounded once, half up, to whole fen; the total is the sum of the rounded lines, so the lines
always add up to the total shown.

Invoice numbers look like ``LT20261127-000042-3``: prefix, issue date, a daily sequence the caller
allocates, and a check digit (weights 3 and 1 alternating over the digits, as in EAN codes) that
catches a mistyped digit when a payment is reconciled by hand.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from review.fees.errors import InvoiceInputInvalid
from review.fees.schedule import FeeSchedule, TrackFee

_CENTI = Decimal("0.01")
_NUMBER = re.compile(r"LT(\d{8})-(\d{6})-(\d)")


@dataclass(frozen=True)
class TierCharge:
    """The part of the area charged in one tier."""

    from_m2: int
    """Tier lower bound, m²."""
    to_m2: int | None
    """Tier upper bound, m² (``None``: open)."""
    area_m2: Decimal
    """Area falling in the tier."""
    rate_fen_per_m2: int
    """Rate of the tier."""
    amount_fen: Decimal
    """Exact charge of this part (fractions of a fen possible; rounded only on the line)."""


@dataclass(frozen=True)
class InvoiceLine:
    """One track's fee on the invoice."""

    track: str
    """Track code."""
    name_zh: str
    """Fee name, Chinese."""
    name_en: str
    """Fee name, English."""
    area_m2: Decimal
    """Area charged."""
    charges: tuple[TierCharge, ...]
    """The tiers the area reached."""
    computed_fen: int
    """Sum of the tier charges, rounded half up."""
    amount_fen: int
    """What is charged: ``computed_fen`` raised to the minimum or lowered to the maximum."""
    minimum_applied: bool
    """The minimum (起收金额) decided the amount."""
    maximum_applied: bool
    """The cap (封顶金额) decided the amount."""


@dataclass(frozen=True)
class Invoice:
    """A review-fee invoice."""

    number: str | None
    """Invoice number; ``None`` for a draft not yet numbered."""
    area_m2: Decimal
    """Gross floor area (总建筑面积) the fees were computed on."""
    lines: tuple[InvoiceLine, ...]
    """One line per track, in the order asked."""
    total_fen: int
    """Sum of the lines."""
    example_schedule: bool
    """Computed with the shipped example schedule (must never be charged)."""


def normalize_area(value: Decimal | int | float | str) -> Decimal:
    """The area as a positive Decimal with two places; anything else is refused."""
    try:
        area = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise InvoiceInputInvalid(f"建筑面积无效：{value!r}", f"invalid floor area: {value!r}") from None
    if not area.is_finite() or area <= 0:
        raise InvoiceInputInvalid(f"建筑面积须为正数：{value!r}", f"floor area must be positive: {value!r}")
    return area.quantize(_CENTI, rounding=ROUND_HALF_UP)


def _fen(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def compute_line(area: Decimal, fee: TrackFee) -> InvoiceLine:
    """One track's line for ``area`` m²."""
    charges = []
    for tier in fee.tiers:
        if area <= tier.from_m2:
            break
        top = area if tier.to_m2 is None else min(area, Decimal(tier.to_m2))
        part = top - tier.from_m2
        charges.append(TierCharge(tier.from_m2, tier.to_m2, part, tier.rate_fen_per_m2, part * tier.rate_fen_per_m2))
    computed = _fen(sum((charge.amount_fen for charge in charges), Decimal(0)))
    amount = max(computed, fee.minimum_fen)
    if fee.maximum_fen is not None:
        amount = min(amount, fee.maximum_fen)
    return InvoiceLine(
        fee.track,
        fee.name_zh,
        fee.name_en,
        area,
        tuple(charges),
        computed,
        amount,
        minimum_applied=computed < fee.minimum_fen,
        maximum_applied=fee.maximum_fen is not None and computed > fee.maximum_fen,
    )


def compute_invoice(
    project_area_m2: Decimal | int | float | str,
    tracks: Sequence[str],
    schedule: FeeSchedule,
    *,
    number: str | None = None,
) -> Invoice:
    """The invoice for reviewing a project of ``project_area_m2`` in ``tracks``."""
    area = normalize_area(project_area_m2)
    if not tracks:
        raise InvoiceInputInvalid("至少须有一个专项", "at least one track is required")
    if len(set(tracks)) != len(tracks):
        raise InvoiceInputInvalid("专项重复", f"a track is listed twice: {', '.join(tracks)}")
    unknown = [track for track in tracks if track not in schedule.tracks]
    if unknown:
        raise InvoiceInputInvalid(
            f"收费标准中没有专项：{'、'.join(unknown)}", f"the fee schedule has no fee for: {', '.join(unknown)}"
        )
    if number is not None:
        parse_invoice_number(number)
    lines = tuple(compute_line(area, schedule.tracks[track]) for track in tracks)
    return Invoice(number, area, lines, sum(line.amount_fen for line in lines), schedule.example)


def format_yuan(fen: int) -> str:
    """An amount for display, e.g. ``¥26,222.21`` for 2 622 221 fen."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def _check_digit(digits: str) -> int:
    weighted = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(digits)))
    return (10 - weighted % 10) % 10


def format_invoice_number(issued: dt.date, sequence: int) -> str:
    """``LTyyyymmdd-nnnnnn-c`` for the ``sequence``-th invoice (1…999999) issued on ``issued``."""
    if not 1 <= sequence <= 999_999:
        raise InvoiceInputInvalid(f"发票序号超出范围：{sequence}", f"invoice sequence out of range: {sequence}")
    body = f"{issued:%Y%m%d}{sequence:06d}"
    return f"LT{issued:%Y%m%d}-{sequence:06d}-{_check_digit(body)}"


def parse_invoice_number(number: str) -> tuple[dt.date, int]:
    """Issue date and sequence of an invoice number; refuses bad formats and check digits."""
    match = _NUMBER.fullmatch(number)
    if match is None:
        raise InvoiceInputInvalid(f"发票号格式错误：{number}", f"malformed invoice number: {number}")
    day, sequence, check = match.groups()
    if _check_digit(day + sequence) != int(check):
        raise InvoiceInputInvalid(f"发票号校验位错误：{number}", f"wrong check digit in invoice number: {number}")
    try:
        issued = dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise InvoiceInputInvalid(f"发票号日期无效：{number}", f"invalid date in invoice number: {number}") from None
    return issued, int(sequence)
