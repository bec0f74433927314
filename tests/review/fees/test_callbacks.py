import datetime as dt
import json

import pytest

from review.fees.callbacks import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackDecision,
    InMemoryNonceLedger,
    PayableInvoice,
    VerifiedCallback,
    canonical_string,
    decide,
    sign_callback,
    verify_callback,
)
from review.fees.errors import (
    AmountMismatch,
    CallbackRejected,
    ForgedCallback,
    LateCallback,
    MalformedCallback,
    ReplayedCallback,
    UnknownInvoice,
)
from review.fees.fake_gateway import FakeGateway, SignedCallback
from review.fees.invoice import compute_invoice, format_invoice_number
from review.fees.schedule import example_schedule

SECRET = b"test-shared-secret-0123456789abcdef"
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
NUMBER = format_invoice_number(dt.date(2026, 11, 27), 7)
TOTAL = compute_invoice(12345.67, ["fire"], example_schedule(), number=NUMBER).total_fen


class Books:
    """The platform's side: invoices by number, as the application would load them."""

    def __init__(self) -> None:
        self.invoices = {NUMBER: PayableInvoice(NUMBER, TOTAL)}

    def lookup(self, number: str) -> PayableInvoice | None:
        return self.invoices.get(number)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(SECRET)


@pytest.fixture
def books() -> Books:
    return Books()


@pytest.fixture
def ledger() -> InMemoryNonceLedger:
    return InMemoryNonceLedger()


def _verify(
    callback: SignedCallback, books: Books, ledger: InMemoryNonceLedger, now: dt.datetime = NOW
) -> VerifiedCallback:
    return verify_callback(callback.headers, callback.body, SECRET, now=now, seen_nonces=ledger, invoices=books.lookup)


def test_signature_is_hmac_sha256_over_the_canonical_string() -> None:
    assert canonical_string(1700000000, "abcdefgh", b"{}") == b"1700000000\nabcdefgh\n{}"
    signature = sign_callback(b"{}", b"k", timestamp=1700000000, nonce="abcdefgh")
    assert len(signature) == 64
    assert signature != sign_callback(b"{}", b"k", timestamp=1700000001, nonce="abcdefgh")
    assert signature != sign_callback(b"{ }", b"k", timestamp=1700000000, nonce="abcdefgh")


def test_genuine_callback_marks_paid_and_a_retry_is_a_no_op(
    gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger
) -> None:
    order = gateway.create_order(books.invoices[NUMBER])
    assert order.amount_fen == TOTAL
    first = gateway.callback(order, at=NOW - dt.timedelta(seconds=3))
    verified = _verify(first, books, ledger)
    assert verified.decision is CallbackDecision.MARK_PAID
    assert verified.amount_fen == TOTAL
    transaction = verified.transaction_id
    books.invoices[NUMBER] = PayableInvoice(NUMBER, TOTAL, transaction)
    # The gateway retries with a fresh nonce: accepted, nothing to do.
    retry = gateway.callback(order, at=NOW, transaction_id=transaction)
    assert _verify(retry, books, ledger).decision is CallbackDecision.ALREADY_PAID
    # A second, different transaction for the same invoice is flagged.
    second = gateway.callback(order, at=NOW)
    assert _verify(second, books, ledger).decision is CallbackDecision.DOUBLE_PAYMENT


def test_forged_callbacks(gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger) -> None:
    order = gateway.create_order(books.invoices[NUMBER])
    wrong_key = gateway.callback(order, at=NOW, secret=b"attacker-guess")
    with pytest.raises(ForgedCallback) as forged:
        _verify(wrong_key, books, ledger)
    assert forged.value.code == "CALLBACK_FORGED"
    assert "伪造" in forged.value.zh
    genuine = gateway.callback(order, at=NOW)
    tampered = SignedCallback(genuine.headers, genuine.body.replace(b'"paid"', b'"failed"'))
    with pytest.raises(ForgedCallback):
        _verify(tampered, books, ledger)
    shifted = dict(genuine.headers)
    shifted[TIMESTAMP_HEADER] = str(int(shifted[TIMESTAMP_HEADER]) + 1)
    with pytest.raises(ForgedCallback):
        _verify(SignedCallback(shifted, genuine.body), books, ledger)
    # Refused callbacks did not consume the genuine nonce.
    assert _verify(genuine, books, ledger).decision is CallbackDecision.MARK_PAID


