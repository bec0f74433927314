"""Fees: the invoice at acceptance, gateway callbacks good and bad, bank transfer, deferral, the receipt."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pymupdf
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import fees
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.fees.payments import fake_callback, fake_order, receive_callback
from app.fees.receipt import receipt_pdf
from app.settings import Settings, load_settings
from review.fees.fake_gateway import FakeGateway
from storage.blobstore import LocalBlobStore
from storage.models import AuditEvent, FeeInvoice, Notification, PaymentEvent, PaymentNonce, Round, TrackReview
from tests.app.supervision.world import World, make_submission, make_world

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"LIANTU_DATA_DIR": str(tmp_path), "LIANTU_SECRET_KEY": "k" * 40})


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def _invoice(session: Session, submission_id: int) -> FeeInvoice:
    session.expire_all()
    found = session.scalar(select(FeeInvoice).where(FeeInvoice.submission_id == submission_id))
    assert found is not None
    return found


def _events(session: Session) -> list[str]:
    return list(session.scalars(select(PaymentEvent.decision).order_by(PaymentEvent.id)))


def test_the_invoice_follows_the_schedule_and_tells_the_designer(session: Session, world: World) -> None:
    submission = make_submission(session, world, area=5000.0, tracks=("fire", "construction", "lightning"))
    invoice = fees.issue_invoice(session, submission.id, at=NOW)
    assert invoice is not None
    assert fees.issue_invoice(session, submission.id) is invoice
    # Example schedule: fire 5000 m² × 1.00 = ¥5,000; construction 5000 m² × 2.20 = ¥11,000; lightning: no fee.
    assert [line["track"] for line in invoice.lines] == ["construction", "fire"]
    assert [line["amount_fen"] for line in invoice.lines] == [1_100_000, 500_000]
    assert invoice.total_fen == 1_600_000
    assert invoice.number == "LT20260302-000001-" + invoice.number[-1]
    assert invoice.lines[0]["example_schedule"] is True
    other = make_submission(session, world, code="P-2026-002", area=300.0, tracks=("civil_air_defence",))
    second = fees.issue_invoice(session, other.id, at=NOW)
    assert second is not None
    assert second.number.startswith("LT20260302-000002-")
    assert second.total_fen == 100_000  # 300 m² × ¥0.50 = ¥150, raised to the ¥1,000 minimum
    (note,) = session.scalars(select(Notification).where(Notification.submission_id == submission.id)).all()
    assert note.kind == "fee_due"
    assert note.user_id == world.designer.user_id
    assert "¥16,000.00" in note.subject_zh


def test_no_area_no_invoice_and_no_start(session: Session, world: World) -> None:
    submission = make_submission(session, world, area=0.0)
    assert fees.issue_invoice(session, submission.id) is None
    with pytest.raises(Conflict, match="总建筑面积未填写"):
        fees.check_review_may_start(session, submission.id)
    free = make_submission(session, world, code="P-2026-003", tracks=("lightning",))
    fees.check_review_may_start(session, free.id)  # nothing charged: nothing to wait for


def _setup(session: Session, world: World) -> int:
    submission = make_submission(session, world)
    fees.issue_invoice(session, submission.id, at=NOW)
    session.commit()
    return submission.id


def test_a_gateway_payment_and_its_retry(
    session: Session, session_factory: sessionmaker[Session], world: World, settings: Settings
) -> None:
    submission_id = _setup(session, world)
    order = fake_order(session, submission_id, settings)
    signed = fake_callback(order, settings, paid=True, at=NOW)
    outcome = receive_callback(session_factory, settings, signed.headers, signed.body, now=NOW)
    assert outcome.decision == "mark_paid"
    invoice = _invoice(session, submission_id)
    assert invoice.state == "paid"
    assert invoice.paid_fen == 1_600_000
    assert invoice.payment_method == "gateway"
    fees.check_review_may_start(session, submission_id)
    assert session.scalar(select(Notification.id).where(Notification.kind == "fee_paid")) is not None
    paid_by = invoice.transaction_id

    # The same callback again: a replay, refused and recorded; nothing changes.
    with pytest.raises(Conflict, match="重放"):
        receive_callback(session_factory, settings, signed.headers, signed.body, now=NOW)
    # The gateway retrying with a fresh nonce and the same transaction: success, nothing changes.
    gateway = FakeGateway(settings.effective_payment_secret)
    retry = gateway.callback(order, at=NOW, transaction_id=paid_by)
    assert receive_callback(session_factory, settings, retry.headers, retry.body, now=NOW).decision == "already_paid"
    # Another transaction for the paid invoice: recorded as a double payment.
    twice = gateway.callback(order, at=NOW, transaction_id="BANK-OTHER-1")
    assert receive_callback(session_factory, settings, twice.headers, twice.body, now=NOW).decision == "double_payment"
    invoice = _invoice(session, submission_id)
    assert invoice.transaction_id == paid_by
    assert invoice.paid_fen == 1_600_000
    assert _events(session) == ["mark_paid", "callback_replayed", "already_paid", "double_payment"]
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.action == "fee.paid")) == "fee.paid"


def test_bad_callbacks_change_nothing_and_are_recorded(
    session: Session, session_factory: sessionmaker[Session], world: World, settings: Settings
) -> None:
    submission_id = _setup(session, world)
    order = fake_order(session, submission_id, settings)
    gateway = FakeGateway(settings.effective_payment_secret)
    forged = gateway.callback(order, at=NOW, secret=b"not the shared key")
    with pytest.raises(Forbidden, match="签名不符"):
        receive_callback(session_factory, settings, forged.headers, forged.body, now=NOW)
    tampered = gateway.callback(order, at=NOW)
    with pytest.raises(Forbidden):
        receive_callback(session_factory, settings, tampered.headers, tampered.body.replace(b"16", b"61"), now=NOW)
    late = gateway.callback(order, at=NOW - dt.timedelta(minutes=10))
    with pytest.raises(Invalid, match="超出允许"):
        receive_callback(session_factory, settings, late.headers, late.body, now=NOW)
    short = gateway.callback(order, at=NOW, amount_fen=1_000)
    with pytest.raises(Invalid, match="不符"):
        receive_callback(session_factory, settings, short.headers, short.body, now=NOW)
    body = json.dumps(
        {"invoice_number": "LT20260302-000999-1", "transaction_id": "T1", "amount_fen": 1, "status": "paid"}
    ).encode()
    unknown = gateway.sign(body, at=NOW)
    with pytest.raises(NotFound):
        receive_callback(session_factory, settings, unknown.headers, unknown.body, now=NOW)
    failed = gateway.callback(order, at=NOW, status="failed")
    assert (
        receive_callback(session_factory, settings, failed.headers, failed.body, now=NOW).decision == "payment_failed"
    )
    assert _invoice(session, submission_id).state == "unpaid"
    assert _events(session) == [
        "callback_forged",
        "callback_forged",
        "callback_late",
        "callback_amount_mismatch",
        "callback_unknown_invoice",
        "payment_failed",
    ]
    forged_event = session.scalars(select(PaymentEvent).order_by(PaymentEvent.id)).first()
    assert forged_event is not None
    assert forged_event.invoice_id is None
    assert forged_event.detail["body_sha256"]
    # Only the nonce of the accepted (failed-payment) callback is kept.
    assert session.scalars(select(PaymentNonce.nonce)).all() == [failed.headers["X-Liantu-Nonce"]]


def test_bank_transfer_by_the_clerk(session: Session, world: World) -> None:
    submission_id = _setup(session, world)
    with pytest.raises(Invalid, match="不符"):
        fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-001", amount="1600")
    with pytest.raises(Invalid):
        fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-001", amount="16000.001")
    with pytest.raises(Invalid):
        fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="  ", amount="16000")
    with pytest.raises(Forbidden):
        fees.confirm_bank_transfer(session, world.designer, submission_id, reference="ICBC-001", amount="16000")
    fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-001", amount="¥16,000.00")
    session.commit()
    invoice = _invoice(session, submission_id)
    assert (invoice.state, invoice.payment_method, invoice.transaction_id) == ("paid", "bank_transfer", "BANK-ICBC-001")
    assert invoice.confirmed_by_id == world.clerk.user_id
    with pytest.raises(Conflict):
        fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-002", amount="16000")
    assert _events(session) == ["mark_paid"]


def test_deferral_needs_a_reason_and_is_audited(session: Session, world: World) -> None:
    submission_id = _setup(session, world)
    with pytest.raises(Invalid):
        fees.defer_fee(session, world.clerk, submission_id, reason="   ")
    with pytest.raises(Invalid):
        fees.defer_fee(session, world.clerk, submission_id, reason="x" * 501)
    with pytest.raises(Forbidden):
        fees.defer_fee(session, world.designer, submission_id, reason="我们想缓缴")
    fees.defer_fee(session, world.clerk, submission_id, reason="重点民生工程，经批准缓缴")
    session.commit()
    assert _invoice(session, submission_id).state == "deferred"
    fees.check_review_may_start(session, submission_id)
    summary = session.scalar(select(AuditEvent.summary).where(AuditEvent.action == "fee.deferred"))
    assert summary is not None
    assert "重点民生工程" in summary
    with pytest.raises(Conflict):
        fees.defer_fee(session, world.clerk, submission_id, reason="again")


def test_receipt_pdf(session: Session, world: World, tmp_path: Path) -> None:
    submission_id = _setup(session, world)
    store = LocalBlobStore(tmp_path / "objects")
    with pytest.raises(NotFound):
        receipt_pdf(session, store, world.designer, submission_id)
    fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-7", amount="16000")
    name, data = receipt_pdf(session, store, world.designer, submission_id)
    session.commit()
    invoice = _invoice(session, submission_id)
    assert name == f"receipt-{invoice.number}.pdf"
    assert invoice.receipt_key is not None
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        text = doc[0].get_text()
    for expected in ("审查费缴费凭证", invoice.number, "¥16,000.00", "消防设计审查费", "银行转账", "BANK-ICBC-7"):
        assert expected in text
    assert receipt_pdf(session, store, world.designer, submission_id)[1] == data  # read back from the store


def _next_round(session: Session, submission_id: int, tracks: tuple[str, ...]) -> Round:
    """Close the open round and open the next one with ``tracks``, as a later acceptance does."""
    previous = session.scalars(
        select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc())
    ).first()
    assert previous is not None
    previous.closed_at = NOW
    following = Round(submission_id=submission_id, number=previous.number + 1)
    session.add(following)
    session.flush()
    session.add_all(TrackReview(round_id=following.id, track_code=code) for code in tracks)
    session.commit()
    return following


def _invoices(session: Session, submission_id: int) -> list[FeeInvoice]:
    session.expire_all()
    return list(
        session.scalars(select(FeeInvoice).where(FeeInvoice.submission_id == submission_id).order_by(FeeInvoice.id))
    )


def test_a_track_added_in_a_later_round_is_charged_before_its_review_starts(session: Session, world: World) -> None:
    """Round 2 accepted with a new civil air defence sheet: open_round adds the track, its fee is due."""
    submission_id = _setup(session, world)  # fire and construction, ¥16,000
    fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-001", amount="16000")
    round_2 = _next_round(session, submission_id, ("fire", "civil_air_defence"))

    with pytest.raises(Conflict, match="审查费"):
        fees.check_review_may_start(session, submission_id)
    invoices = _invoices(session, submission_id)  # in the order issued
    assert [[line["track"] for line in invoice.lines] for invoice in invoices] == [
        ["construction", "fire"],
        ["civil_air_defence"],
    ]
    initial, supplementary = invoices
    assert (initial.kind, supplementary.kind) == ("initial", "supplementary")
    assert supplementary.round_id == round_2.id
    assert supplementary.number != initial.number
    assert supplementary.total_fen == 250_000  # 5000 m² × ¥0.50
    assert supplementary.state == "unpaid"
    assert fees.fee_state(invoices) == "unpaid"
    assert fees.invoice_of(session, submission_id) is supplementary  # the one waiting for payment
    # The designer is told, as at acceptance, of the supplementary invoice alone.
    notes = session.scalars(select(Notification).where(Notification.kind == "fee_due").order_by(Notification.id)).all()
    assert len(notes) == 2
    assert "补充审查费 ¥2,500.00" in notes[1].subject_zh
    assert "supplementary review fee of ¥2,500.00" in notes[1].subject_en
    assert supplementary.number in notes[1].body_zh
    assert notes[1].user_id == world.designer.user_id


def test_a_later_round_without_a_new_track_issues_nothing(session: Session, world: World) -> None:
    submission_id = _setup(session, world)
    fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-001", amount="16000")
    _next_round(session, submission_id, ("fire", "lightning"))  # lightning has no fee; fire is paid for
    (only,) = _invoices(session, submission_id)
    assert fees.issue_invoice(session, submission_id, at=NOW) is only
    fees.check_review_may_start(session, submission_id)
    assert len(_invoices(session, submission_id)) == 1
    assert session.scalars(select(Notification.id).where(Notification.kind == "fee_due")).all() != []
    assert len(session.scalars(select(Notification.id).where(Notification.kind == "fee_due")).all()) == 1


def test_a_supplementary_invoice_paid_through_the_gateway(
    session: Session, session_factory: sessionmaker[Session], world: World, settings: Settings
) -> None:
    submission_id = _setup(session, world)
    first = fake_order(session, submission_id, settings)
    signed = fake_callback(first, settings, paid=True, at=NOW)
    assert receive_callback(session_factory, settings, signed.headers, signed.body, now=NOW).decision == "mark_paid"
    _next_round(session, submission_id, ("construction", "civil_air_defence"))
    supplementary = fees.issue_invoice(session, submission_id, at=NOW)
    session.commit()
    assert supplementary is not None
    assert supplementary.kind == "supplementary"

    order = fake_order(session, submission_id, settings)  # the invoice waiting for payment
    assert (order.invoice_number, order.amount_fen) == (supplementary.number, 250_000)
    paid_first = fake_order(session, submission_id, settings, first.invoice_number)
    assert paid_first.amount_fen == 1_600_000
    later = NOW + dt.timedelta(seconds=1)
    callback = fake_callback(order, settings, paid=True, at=later)
    outcome = receive_callback(session_factory, settings, callback.headers, callback.body, now=later)
    assert (outcome.decision, outcome.invoice_number) == ("mark_paid", supplementary.number)
    initial, second = _invoices(session, submission_id)
    assert (initial.state, second.state) == ("paid", "paid")
    assert (initial.paid_fen, second.paid_fen) == (1_600_000, 250_000)
    assert initial.transaction_id != second.transaction_id
    fees.check_review_may_start(session, submission_id)
    events = session.execute(select(PaymentEvent.invoice_id, PaymentEvent.decision).order_by(PaymentEvent.id)).all()
    assert [tuple(row) for row in events] == [(initial.id, "mark_paid"), (second.id, "mark_paid")]


def test_a_supplementary_invoice_by_bank_transfer_deferral_and_receipts(
    session: Session, world: World, tmp_path: Path
) -> None:
    submission_id = _setup(session, world)
    fees.defer_fee(session, world.clerk, submission_id, reason="财政拨款项目，缓缴")
    _next_round(session, submission_id, ("fire", "civil_air_defence"))
    with pytest.raises(Conflict, match=re.escape("¥2,500.00")):
        fees.check_review_may_start(session, submission_id)
    session.commit()
    initial, supplementary = _invoices(session, submission_id)
    # Without a number the clerk's confirmation goes to the invoice still unpaid, with the amount it asks.
    with pytest.raises(Invalid, match="不符"):
        fees.confirm_bank_transfer(session, world.clerk, submission_id, reference="ICBC-2", amount="16000")
    with pytest.raises(NotFound):
        fees.confirm_bank_transfer(
            session, world.clerk, submission_id, reference="ICBC-2", amount="2500", number="LT20990101-000001-0"
        )
    fees.confirm_bank_transfer(
        session, world.clerk, submission_id, reference="ICBC-2", amount="2500", number=supplementary.number
    )
    session.commit()
    initial, supplementary = _invoices(session, submission_id)
    assert (initial.state, supplementary.state) == ("deferred", "paid")
    assert supplementary.transaction_id == "BANK-ICBC-2"
    fees.check_review_may_start(session, submission_id)
    # The deferred initial invoice is still payable by transfer, under its own number.
    fees.confirm_bank_transfer(
        session, world.clerk, submission_id, reference="ICBC-1", amount="16000", number=initial.number
    )
    session.commit()
    store = LocalBlobStore(tmp_path / "objects")
    name, data = receipt_pdf(session, store, world.designer, submission_id, supplementary.number)
    assert name == f"receipt-{supplementary.number}.pdf"
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        text = doc[0].get_text()
    for expected in (supplementary.number, "补充收费", "¥2,500.00", "BANK-ICBC-2"):
        assert expected in text
    assert "¥16,000.00" not in text
    first_name, first_data = receipt_pdf(session, store, world.designer, submission_id, initial.number)
    assert first_name == f"receipt-{initial.number}.pdf"
    assert first_data != data
