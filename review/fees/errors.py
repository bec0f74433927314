"""Errors of review fees and payments (审查费与数字支付)."""

from __future__ import annotations

from review.errors import ReviewError


class FeeError(ReviewError):
    """Root of the fee errors; carries the message in Chinese (``zh``) and English (``en``)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} / {en}")


class FeeScheduleInvalid(FeeError, ValueError):
    """A fee schedule file with unknown keys, gaps between tiers or negative rates."""


class InvoiceInputInvalid(FeeError, ValueError):
    """An invoice that cannot be computed: unknown or repeated track, non-positive area, bad number."""


class CallbackRejected(FeeError, ValueError):
    """A payment callback that must not change anything; the gateway is answered with an error."""

    code = "CALLBACK_REJECTED"


class MalformedCallback(CallbackRejected):
    """Headers or body missing or not in the agreed format."""

    code = "CALLBACK_MALFORMED"


class ForgedCallback(CallbackRejected):
    """The signature does not match: not sent by the gateway, or altered on the way (伪造或篡改)."""

    code = "CALLBACK_FORGED"


class LateCallback(CallbackRejected):
    """The timestamp lies outside the tolerance: stale or from a badly set clock (超时)."""

    code = "CALLBACK_LATE"


class ReplayedCallback(CallbackRejected):
    """The nonce was seen before: a captured callback sent again (重放)."""

    code = "CALLBACK_REPLAYED"


class UnknownInvoice(CallbackRejected):
    """The callback names an invoice the platform did not issue."""

    code = "CALLBACK_UNKNOWN_INVOICE"


class AmountMismatch(CallbackRejected):
    """The amount paid differs from the invoice total (金额不符)."""

    code = "CALLBACK_AMOUNT_MISMATCH"
