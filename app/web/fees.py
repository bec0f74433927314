"""Fee pages (审查费): the invoice of a submission, paying it, the clerk's bank transfer and deferral, the receipt.

``POST /api/v1/payments/callback`` is the payment gateway's callback: it carries no session and no
CSRF token, only its HMAC signature (:mod:`app.fees.payments` verifies it). In development a fake
gateway page stands in for the bank: it signs the callback as the bank would and hands it to the
same function the callback endpoint calls. In production that page does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app import fees
from app.errors import Conflict, LiantuError, NotFound
from app.fees.payments import fake_callback, fake_order, receive_callback
from app.fees.receipt import receipt_pdf
from app.identity.principal import Principal
from app.projects import load_submission
from app.settings import Mode
from app.web.auth import principal
from app.web.rendering import form_action, platform_of, render
from review.fees.callbacks import MAX_BODY
from storage.db import transaction
from storage.models import FeeInvoice

DONE = frozenset({"paid", "payment_failed", "bank_transfer", "deferred"})


def _page(
    request: Request,
    who: Principal,
    submission_id: int,
    *,
    status: int = 200,
    problem: LiantuError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    with platform_of(request).sessions() as db:
        view = fees.fee_view(db, who, submission_id)
        done = request.query_params.get("done", "")
        return render(
            request,
            "fees/fee.html",
            status_code=status,
            view=view,
            submission=view.submission,
            project=view.project,
            yuan=fees.yuan,
            done=done if done in DONE and problem is None else "",
            problem=problem,
            typed=typed or {},
            fake_gateway=platform_of(request).settings.mode is Mode.DEVELOPMENT,
        )


def fee_page(request: Request) -> Response:
    return _page(request, principal(request), request.path_params["submission_id"])


async def _act(request: Request, work: Callable[[Any], str], typed: dict[str, str]) -> Response:
    """Run a form's use case; on refusal the page comes back with what was typed and the problem."""
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]

    def again(req: Request, *, status: int, problem: LiantuError) -> Response:
        return _page(req, who, submission_id, status=status, problem=problem, typed=typed)

    return await form_action(request, work, again, f"/submissions/{submission_id}/fee")


