"""A stand-in for the bank's payment gateway (支付网关), for tests and demonstrations.

The real gateway is outside the platform; this one creates payment orders and produces callbacks
signed exactly as :mod:`review.fees.callbacks` expects, and can also produce the bad ones
(tampered body, wrong secret, stale timestamp) that verification must refuse.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from review.fees.callbacks import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, PayableInvoice, sign_callback


@dataclass(frozen=True)
class PaymentOrder:
    """An order the payer is sent to pay (支付订单)."""

    order_id: str
    """The gateway's order id."""
    invoice_number: str
    """Invoice the order pays."""
    amount_fen: int
    """Amount to pay."""
    pay_url: str
    """Where the payer would be sent (fake)."""


@dataclass(frozen=True)
class SignedCallback:
    """A callback as the gateway would POST it."""

    headers: Mapping[str, str]
    """The three signature headers."""
    body: bytes
    """The JSON body."""


class FakeGateway:
    """Creates orders and signs callbacks with ``secret``; transaction ids are sequential."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._orders = itertools.count(1)
        self._transactions = itertools.count(1)

    def create_order(self, invoice: PayableInvoice) -> PaymentOrder:
        """A payment order for the invoice's total."""
        order_id = f"FAKE-ORDER-{next(self._orders):06d}"
        return PaymentOrder(order_id, invoice.number, invoice.total_fen, f"https://pay.invalid/{order_id}")

    def callback(
        self,
        order: PaymentOrder,
        *,
        at: dt.datetime,
        status: Literal["paid", "failed"] = "paid",
        amount_fen: int | None = None,
        transaction_id: str | None = None,
        nonce: str | None = None,
        secret: bytes | None = None,
    ) -> SignedCallback:
        """The callback announcing the order's outcome at ``at``; overrides make deliberately bad ones."""
        body = json.dumps(
            {
                "invoice_number": order.invoice_number,
                "transaction_id": transaction_id or f"FAKE-TXN-{next(self._transactions):08d}",
                "amount_fen": order.amount_fen if amount_fen is None else amount_fen,
                "status": status,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        return self.sign(body, at=at, nonce=nonce, secret=secret)

    def sign(
        self, body: bytes, *, at: dt.datetime, nonce: str | None = None, secret: bytes | None = None
    ) -> SignedCallback:
        """Headers for an arbitrary body (used to build malformed callbacks that are still signed)."""
        timestamp = int(at.timestamp())
        used_nonce = nonce or secrets.token_urlsafe(16)
        signature = sign_callback(body, secret or self._secret, timestamp=timestamp, nonce=used_nonce)
        headers = {TIMESTAMP_HEADER: str(timestamp), NONCE_HEADER: used_nonce, SIGNATURE_HEADER: signature}
        return SignedCallback(MappingProxyType(headers), body)
