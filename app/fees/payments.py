"""The payment gateway's callbacks (支付结果通知) and the fake gateway used in development.

:func:`receive_callback` is what ``POST /api/v1/payments/callback`` does: verify the callback with
:func:`review.fees.verify_callback` (HMAC with ``LIANTU_PAYMENT_SECRET``, timestamp window, nonce
never seen before — the :class:`~storage.models.PaymentNonce` table is the ledger — known invoice,
exact amount) and act on its decision. Every callback is recorded as a
:class:`~storage.models.PaymentEvent`, accepted or not: a refused one in a transaction of its own,
after the verifying transaction was rolled back, so that nothing else a refused callback touched
is kept. A retried callback of a paid invoice changes nothing (idempotent); another transaction for a
paid invoice is recorded as a double payment for the clerk to refund.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, Forbidden, Invalid, LiantuError, NotFound
from app.fees import FeeState, PaymentMethod, invoice_of, mark_paid
from app.settings import Settings
from review.fees import (
    CallbackDecision,
    CallbackRejected,
    ForgedCallback,
    PayableInvoice,
    ReplayedCallback,
    UnknownInvoice,
    verify_callback,
)
from review.fees.fake_gateway import FakeGateway, PaymentOrder, SignedCallback
from storage.db import transaction
from storage.models import FeeInvoice, PaymentEvent, PaymentNonce

log = logging.getLogger(__name__)

SOURCE = PaymentMethod.GATEWAY.value
BODY_EXCERPT = 2000
ATTEMPTS = 3


class TableNonceLedger:
    """The nonce ledger of :mod:`review.fees.callbacks` on the ``payment_nonces`` table (primary key = nonce)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(self, nonce: str, until: dt.datetime) -> bool:
        """Insert the nonce in a savepoint; False when the row exists (also when another callback inserts it now)."""
        try:
            with self.session.begin_nested():
                self.session.add(PaymentNonce(nonce=nonce, expires_at=until))
        except IntegrityError:
            return False
        return True


def forget_expired_nonces(session: Session, now: dt.datetime) -> int:
    """Delete nonces whose window has closed: a callback that old is refused as late anyway."""
    result = session.execute(delete(PaymentNonce).where(PaymentNonce.expires_at < now))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CallbackOutcome:
    """What a valid callback led to."""

    decision: CallbackDecision
    invoice_number: str
    transaction_id: str


def _payable(session: Session, number: str) -> PayableInvoice | None:
    # Locked before anything refers to it: two callbacks for one invoice take turns, and the second
    # decides on what the first wrote (on SQLite the one writer at a time does the same).
    invoice = session.scalar(select(FeeInvoice).where(FeeInvoice.number == number).with_for_update())
    if invoice is None:
        return None
    paid_by = invoice.transaction_id if invoice.state == FeeState.PAID and invoice.payment_method == SOURCE else None
    if invoice.state == FeeState.PAID and paid_by is None:
        # Paid by bank transfer: any gateway payment on top of it is a second payment.
        paid_by = invoice.transaction_id or "bank"
    return PayableInvoice(invoice.number, invoice.total_fen, paid_by)


def _outdated_snapshot(exc: OperationalError) -> bool:
    """SQLite refuses a write from a transaction that read before another writer committed."""
    return getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY_SNAPSHOT


def _as_error(exc: CallbackRejected) -> LiantuError:
    if isinstance(exc, ForgedCallback):
        return Forbidden(exc.zh, exc.en)
    if isinstance(exc, ReplayedCallback):
        return Conflict(exc.zh, exc.en)
    if isinstance(exc, UnknownInvoice):
        return NotFound(exc.zh, exc.en)
    return Invalid(exc.zh, exc.en)


def _body_fields(payload: bytes) -> dict[str, object]:
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")[:100]


