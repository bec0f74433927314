"""Two callbacks at the same moment, on separate connections that really commit: the fee is counted once."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app import fees
from app.errors import LiantuError
from app.fees.payments import fake_order, receive_callback
from app.settings import Settings, load_settings
from review.fees.fake_gateway import FakeGateway, SignedCallback
from storage.models import FeeInvoice, PaymentEvent
from tests.app.supervision.world import make_submission, make_world

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"LIANTU_DATA_DIR": str(tmp_path), "LIANTU_SECRET_KEY": "k" * 40})


def _at_once(sessions: sessionmaker[Session], settings: Settings, callbacks: list[SignedCallback]) -> list[str]:
    barrier = threading.Barrier(len(callbacks))
    outcomes: list[str] = []

    def send(callback: SignedCallback) -> None:
        barrier.wait()
        try:
            outcomes.append(receive_callback(sessions, settings, callback.headers, callback.body, now=NOW).decision)
        except LiantuError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=send, args=(callback,)) for callback in callbacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


CASES = (
    ("same callback", ["Conflict", "mark_paid"]),
    ("gateway retry", ["already_paid", "mark_paid"]),
    ("two payments", ["double_payment", "mark_paid"]),
)


def test_simultaneous_callbacks(own_engine: Engine, settings: Settings) -> None:
    sessions = sessionmaker(own_engine, expire_on_commit=False)
    with sessions() as session:
        world = make_world(session)
    gateway = FakeGateway(settings.effective_payment_secret)
    for index, (kind, expected) in enumerate(CASES):
        with sessions() as session:
            submission = make_submission(session, world, code=f"P-{index}")
            fees.issue_invoice(session, submission.id, at=NOW)
            session.commit()
            order = fake_order(session, submission.id, settings)
        first = gateway.callback(order, at=NOW, transaction_id=f"TXN-{index}-1")
        second = {
            "same callback": first,
            "gateway retry": gateway.callback(order, at=NOW, transaction_id=f"TXN-{index}-1"),
            "two payments": gateway.callback(order, at=NOW, transaction_id=f"TXN-{index}-2"),
        }[kind]
        assert _at_once(sessions, settings, [first, second]) == expected, kind
        with sessions() as session:
            invoice = session.scalar(select(FeeInvoice).where(FeeInvoice.submission_id == submission.id))
            assert invoice is not None
            assert (invoice.state, invoice.paid_fen, invoice.version) == ("paid", 1_600_000, 2)
            decisions = sorted(
                session.scalars(select(PaymentEvent.decision).where(PaymentEvent.invoice_id == invoice.id))
            )
        assert decisions.count("mark_paid") == 1, kind
        assert len(decisions) == 2, kind  # every callback is recorded, the refused replay too


def test_two_issuers_at_once_charge_a_round_once(own_engine: Engine, settings: Settings) -> None:
    """Acceptance and the start of the review issuing the same invoice at once: one invoice, one number."""
    sessions = sessionmaker(own_engine, expire_on_commit=False)
    with sessions() as session:
        world = make_world(session)
        submission = make_submission(session, world, code="P-RACE")
        session.commit()
    barrier = threading.Barrier(2)
    numbers: list[str] = []
    errors: list[str] = []

    def issue() -> None:
        barrier.wait()
        try:
            with sessions() as session:
                invoice = fees.issue_invoice(session, submission.id, settings=settings, at=NOW)
                assert invoice is not None
                session.commit()
                numbers.append(invoice.number)
        except Exception as exc:  # noqa: BLE001 - SQLite refuses the second writer; that is an answer too
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with sessions() as session:
        issued = session.scalars(select(FeeInvoice.number).where(FeeInvoice.submission_id == submission.id)).all()
    assert len(issued) == 1
    if own_engine.dialect.name == "postgresql":
        # The second issuer waited for the first and returned its invoice instead of failing.
        assert (numbers, errors) == (issued * 2, [])
    else:
        assert set(numbers) == set(issued)
        assert len(numbers) + len(errors) == 2
