"""Fee pages: the designer pays through the fake gateway, the callback endpoint, the clerk's forms, the receipt."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pymupdf
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from app import fees
from app.fees.payments import fake_order
from app.platform import Platform
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from review.fees.fake_gateway import FakeGateway
from storage.db import make_engine, transaction
from storage.models import FeeInvoice, PaymentEvent, Project, Round, Submission, SubmissionState, TrackReview, User
from tests.support.web import csrf_token, sign_in, web_settings_env


def accepted_submission(platform: Platform, *, area: float = 12000.0) -> int:
    """An accepted submission of the demo designer's institute, with its invoice issued."""
    with transaction(platform.sessions) as db:
        designer = db.scalar(select(User).where(User.username == "designer"))
        assert designer is not None
        project = Project(
            code="P-2026-088", name="城东综合楼", organization_id=designer.organization_id, gross_floor_area_m2=area
        )
        submission = Submission(state=SubmissionState.ACCEPTED)
        project.submissions.append(submission)
        db.add(project)
        db.flush()
        round_ = Round(submission_id=submission.id, number=1)
        db.add(round_)
        db.flush()
        db.add_all(TrackReview(round_id=round_.id, track_code=code) for code in ("fire", "civil_air_defence"))
        db.flush()
        fees.issue_invoice(db, submission.id)
        return submission.id


def invoice(platform: Platform, submission_id: int) -> FeeInvoice:
    with platform.sessions() as db:
        found = db.scalar(select(FeeInvoice).where(FeeInvoice.submission_id == submission_id))
        assert found is not None
        return found


def test_the_designer_pays_through_the_fake_gateway(client: TestClient, web_platform: Platform) -> None:
    submission_id = accepted_submission(web_platform)
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/fee")
    assert page.status_code == 200
    number = invoice(web_platform, submission_id).number
    # 12000 m²: fire 10000 × 1.00 + 2000 × 0.80 = ¥11,600; civil air defence 12000 × 0.50 = ¥6,000.
    assert number in page.text
    assert "¥17,600.00" in page.text
    assert 'data-testid="pay"' in page.text
    assert 'data-testid="settle"' not in page.text
    token = csrf_token(client, f"/submissions/{submission_id}/fee")
    to_gateway = client.post(f"/submissions/{submission_id}/fee/pay", data={"csrf_token": token})
    assert to_gateway.status_code == 303
    gateway = client.get(to_gateway.headers["location"])
    assert gateway.status_code == 200
    assert number in gateway.text
    failed = client.post(to_gateway.headers["location"], data={"csrf_token": token, "outcome": "failed"})
    assert failed.headers["location"].endswith("done=payment_failed")
    assert invoice(web_platform, submission_id).state == "unpaid"
    paid = client.post(to_gateway.headers["location"], data={"csrf_token": token, "outcome": "paid"})
    assert paid.status_code == 303
    assert paid.headers["location"].endswith("done=paid")
    assert invoice(web_platform, submission_id).state == "paid"
    shown = client.get(paid.headers["location"]).text
    assert 'data-testid="receipt"' in shown
    assert 'data-state="paid"' in shown
    api = client.get(f"/api/v1/submissions/{submission_id}/fee").json()["invoice"]
    assert (api["number"], api["state"], api["paid_fen"], api["payment_method"]) == (
        number,
        "paid",
        1_760_000,
        "gateway",
    )
    receipt = client.get(f"/submissions/{submission_id}/fee/receipt.pdf")
    assert receipt.status_code == 200
    assert receipt.headers["content-type"] == "application/pdf"
    with pymupdf.open(stream=receipt.content, filetype="pdf") as doc:
        text = doc[0].get_text()
    assert "审查费缴费凭证" in text
    assert number in text
    assert "¥17,600.00" in text


def test_the_callback_endpoint(client: TestClient, web_platform: Platform) -> None:
    submission_id = accepted_submission(web_platform)
    settings = web_platform.settings
    with web_platform.sessions() as db:
        order = fake_order(db, submission_id, settings)
    gateway = FakeGateway(settings.effective_payment_secret)
    now = dt.datetime.now(dt.UTC)
    url = "/api/v1/payments/callback"

    forged = gateway.callback(order, at=now, secret=b"guessed")
    answer = client.post(url, content=forged.body, headers=dict(forged.headers))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert "签名" in answer.json()["error"]["message_zh"]
    garbage = client.post(url, content=b"{}", headers={"X-Liantu-Timestamp": "x"})
    assert garbage.status_code == 400
    huge = client.post(url, content=b"x" * 100_000, headers=dict(forged.headers))
    assert huge.status_code == 400
    assert "too large" in huge.json()["error"]["message_en"]
    good = gateway.callback(order, at=now)
    answer = client.post(url, content=good.body, headers=dict(good.headers))
    assert answer.status_code == 200
    assert answer.json()["result"] == "mark_paid"
    replay = client.post(url, content=good.body, headers=dict(good.headers))
    assert replay.status_code == 409
    body = json.loads(good.body)
    again = gateway.callback(order, at=now, transaction_id=body["transaction_id"])
    assert client.post(url, content=again.body, headers=dict(again.headers)).json()["result"] == "already_paid"
    with web_platform.sessions() as db:
        decisions = db.scalars(select(PaymentEvent.decision).order_by(PaymentEvent.id)).all()
    assert decisions == [
        "callback_forged",
        "callback_malformed",
        "callback_malformed",
        "mark_paid",
        "callback_replayed",
        "already_paid",
    ]