async def bank_transfer(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        reference = str(form.get("reference", ""))
        amount = str(form.get("amount", ""))
        number = str(form.get("invoice", ""))

    def work(db: Any) -> str:
        fees.confirm_bank_transfer(db, who, submission_id, reference=reference, amount=amount, number=number or None)
        return "bank_transfer"

    return await _act(request, work, {"reference": reference, "amount": amount, "invoice": number})


async def defer(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        reason = str(form.get("reason", ""))
        number = str(form.get("invoice", ""))

    def work(db: Any) -> str:
        fees.defer_fee(db, who, submission_id, reason=reason, number=number or None)
        return "deferred"

    return await _act(request, work, {"reason": reason, "invoice": number})


def _payer_check(request: Request, number: str | None) -> tuple[Principal, int, str]:
    """The designer who may pay invoice ``number`` (else the first waiting one) of this submission, in
    development (the fake gateway); with the number of that invoice."""
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    if platform_of(request).settings.mode is not Mode.DEVELOPMENT:
        raise NotFound("未接入网上支付", "online payment is not set up")
    with platform_of(request).sessions() as db:
        view = fees.fee_view(db, who, submission_id)
        chosen = fees.invoice_of(db, submission_id, number or None)
        if chosen is None or not view.payable(chosen):
            raise Conflict("该审查费当前无需由您缴纳", "this fee does not wait for your payment")
        return who, submission_id, chosen.number


def _gateway_url(submission_id: int, number: str) -> str:
    return f"/fake-gateway/submissions/{submission_id}?{urlencode({'invoice': number})}"


async def pay(request: Request) -> Response:
    async with request.form() as form:
        number = str(form.get("invoice", ""))
    _, submission_id, chosen = await run_in_threadpool(_payer_check, request, number)
    return RedirectResponse(_gateway_url(submission_id, chosen), status_code=303)


def gateway_page(request: Request) -> Response:
    who, submission_id, number = _payer_check(request, request.query_params.get("invoice"))
    platform = platform_of(request)
    with platform.sessions() as db:
        load_submission(db, who, submission_id)
        order = fake_order(db, submission_id, platform.settings, number)
    return render(
        request,
        "fees/gateway.html",
        order=order,
        submission_id=submission_id,
        action=_gateway_url(submission_id, number),
        yuan=fees.yuan,
    )


async def gateway_confirm(request: Request) -> Response:
    _, submission_id, number = await run_in_threadpool(_payer_check, request, request.query_params.get("invoice"))
    async with request.form() as form:
        paid = form.get("outcome") == "paid"
    platform = platform_of(request)

    def send() -> str:
        with platform.sessions() as db:
            order = fake_order(db, submission_id, platform.settings, number)
        signed = fake_callback(order, platform.settings, paid=paid, at=dt.datetime.now(dt.UTC))
        outcome = receive_callback(platform.sessions, platform.settings, signed.headers, signed.body)
        return "paid" if outcome.decision.value in ("mark_paid", "already_paid") else "payment_failed"

    done = await run_in_threadpool(send)
    return RedirectResponse(f"/submissions/{submission_id}/fee?done={done}", status_code=303)


def receipt(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    platform = platform_of(request)
    number = request.query_params.get("invoice") or None
    with transaction(platform.sessions) as db:
        name, data = receipt_pdf(db, platform.store, who, submission_id, number)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def payment_callback(request: Request) -> Response:
    """支付结果通知 / The payment gateway's signed callback.

    Headers ``X-Liantu-Timestamp``, ``X-Liantu-Nonce`` and ``X-Liantu-Signature`` (HMAC-SHA256 of
    ``timestamp\\nnonce\\nbody`` with the shared key). Answers ``{"result": decision}``: mark_paid,
    already_paid (a retry: nothing changes), double_payment (recorded for a refund) or
    payment_failed. A forged (403), late or malformed (400), replayed (409) callback, or one for an
    unknown invoice (404) changes nothing; every callback is recorded.
    """
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            break  # refused (and recorded) as too large by the verification
    platform = platform_of(request)
    headers = dict(request.headers)
    outcome = await run_in_threadpool(receive_callback, platform.sessions, platform.settings, headers, body)
    return JSONResponse({"result": outcome.decision.value, "invoice_number": outcome.invoice_number})


def _invoice_json(view: fees.FeeView, found: FeeInvoice) -> dict[str, Any]:
    return {
        "number": found.number,
        "kind": found.kind,
        "round_id": found.round_id,
        "state": found.state,
        "total_fen": found.total_fen,
        "lines": [
            {"track": line["track"], "name_zh": line["name_zh"], "amount_fen": line["amount_fen"]}
            for line in found.lines
        ],
        "example_schedule": view.example_schedule(found),
        "paid_fen": found.paid_fen,
        "paid_at": found.paid_at.isoformat() if found.paid_at else None,
        "payment_method": found.payment_method,
        "transaction_id": found.transaction_id,
        "deferred_reason": found.deferred_reason,
    }


def api_fee(request: Request) -> Response:
    """审查费 / The review fee of a submission.

    ``invoices``: every invoice, the initial one first, then the supplementary ones (补充收费) issued
    when a later round added charged tracks — number, kind (initial/supplementary), state
    (unpaid/paid/deferred), amounts in fen, one line per track, and how and when it was paid.
    ``state`` sums them up: unpaid while any invoice is, else deferred while any is, else paid; null
    without invoices. ``invoice`` is the initial invoice (null when no fee is due yet), as before
    supplementary invoices existed. 404 for a submission the user may not see.
    """
    who = principal(request)
    with platform_of(request).sessions() as db:
        view = fees.fee_view(db, who, request.path_params["submission_id"])
        invoices = [_invoice_json(view, found) for found in view.invoices]
        return JSONResponse(
            {
                "submission_id": view.submission.id,
                "state": view.state.value if view.state is not None else None,
                "invoices": invoices,
                "invoice": invoices[0] if invoices else None,
            }
        )


routes: list[BaseRoute] = [
    Route("/submissions/{submission_id:int}/fee", fee_page, methods=["GET"], name="fee"),
    Route("/submissions/{submission_id:int}/fee/pay", pay, methods=["POST"], name="fee_pay"),
    Route("/submissions/{submission_id:int}/fee/bank-transfer", bank_transfer, methods=["POST"], name="fee_bank"),
    Route("/submissions/{submission_id:int}/fee/defer", defer, methods=["POST"], name="fee_defer"),
    Route("/submissions/{submission_id:int}/fee/receipt.pdf", receipt, methods=["GET"], name="fee_receipt"),
    Route("/fake-gateway/submissions/{submission_id:int}", gateway_page, methods=["GET"], name="fake_gateway"),
    Route("/fake-gateway/submissions/{submission_id:int}", gateway_confirm, methods=["POST"]),
]

api_routes: list[BaseRoute] = [
    Route("/payments/callback", payment_callback, methods=["POST"], name="api_payment_callback"),
    Route("/submissions/{submission_id:int}/fee", api_fee, methods=["GET"], name="api_fee"),
]