def test_late_and_early_callbacks(gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger) -> None:
    order = gateway.create_order(books.invoices[NUMBER])
    stale = gateway.callback(order, at=NOW - dt.timedelta(seconds=301))
    with pytest.raises(LateCallback):
        _verify(stale, books, ledger)
    from_the_future = gateway.callback(order, at=NOW + dt.timedelta(minutes=10))
    with pytest.raises(LateCallback):
        _verify(from_the_future, books, ledger)
    at_the_edge = gateway.callback(order, at=NOW - dt.timedelta(seconds=300))
    assert _verify(at_the_edge, books, ledger).decision is CallbackDecision.MARK_PAID
    assert len(ledger) == 1


def test_replayed_callback(gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger) -> None:
    order = gateway.create_order(books.invoices[NUMBER])
    callback = gateway.callback(order, at=NOW)
    _verify(callback, books, ledger)
    with pytest.raises(ReplayedCallback):
        _verify(callback, books, ledger, now=NOW + dt.timedelta(seconds=5))
    ledger.forget_expired(NOW + dt.timedelta(seconds=301))
    assert len(ledger) == 0
    # Once the nonce is forgotten, the timestamp is out of tolerance, so the replay still fails.
    with pytest.raises(LateCallback):
        _verify(callback, books, ledger, now=NOW + dt.timedelta(seconds=302))


def test_amount_and_invoice_checks(gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger) -> None:
    order = gateway.create_order(books.invoices[NUMBER])
    with pytest.raises(AmountMismatch) as short:
        _verify(gateway.callback(order, at=NOW, amount_fen=TOTAL - 1), books, ledger)
    assert str(TOTAL) in short.value.en
    other = gateway.create_order(PayableInvoice(format_invoice_number(dt.date(2026, 11, 27), 8), 100))
    with pytest.raises(UnknownInvoice):
        _verify(gateway.callback(other, at=NOW), books, ledger)


def test_failed_payment_is_reported_not_recorded(
    gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger
) -> None:
    order = gateway.create_order(books.invoices[NUMBER])
    verified = _verify(gateway.callback(order, at=NOW, status="failed"), books, ledger)
    assert verified.decision is CallbackDecision.PAYMENT_FAILED
    assert not verified.paid


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        json.dumps({"invoice_number": NUMBER}).encode(),
        json.dumps({"invoice_number": NUMBER, "transaction_id": "T", "amount_fen": 1.5, "status": "paid"}).encode(),
        json.dumps({"invoice_number": NUMBER, "transaction_id": "T", "amount_fen": 1, "status": "maybe"}).encode(),
        json.dumps(
            {"invoice_number": NUMBER, "transaction_id": "T", "amount_fen": 1, "status": "paid", "extra": 1}
        ).encode(),
    ],
)
def test_malformed_but_signed_bodies(
    body: bytes, gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger
) -> None:
    with pytest.raises(MalformedCallback):
        _verify(gateway.sign(body, at=NOW), books, ledger)


def test_missing_or_malformed_headers(gateway: FakeGateway, books: Books, ledger: InMemoryNonceLedger) -> None:
    genuine = gateway.callback(gateway.create_order(books.invoices[NUMBER]), at=NOW)
    for header in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER):
        headers = {key: value for key, value in genuine.headers.items() if key != header}
        with pytest.raises(MalformedCallback, match=header):
            _verify(SignedCallback(headers, genuine.body), books, ledger)
    short_nonce = gateway.sign(genuine.body, at=NOW, nonce="abc")
    with pytest.raises(MalformedCallback):
        _verify(short_nonce, books, ledger)
    lower_case = SignedCallback({key.lower(): value for key, value in genuine.headers.items()}, genuine.body)
    assert _verify(lower_case, books, ledger).decision is CallbackDecision.MARK_PAID


def test_every_refusal_is_one_family() -> None:
    for error in (AmountMismatch, ForgedCallback, LateCallback, MalformedCallback, ReplayedCallback, UnknownInvoice):
        assert issubclass(error, CallbackRejected)
        assert issubclass(error, ValueError)


def test_decide_helper() -> None:
    unpaid = PayableInvoice(NUMBER, 100)
    paid = PayableInvoice(NUMBER, 100, "TXN-1")
    assert decide(unpaid, "TXN-1") is CallbackDecision.MARK_PAID
    assert decide(paid, "TXN-1") is CallbackDecision.ALREADY_PAID
    assert decide(paid, "TXN-2") is CallbackDecision.DOUBLE_PAYMENT
    assert decide(paid, "TXN-2", paid=False) is CallbackDecision.PAYMENT_FAILED