def test_the_clerk_confirms_a_transfer_or_defers(client: TestClient, web_platform: Platform) -> None:
    first = accepted_submission(web_platform)
    sign_in(client, web_platform, "clerk")
    page = client.get(f"/submissions/{first}/fee")
    assert 'data-testid="settle"' in page.text
    assert 'data-testid="pay"' not in page.text
    token = csrf_token(client, f"/submissions/{first}/fee")
    wrong = client.post(
        f"/submissions/{first}/fee/bank-transfer", data={"csrf_token": token, "reference": "ICBC-9", "amount": "100"}
    )
    assert wrong.status_code == 400
    assert 'data-testid="problem"' in wrong.text
    assert 'value="ICBC-9"' in wrong.text
    assert invoice(web_platform, first).state == "unpaid"
    right = client.post(
        f"/submissions/{first}/fee/bank-transfer", data={"csrf_token": token, "reference": "ICBC-9", "amount": "17600"}
    )
    assert right.status_code == 303
    assert invoice(web_platform, first).state == "paid"

    with transaction(web_platform.sessions) as db:
        db.execute(select(Project).where(Project.code == "P-2026-088")).scalar_one().code = "P-2026-087"
    second = accepted_submission(web_platform)
    empty = client.post(f"/submissions/{second}/fee/defer", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 400
    deferred = client.post(f"/submissions/{second}/fee/defer", data={"csrf_token": token, "reason": "财政拨款，缓缴"})
    assert deferred.status_code == 303
    shown = client.get(deferred.headers["location"]).text
    assert "财政拨款，缓缴" in shown
    assert 'data-done="deferred"' in shown


def second_round_with(platform: Platform, submission_id: int, tracks: tuple[str, ...]) -> None:
    """The first round concluded, the next one accepted with ``tracks``: its invoice is issued."""
    with transaction(platform.sessions) as db:
        first = db.scalars(select(Round).where(Round.submission_id == submission_id)).one()
        first.closed_at = dt.datetime.now(dt.UTC)
        following = Round(submission_id=submission_id, number=2)
        db.add(following)
        db.flush()
        db.add_all(TrackReview(round_id=following.id, track_code=code) for code in tracks)
        db.flush()
        fees.issue_invoice(db, submission_id)


def test_the_fee_page_lists_the_initial_and_the_supplementary_invoice(
    client: TestClient, web_platform: Platform
) -> None:
    submission_id = accepted_submission(web_platform)  # fire and civil air defence, ¥17,600
    sign_in(client, web_platform, "clerk")
    token = csrf_token(client, f"/submissions/{submission_id}/fee")
    paid = client.post(
        f"/submissions/{submission_id}/fee/bank-transfer",
        data={"csrf_token": token, "reference": "ICBC-1", "amount": "17600"},
    )
    assert paid.status_code == 303
    second_round_with(web_platform, submission_id, ("fire", "construction"))
    with web_platform.sessions() as db:
        initial, supplementary = fees.invoices_of(db, submission_id)
    # 12000 m²: construction 10000 × 2.20 + 2000 × 1.80 = ¥25,600.
    assert supplementary.total_fen == 2_560_000

    zh = client.get(f"/submissions/{submission_id}/fee").text
    assert zh.index(initial.number) < zh.index(supplementary.number)
    assert f'data-number="{initial.number}" data-kind="initial" data-state="paid"' in zh
    assert f'data-number="{supplementary.number}" data-kind="supplementary" data-state="unpaid"' in zh
    assert "补充收费缴费通知" in zh
    assert "¥17,600.00" in zh
    assert "¥25,600.00" in zh
    assert 'data-testid="fee-state" data-state="unpaid"' in zh
    assert zh.count('data-testid="settle"') == 1  # only the unpaid one waits for the clerk
    en = client.get(f"/submissions/{submission_id}/fee", headers={"Accept-Language": "en"}).text
    assert "Supplementary invoice" in en
    assert "补充收费缴费通知" not in en

    # The clerk's transfer names the supplementary invoice; the receipt of each comes by its number.
    wrong = client.post(
        f"/submissions/{submission_id}/fee/bank-transfer",
        data={"csrf_token": token, "reference": "ICBC-2", "amount": "17600", "invoice": supplementary.number},
    )
    assert wrong.status_code == 400
    right = client.post(
        f"/submissions/{submission_id}/fee/bank-transfer",
        data={"csrf_token": token, "reference": "ICBC-2", "amount": "25600", "invoice": supplementary.number},
    )
    assert right.status_code == 303
    api = client.get(f"/api/v1/submissions/{submission_id}/fee").json()
    assert api["state"] == "paid"
    assert [(i["number"], i["kind"], i["state"]) for i in api["invoices"]] == [
        (initial.number, "initial", "paid"),
        (supplementary.number, "supplementary", "paid"),
    ]
    assert api["invoice"]["number"] == initial.number
    for number, amount in ((initial.number, "¥17,600.00"), (supplementary.number, "¥25,600.00")):
        receipt = client.get(f"/submissions/{submission_id}/fee/receipt.pdf", params={"invoice": number})
        assert receipt.status_code == 200
        with pymupdf.open(stream=receipt.content, filetype="pdf") as doc:
            text = doc[0].get_text()
        assert number in text
        assert amount in text
    shown = client.get(f"/submissions/{submission_id}/fee").text
    assert shown.count('data-testid="receipt"') == 2


def test_the_designer_pays_the_supplementary_invoice_through_the_fake_gateway(
    client: TestClient, web_platform: Platform
) -> None:
    submission_id = accepted_submission(web_platform)
    second_round_with(web_platform, submission_id, ("fire", "construction"))
    with web_platform.sessions() as db:
        _, supplementary = fees.invoices_of(db, submission_id)
    sign_in(client, web_platform, "designer")
    page = client.get(f"/submissions/{submission_id}/fee").text
    assert page.count('data-testid="pay"') == 2  # both wait for payment
    token = csrf_token(client, f"/submissions/{submission_id}/fee")
    to_gateway = client.post(
        f"/submissions/{submission_id}/fee/pay", data={"csrf_token": token, "invoice": supplementary.number}
    )
    assert to_gateway.status_code == 303
    gateway = client.get(to_gateway.headers["location"]).text
    assert supplementary.number in gateway
    assert "¥25,600.00" in gateway
    paid = client.post(to_gateway.headers["location"], data={"csrf_token": token, "outcome": "paid"})
    assert paid.headers["location"].endswith("done=paid")
    with web_platform.sessions() as db:
        states = [found.state for found in fees.invoices_of(db, submission_id)]
    assert states == ["unpaid", "paid"]


def test_the_designer_cannot_settle_and_strangers_see_nothing(client: TestClient, web_platform: Platform) -> None:
    submission_id = accepted_submission(web_platform)
    sign_in(client, web_platform, "designer")
    token = csrf_token(client, f"/submissions/{submission_id}/fee")
    refused = client.post(f"/submissions/{submission_id}/fee/defer", data={"csrf_token": token, "reason": "想缓缴"})
    assert refused.status_code == 403
    assert invoice(web_platform, submission_id).state == "unpaid"
    assert client.get(f"/submissions/{submission_id}/fee/receipt.pdf").status_code == 404
    sign_in(client, web_platform, "fire.signer")
    assert client.get(f"/submissions/{submission_id}/fee").status_code == 404


@pytest.mark.browser
def test_screenshots_of_paying(chromium, live_server, screenshots, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(web_settings_env(tmp_path / "live"))
    platform = Platform(settings, _engine=make_engine(settings.effective_database_url))
    try:
        submission_id = accepted_submission(platform)
        with transaction(platform.sessions) as db:
            db.execute(select(Project).where(Project.code == "P-2026-088")).scalar_one().code = "P-2026-087"
        other_id = accepted_submission(platform)
    finally:
        platform.close()

    def signed_in(username: str, locale: str):  # type: ignore[no-untyped-def]
        context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url(f"{live_server}/")
        return context, page

    context, page = signed_in("designer", "zh-CN")
    page.goto(f"{live_server}/submissions/{submission_id}/fee")
    page.screenshot(path=screenshots / "fee-due.png", full_page=True)
    page.get_by_test_id("pay").click()
    page.wait_for_url(re.compile(rf"/fake-gateway/submissions/{submission_id}\?invoice=LT"))
    assert page.get_by_test_id("gateway-amount").inner_text() == "¥17,600.00"
    page.screenshot(path=screenshots / "fee-gateway.png", full_page=True)
    page.get_by_test_id("gateway-pay").click()
    page.wait_for_url(f"{live_server}/submissions/{submission_id}/fee?done=paid")
    assert page.get_by_test_id("fee-state").get_attribute("data-state") == "paid"
    page.screenshot(path=screenshots / "fee-paid.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_test_id("receipt").click()
    assert download.value.suggested_filename.startswith("receipt-LT")
    context.close()

    context, page = signed_in("clerk", "en")
    page.goto(f"{live_server}/submissions/{other_id}/fee")
    page.get_by_test_id("bank-reference").fill("ICBC-20260302-01")
    page.get_by_test_id("bank-amount").fill("17,500.00")
    page.get_by_test_id("bank-confirm").click()
    assert "differs" in page.get_by_test_id("problem").inner_text()
    page.screenshot(path=screenshots / "fee-clerk-en.png", full_page=True)
    context.close()
