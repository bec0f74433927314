"""Verifying the payment gateway's callbacks (支付结果通知).

The gateway (outside the platform) POSTs a JSON body with three headers:

* ``X-Liantu-Timestamp`` — Unix seconds when it was sent;
* ``X-Liantu-Nonce`` — a random string used once (8–64 of ``A–Z a–z 0–9 _ -``);
* ``X-Liantu-Signature`` — lowercase hex HMAC-SHA256, keyed with the shared secret, over the
  canonical string ``timestamp + "\\n" + nonce + "\\n" + body``.

:func:`verify_callback` checks, in this order, and raises the matching
:class:`~review.fees.errors.CallbackRejected` on the first failure: format, signature (compared in
constant time, before the body is even parsed, so nothing unauthenticated is interpreted),
timestamp within the tolerance, nonce not seen before (remembered only once the first two checks
passed, and only as long as the tolerance window, since older timestamps are refused anyway),
known invoice, amount equal to the invoice total. A valid callback gets a :class:`CallbackDecision`:
a second callback for a paid invoice with the same transaction id is a harmless retry; with a
different transaction id the invoice was paid twice and must be looked at by a person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from review.fees.errors import (
    AmountMismatch,
    ForgedCallback,
    LateCallback,
    MalformedCallback,
    ReplayedCallback,
    UnknownInvoice,
)

TIMESTAMP_HEADER = "X-Liantu-Timestamp"
NONCE_HEADER = "X-Liantu-Nonce"
SIGNATURE_HEADER = "X-Liantu-Signature"
MAX_BODY = 64 * 1024
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_BODY_KEYS = frozenset({"invoice_number", "transaction_id", "amount_fen", "status"})


def canonical_string(timestamp: int, nonce: str, payload: bytes) -> bytes:
    """The bytes that are signed."""
    return f"{timestamp}\n{nonce}\n".encode("ascii") + payload


def sign_callback(payload: bytes, secret: bytes, *, timestamp: int, nonce: str) -> str:
    """The signature header value for ``payload`` sent at ``timestamp`` with ``nonce``."""
    return hmac.new(secret, canonical_string(timestamp, nonce, payload), hashlib.sha256).hexdigest()


class NonceLedger(Protocol):
    """Remembers nonces; backed by Redis ``SET NX EX`` or a table in the application."""

    def remember(self, nonce: str, until: dt.datetime) -> bool:
        """Record ``nonce`` until ``until``; False when it was already recorded (atomically)."""
        ...


class InMemoryNonceLedger:
    """A :class:`NonceLedger` in a dict, for one process (tests, demos)."""

    def __init__(self) -> None:
        self._until: dict[str, dt.datetime] = {}

    def remember(self, nonce: str, until: dt.datetime) -> bool:
        """Record ``nonce``; False when it is already recorded."""
        if nonce in self._until:
            return False
        self._until[nonce] = until
        return True

    def forget_expired(self, now: dt.datetime) -> None:
        """Drop nonces whose window has closed (their timestamps would be refused as late anyway)."""
        self._until = {nonce: until for nonce, until in self._until.items() if until >= now}

    def __len__(self) -> int:
        return len(self._until)


@dataclass(frozen=True)
class PayableInvoice:
    """What verification needs to know about an invoice."""

    number: str
    """Invoice number."""
    total_fen: int
    """Amount due."""
    paid_transaction_id: str | None = None
    """The gateway transaction that paid it, once paid."""


class CallbackDecision(StrEnum):
    """What to do with a verified callback."""

    MARK_PAID = "mark_paid"
    """First successful payment: record it."""
    ALREADY_PAID = "already_paid"
    """The same transaction again (a retry): answer success, change nothing."""
    DOUBLE_PAYMENT = "double_payment"
    """Paid already by another transaction: change nothing, flag for refund (重复支付)."""
    PAYMENT_FAILED = "payment_failed"
    """The gateway reports a failed payment: nothing to record on the invoice."""


@dataclass(frozen=True)
class VerifiedCallback:
    """A callback that passed every check."""

    invoice_number: str
    """Invoice paid."""
    transaction_id: str
    """Gateway transaction id (交易流水号)."""
    amount_fen: int
    """Amount paid."""
    paid: bool
    """True for ``status: paid``, False for ``status: failed``."""
    sent_at: dt.datetime
    """The gateway's timestamp."""
    decision: CallbackDecision
    """What the caller should do."""