def _record_refusal(
    sessions: sessionmaker[Session], headers: Mapping[str, str], payload: bytes, exc: CallbackRejected, now: dt.datetime
) -> None:
    fields = _body_fields(payload) if not isinstance(exc, ForgedCallback) else {}
    number = fields.get("invoice_number")
    with transaction(sessions) as session:
        invoice_id = None
        if isinstance(number, str) and not isinstance(exc, ForgedCallback):
            invoice_id = session.scalar(select(FeeInvoice.id).where(FeeInvoice.number == number))
        amount = fields.get("amount_fen")
        session.add(
            PaymentEvent(
                invoice_id=invoice_id,
                source=SOURCE,
                transaction_id=str(fields.get("transaction_id", ""))[:80],
                amount_fen=amount if isinstance(amount, int) and not isinstance(amount, bool) else 0,
                decision=exc.code.lower(),
                detail={
                    "message_zh": exc.zh,
                    "message_en": exc.en,
                    "nonce": _header(headers, "X-Liantu-Nonce"),
                    "timestamp": _header(headers, "X-Liantu-Timestamp"),
                    "body_sha256": hashlib.sha256(payload).hexdigest(),
                    "body": payload[:BODY_EXCERPT].decode("utf-8", errors="replace"),
                },
                at=now,
            )
        )


def receive_callback(
    sessions: sessionmaker[Session],
    settings: Settings,
    headers: Mapping[str, str],
    payload: bytes,
    *,
    now: dt.datetime | None = None,
) -> CallbackOutcome:
    """Verify and apply one callback; raise the matching :class:`~app.errors.LiantuError` when it is refused."""
    moment = now or dt.datetime.now(dt.UTC)
    for attempt in range(ATTEMPTS):
        try:
            with transaction(sessions) as session:
                return _apply(session, settings, headers, payload, moment)
        except CallbackRejected as exc:
            _record_refusal(sessions, headers, payload, exc, moment)
            raise _as_error(exc) from exc
        except (Conflict, IntegrityError, OperationalError) as exc:
            # Another callback for the same invoice committed first: verify again against what it wrote.
            if attempt == ATTEMPTS - 1 or (isinstance(exc, OperationalError) and not _outdated_snapshot(exc)):
                raise
            log.info("payment callback raced another one; verifying again")
    raise AssertionError("unreachable")


def _apply(
    session: Session, settings: Settings, headers: Mapping[str, str], payload: bytes, now: dt.datetime
) -> CallbackOutcome:
    forget_expired_nonces(session, now)
    verified = verify_callback(
        headers,
        payload,
        settings.effective_payment_secret,
        now=now,
        seen_nonces=TableNonceLedger(session),
        invoices=lambda number: _payable(session, number),
    )
    invoice = session.scalar(select(FeeInvoice).where(FeeInvoice.number == verified.invoice_number))
    assert invoice is not None
    session.add(
        PaymentEvent(
            invoice_id=invoice.id,
            source=SOURCE,
            transaction_id=verified.transaction_id[:80],
            amount_fen=verified.amount_fen,
            decision=verified.decision.value,
            detail={"status": "paid" if verified.paid else "failed", "sent_at": verified.sent_at.isoformat()},
            at=now,
        )
    )
    session.flush()
    if verified.decision is CallbackDecision.MARK_PAID:
        mark_paid(
            session,
            invoice,
            method=PaymentMethod.GATEWAY,
            transaction_id=verified.transaction_id[:80],
            amount_fen=verified.amount_fen,
            at=now,
        )
    elif verified.decision is CallbackDecision.DOUBLE_PAYMENT:
        log.warning("invoice %s paid twice (transaction %s)", invoice.number, verified.transaction_id)
    return CallbackOutcome(verified.decision, verified.invoice_number, verified.transaction_id)


# The fake gateway (development) ---------------------------------------------------------------------


def fake_order(session: Session, submission_id: int, settings: Settings, number: str | None = None) -> PaymentOrder:
    """The order the fake gateway shows for invoice ``number`` of the submission (without it, the first
    one waiting for payment); ``NotFound`` when there is none."""
    invoice = invoice_of(session, submission_id, number or None)
    if invoice is None:
        raise NotFound("该报审没有待缴的审查费", "this submission has no review fee invoice")
    gateway = FakeGateway(settings.effective_payment_secret)
    return gateway.create_order(PayableInvoice(invoice.number, invoice.total_fen))


def fake_callback(order: PaymentOrder, settings: Settings, *, paid: bool, at: dt.datetime) -> SignedCallback:
    """The callback the fake gateway sends for ``order``, signed with the configured secret."""
    gateway = FakeGateway(settings.effective_payment_secret)
    transaction_id = f"FAKE-{order.invoice_number}-{int(at.timestamp() * 1000)}"
    return gateway.callback(order, at=at, status="paid" if paid else "failed", transaction_id=transaction_id)