def decide(invoice: PayableInvoice, transaction_id: str, *, paid: bool = True) -> CallbackDecision:
    """Idempotency decision for a callback about ``invoice``."""
    if invoice.paid_transaction_id is None:
        return CallbackDecision.MARK_PAID if paid else CallbackDecision.PAYMENT_FAILED
    if invoice.paid_transaction_id == transaction_id:
        return CallbackDecision.ALREADY_PAID
    return CallbackDecision.DOUBLE_PAYMENT if paid else CallbackDecision.PAYMENT_FAILED


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    raise MalformedCallback(f"缺少请求头 {name}", f"missing header {name}")


def _body(payload: bytes) -> tuple[str, str, int, bool]:
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedCallback("通知内容不是有效的 JSON", "the callback body is not valid JSON") from None
    if not isinstance(raw, dict) or set(raw) != _BODY_KEYS:
        raise MalformedCallback("通知内容字段不符", f"the callback body must have exactly {sorted(_BODY_KEYS)}")
    number, transaction, amount, status = raw["invoice_number"], raw["transaction_id"], raw["amount_fen"], raw["status"]
    if not (isinstance(number, str) and isinstance(transaction, str) and transaction):
        raise MalformedCallback("发票号或交易流水号无效", "invalid invoice number or transaction id")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise MalformedCallback("金额须为正整数（分）", "amount_fen must be a positive integer")
    if status not in ("paid", "failed"):
        raise MalformedCallback(f"未知支付状态：{status!r}", f"unknown payment status: {status!r}")
    return number, transaction, amount, status == "paid"


def verify_callback(
    headers: Mapping[str, str],
    payload: bytes,
    secret: bytes,
    *,
    now: dt.datetime,
    seen_nonces: NonceLedger,
    invoices: Callable[[str], PayableInvoice | None],
    tolerance_seconds: int = 300,
) -> VerifiedCallback:
    """Check one callback (see the module docstring) and decide what it means."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if len(payload) > MAX_BODY:
        raise MalformedCallback("通知内容过大", "the callback body is too large")
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    nonce = _header(headers, NONCE_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 11:
        raise MalformedCallback("时间戳格式错误", "the timestamp must be Unix seconds")
    if _NONCE.fullmatch(nonce) is None:
        raise MalformedCallback("随机串格式错误", "the nonce must be 8–64 characters of A–Z, a–z, 0–9, _ or -")
    timestamp = int(raw_timestamp)
    expected = sign_callback(payload, secret, timestamp=timestamp, nonce=nonce)
    if not hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8")):
        raise ForgedCallback("签名不符：通知可能被伪造或篡改", "signature mismatch: the callback is forged or altered")
    sent_at = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    skew = abs((now - sent_at).total_seconds())
    if skew > tolerance_seconds:
        raise LateCallback(
            f"通知时间与当前时间相差 {int(skew)} 秒，超出允许的 {tolerance_seconds} 秒",
            f"the callback's timestamp is {int(skew)} s away from now, beyond the {tolerance_seconds} s tolerance",
        )
    if not seen_nonces.remember(nonce, sent_at + dt.timedelta(seconds=tolerance_seconds)):
        raise ReplayedCallback("随机串已使用过：疑似重放的通知", "nonce already used: the callback is a replay")
    number, transaction, amount, paid = _body(payload)
    invoice = invoices(number)
    if invoice is None:
        raise UnknownInvoice(f"没有发票 {number}", f"no invoice {number}")
    if amount != invoice.total_fen:
        raise AmountMismatch(
            f"支付金额 {amount} 分与发票 {number} 应付 {invoice.total_fen} 分不符",
            f"amount {amount} fen does not match the {invoice.total_fen} fen due on invoice {number}",
        )
    return VerifiedCallback(number, transaction, amount, paid, sent_at, decide(invoice, transaction, paid=paid))
