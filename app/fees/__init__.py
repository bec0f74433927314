"""Review fees in the platform (审查费): invoices of a submission, payment, bank transfer, deferral.

When the clerk accepts a submission, its invoice (缴费通知) is computed from the project's gross
floor area and the tracks the sheets were routed to, with the fee schedule in use
(:mod:`app.fees.config`), and the designers are told (FEE_DUE). A later round accepted with tracks
no earlier invoice covers gets a supplementary invoice (补充收费) for those tracks, announced the
same way. The review starts only when every invoice is paid — through the payment gateway's signed
callback (:mod:`app.fees.payments`) or by a bank transfer the clerk confirms — or deferred by the
clerk (缓缴) with a reason (:func:`check_review_may_start`, called by
:func:`app.intake_desk.start_review`). Each invoice is paid, deferred and receipted on its own.

Tracks the schedule has no fee for are not charged; a submission none of whose tracks is charged
gets no invoice and needs none. Every change is audited; amounts are integer fen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app import audit, policy
from app.errors import Conflict, Invalid, NotFound
from app.fees.config import load_fee_schedule
from app.identity.principal import Principal
from app.notifications import Message, NotificationKind, notify
from app.policy import Action
from app.settings import Settings, get_settings
from review.deadlines.clock import SHANGHAI
from review.fees import FeeSchedule, compute_invoice, format_invoice_number
from review.fees.invoice import format_yuan
from storage.models import (
    FeeInvoice,
    PaymentEvent,
    Project,
    Role,
    RoleGrant,
    Round,
    Submission,
    TrackReview,
    User,
    utcnow,
)

REASON_LIMIT = 500
REFERENCE_LIMIT = 60


class FeeState(StrEnum):
    """Where an invoice stands (stored in ``FeeInvoice.state``)."""

    UNPAID = "unpaid"  # 待缴费
    PAID = "paid"  # 已缴费
    DEFERRED = "deferred"  # 缓缴
    CANCELLED = "cancelled"  # 已作废


class InvoiceKind(StrEnum):
    """Why an invoice was issued (stored in ``FeeInvoice.kind``)."""

    INITIAL = "initial"  # 缴费通知, at the first acceptance
    SUPPLEMENTARY = "supplementary"  # 补充收费, for tracks a later round added


class PaymentMethod(StrEnum):
    GATEWAY = "gateway"  # 网上支付
    BANK_TRANSFER = "bank_transfer"  # 银行转账


def fee_schedule(settings: Settings | None = None) -> FeeSchedule:
    """The schedule in use (checked when the settings were read)."""
    return load_fee_schedule((settings or get_settings()).fee_schedule_file)


def yuan(fen: int) -> str:
    """An amount for display, ``¥26,222.21``."""
    return format_yuan(fen)


# Who is told ------------------------------------------------------------------------------------


def designers_of(session: Session, submission: Submission) -> list[int]:
    """The designers of the project's institute (设计院), who pay."""
    return sorted(
        session.scalars(
            select(User.id)
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(User.organization_id == submission.project.organization_id, RoleGrant.role == Role.DESIGNER)
        )
    )


def clerks(session: Session) -> list[int]:
    """Every intake clerk (受理窗口), who start the review once the fee is settled."""
    return sorted(set(session.scalars(select(RoleGrant.user_id).where(RoleGrant.role == Role.INTAKE_CLERK))))


def _link(submission_id: int) -> str:
    return f"/submissions/{submission_id}/fee"


# Issuing ------------------------------------------------------------------------------------------


def _current_round(session: Session, submission_id: int, *, lock: bool = False) -> Round | None:
    query = select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc()).limit(1)
    return session.scalars(query.with_for_update() if lock else query).first()


def _routed(session: Session, round_: Round | None) -> list[str]:
    if round_ is None:
        return []
    return list(session.scalars(select(TrackReview.track_code).where(TrackReview.round_id == round_.id)))


def charged_tracks(session: Session, submission_id: int, schedule: FeeSchedule) -> list[str]:
    """The tracks of the current round the schedule has a fee for, in the schedule's order."""
    routed = set(_routed(session, _current_round(session, submission_id)))
    return [code for code in schedule.tracks if code in routed]


def covered_tracks(invoices: Iterable[FeeInvoice]) -> set[str]:
    """The tracks some invoice (not cancelled) already charges."""
    return {str(line["track"]) for invoice in invoices if invoice.state != FeeState.CANCELLED for line in invoice.lines}


def _allocate_number(session: Session, day: dt.date) -> str:
    prefix = f"LT{day:%Y%m%d}-"
    taken = session.scalars(select(FeeInvoice.number).where(FeeInvoice.number.like(prefix + "%")))
    sequence = max((int(number.split("-")[1]) for number in taken), default=0) + 1
    return format_invoice_number(day, sequence)


def invoices_of(session: Session, submission_id: int) -> list[FeeInvoice]:
    """Every invoice of the submission in the order issued: the initial one first, then the supplementary ones."""
    return list(
        session.scalars(select(FeeInvoice).where(FeeInvoice.submission_id == submission_id).order_by(FeeInvoice.id))
    )


def invoice_of(session: Session, submission_id: int, number: str | None = None) -> FeeInvoice | None:
    """One invoice of the submission: the one numbered ``number``; without a number, the first still
    waiting for payment (unpaid, else deferred), else the latest. None when there is no such invoice."""
    invoices = invoices_of(session, submission_id)
    if number is not None:
        return next((invoice for invoice in invoices if invoice.number == number), None)
    for waiting in (FeeState.UNPAID, FeeState.DEFERRED):
        found = next((invoice for invoice in invoices if invoice.state == waiting), None)
        if found is not None:
            return found
    return invoices[-1] if invoices else None


def fee_state(invoices: Iterable[FeeInvoice]) -> FeeState | None:
    """Where the submission's fee stands as a whole: unpaid while any invoice is, else deferred while any
    is, else paid (None without invoices)."""
    states = {FeeState(invoice.state) for invoice in invoices if invoice.state != FeeState.CANCELLED}
    for state in (FeeState.UNPAID, FeeState.DEFERRED, FeeState.PAID):
        if state in states:
            return state
    return None


def issue_invoice(
    session: Session, submission_id: int, *, settings: Settings | None = None, at: dt.datetime | None = None
) -> FeeInvoice | None:
    """Charge the tracks of the current round that no earlier invoice covers, when the round is accepted.

    The first invoice of a submission is the initial one; a later round that brings new charged tracks
    gets a supplementary invoice (补充收费) with its own number and lines for those tracks only. When
    nothing new is charged (or the project's gross floor area is not known yet, which
    :func:`check_review_may_start` reports), nothing is issued and the latest invoice is returned, or
    None when the submission has none.
    """
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    # Issuers of one submission take turns on its current round (PostgreSQL; SQLite has one writer at a
    # time), so that the second reads the invoice the first issued and does not charge the tracks again.
    round_ = _current_round(session, submission_id, lock=True)
    earlier = invoices_of(session, submission_id)
    schedule = fee_schedule(settings)
    covered = covered_tracks(earlier)
    routed = set(_routed(session, round_))
    tracks = [code for code in schedule.tracks if code in routed and code not in covered]
    area = submission.project.gross_floor_area_m2
    if not tracks or not area or area <= 0:
        return earlier[-1] if earlier else None
    supplementary = any(invoice.state != FeeState.CANCELLED for invoice in earlier)
    moment = at or utcnow()
    number = _allocate_number(session, moment.astimezone(SHANGHAI).date())
    computed = compute_invoice(repr(area), tracks, schedule, number=number)
    invoice = FeeInvoice(
        submission_id=submission_id,
        round_id=round_.id if round_ is not None else None,
        kind=(InvoiceKind.SUPPLEMENTARY if supplementary else InvoiceKind.INITIAL).value,
        number=number,
        total_fen=computed.total_fen,
        lines=[
            {
                "track": line.track,
                "name_zh": line.name_zh,
                "name_en": line.name_en,
                "area_m2": str(line.area_m2),
                "computed_fen": line.computed_fen,
                "amount_fen": line.amount_fen,
                "minimum_applied": line.minimum_applied,
                "maximum_applied": line.maximum_applied,
                "example_schedule": computed.example_schedule,
                "schedule_title": schedule.title,
            }
            for line in computed.lines
        ],
        state=FeeState.UNPAID.value,
        created_at=moment,
    )
    session.add(invoice)
    session.flush()
    what_zh, what_en = ("补充收费缴费通知", "supplementary invoice") if supplementary else ("缴费通知", "invoice")
    audit.record(
        session,
        actor_id=None,
        actor_name="system",
        action="fee.invoice",
        object_type="submission",
        object_id=submission_id,
        summary=f"开具审查费{what_zh} {number}，应缴 {yuan(invoice.total_fen)} / {what_en} {number} issued",
    )
    project = submission.project
    names_zh = "、".join(line.name_zh for line in computed.lines)
    names_en = ", ".join(line.name_en for line in computed.lines)
    notify(
        session,
        designers_of(session, submission),
        Message(
            kind=NotificationKind.FEE_DUE,
            subject_zh=f"{project.name}：请缴纳{'补充' if supplementary else ''}审查费 {yuan(invoice.total_fen)}",
            subject_en=f"{project.name}: {'supplementary ' if supplementary else ''}review fee of"
            f" {yuan(invoice.total_fen)} due",
            body_zh=(
                f"本轮新增审查专业（{names_zh}），补充收费缴费通知 {number} 已开具。"
                if supplementary
                else f"缴费通知 {number} 已开具。"
            )
            + "缴费（或经受理窗口办理缓缴）后方可开始审查。",
            body_en=(
                f"This round adds review tracks ({names_en}): supplementary invoice {number} has been issued."
                if supplementary
                else f"Invoice {number} has been issued."
            )
            + " The review starts once it is paid (or deferred by the clerk).",
            link=_link(submission_id),
            submission_id=submission_id,
        ),
        dedupe_key=f"fee-due:{invoice.id}",
    )
    return invoice


def check_review_may_start(session: Session, submission_id: int, *, settings: Settings | None = None) -> None:
    """Refuse (``Conflict``) to start the review while a fee is due and neither paid nor deferred.

    Every invoice of the submission counts, the supplementary ones too; a charged track of the
    current round that no invoice covers (the floor area is missing) holds the review as well.
    """
    issue_invoice(session, submission_id, settings=settings)
    invoices = invoices_of(session, submission_id)
    submission = session.get(Submission, submission_id)
    if submission is not None:
        covered = covered_tracks(invoices)
        uncovered = [
            code for code in charged_tracks(session, submission_id, fee_schedule(settings)) if code not in covered
        ]
        area = submission.project.gross_floor_area_m2
        if uncovered and (not area or area <= 0):
            raise Conflict(
                "项目总建筑面积未填写，无法计算审查费，暂不能开始审查",
                "the project's gross floor area is not known, so the review fee cannot be computed;"
                " the review cannot start yet",
            )
    due = [invoice for invoice in invoices if invoice.state == FeeState.UNPAID]
    if not due:
        return
    numbers = "、".join(invoice.number for invoice in due)
    total = yuan(sum(invoice.total_fen for invoice in due))
    raise Conflict(
        f"审查费尚未缴纳（缴费通知 {numbers}，应缴 {total}）；缴费或由受理窗口办理缓缴后方可开始审查",
        f"the review fee is not paid (invoice {', '.join(invoice.number for invoice in due)}, {total} due);"
        " the review starts once it is paid or the clerk defers it",
    )


# Settling ------------------------------------------------------------------------------------------


def mark_paid(
    session: Session,
    invoice: FeeInvoice,
    *,
    method: PaymentMethod,
    transaction_id: str,
    amount_fen: int,
    at: dt.datetime,
    confirmed_by: Principal | None = None,
) -> None:
    """Record the payment on the invoice (its version guards against two payments at once), tell the parties."""
    invoice.state = FeeState.PAID.value
    invoice.paid_at = at
    invoice.paid_fen = amount_fen
    invoice.payment_method = method.value
    invoice.transaction_id = transaction_id
    invoice.confirmed_by_id = confirmed_by.user_id if confirmed_by else None
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("缴费记录已被他人更新，请刷新后重试", "the invoice changed meanwhile; reload and retry") from exc
    submission = session.get_one(Submission, invoice.submission_id)
    how_zh = "网上支付" if method is PaymentMethod.GATEWAY else "银行转账"
    audit.record(
        session,
        actor_id=confirmed_by.user_id if confirmed_by else None,
        actor_name=confirmed_by.username if confirmed_by else "payment-gateway",
        action="fee.paid",
        object_type="submission",
        object_id=invoice.submission_id,
        summary=f"审查费 {invoice.number} 已缴 {yuan(amount_fen)}（{how_zh}，流水号 {transaction_id}）"
        f" / fee paid by {method.value}",
    )
    project = submission.project
    notify(
        session,
        [*designers_of(session, submission), *clerks(session)],
        Message(
            kind=NotificationKind.FEE_PAID,
            subject_zh=f"{project.name}：审查费已缴纳",
            subject_en=f"{project.name}: review fee paid",
            body_zh=f"缴费通知 {invoice.number} 已缴 {yuan(amount_fen)}（{how_zh}）。可下载缴费凭证。",
            body_en=f"Invoice {invoice.number}: {yuan(amount_fen)} paid ({method.value}). The receipt is ready.",
            link=_link(invoice.submission_id),
            submission_id=invoice.submission_id,
        ),
        dedupe_key=f"fee-paid:{invoice.id}",
    )


def _clerk_invoice(session: Session, actor: Principal, submission_id: int, number: str | None) -> FeeInvoice:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(actor, Action.INTAKE, submission=submission)
    invoice = invoice_of(session, submission_id, number or None)
    if invoice is None:
        raise NotFound("该报审没有该审查费缴费通知", "this submission has no such review fee invoice")
    return invoice


def parse_yuan(text: str) -> int:
    """``"26222.21"`` (or ``"¥26,222.21"``) in fen; anything else, non-positive or finer than a fen, is ``Invalid``."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise Invalid(f"金额格式错误：{text}", f"not an amount: {text}") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise Invalid(
            f"金额须为正数，最多两位小数：{text}", f"the amount must be positive, with at most two decimals: {text}"
        )
    return int(amount * 100)


def confirm_bank_transfer(
    session: Session,
    actor: Principal,
    submission_id: int,
    *,
    reference: str,
    amount: str,
    number: str | None = None,
) -> FeeInvoice:
    """The clerk confirms a bank transfer (银行转账) of an invoice's whole amount, with the bank's reference.

    ``number`` names the invoice; without it, the first one waiting for payment.
    """
    invoice = _clerk_invoice(session, actor, submission_id, number)
    ref = " ".join(reference.split())
    if not ref or len(ref) > REFERENCE_LIMIT:
        raise Invalid(
            f"请填写银行流水号（不超过 {REFERENCE_LIMIT} 个字符）",
            f"enter the bank's transaction reference (at most {REFERENCE_LIMIT} characters)",
        )
    fen = parse_yuan(amount)
    if FeeState(invoice.state) is FeeState.PAID:
        raise Conflict(f"缴费通知 {invoice.number} 已缴费", f"invoice {invoice.number} is already paid")
    if fen != invoice.total_fen:
        raise Invalid(
            f"到账金额 {yuan(fen)} 与应缴 {yuan(invoice.total_fen)} 不符",
            f"the amount received, {yuan(fen)}, differs from the {yuan(invoice.total_fen)} due",
        )
    transaction_id = f"BANK-{ref}"[:80]
    if session.scalar(select(FeeInvoice.id).where(FeeInvoice.transaction_id == transaction_id)) is not None:
        raise Conflict(
            f"银行流水号 {ref} 已用于另一笔缴费", f"bank reference {ref} was already used for another payment"
        )
    now = utcnow()
    session.add(
        PaymentEvent(
            invoice_id=invoice.id,
            source=PaymentMethod.BANK_TRANSFER.value,
            transaction_id=transaction_id,
            amount_fen=fen,
            decision="mark_paid",
            detail={"reference": ref, "confirmed_by": actor.username},
            at=now,
        )
    )
    mark_paid(
        session,
        invoice,
        method=PaymentMethod.BANK_TRANSFER,
        transaction_id=transaction_id,
        amount_fen=fen,
        at=now,
        confirmed_by=actor,
    )
    return invoice


def defer_fee(
    session: Session, actor: Principal, submission_id: int, *, reason: str, number: str | None = None
) -> FeeInvoice:
    """The clerk defers an invoice (缓缴) with a reason; once none is unpaid the review may start. Audited.

    ``number`` names the invoice; without it, the first one waiting for payment.
    """
    invoice = _clerk_invoice(session, actor, submission_id, number)
    text = " ".join(reason.split())
    if not text:
        raise Invalid("请填写缓缴理由", "enter the reason for deferring the fee")
    if len(text) > REASON_LIMIT:
        raise Invalid(f"缓缴理由不能超过 {REASON_LIMIT} 个字符", f"the reason is longer than {REASON_LIMIT} characters")
    if FeeState(invoice.state) is not FeeState.UNPAID:
        raise Conflict(
            f"缴费通知 {invoice.number} 当前不是待缴费状态", f"invoice {invoice.number} is not waiting for payment"
        )
    invoice.state = FeeState.DEFERRED.value
    invoice.deferred_reason = text
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("缴费记录已被他人更新，请刷新后重试", "the invoice changed meanwhile; reload and retry") from exc
    audit.record(
        session,
        actor_id=actor.user_id,
        actor_name=actor.username,
        action="fee.deferred",
        object_type="submission",
        object_id=submission_id,
        summary=f"审查费 {invoice.number} 缓缴，理由：{text} / fee deferred",
    )
    return invoice


# Reading -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeView:
    """What the fee page shows."""

    submission: Submission
    project: Project
    invoices: tuple[FeeInvoice, ...]
    """Every invoice of the submission, the initial one first."""
    events: tuple[PaymentEvent, ...]
    """Payment callbacks and confirmations of all its invoices, newest first (for the clerk)."""
    designer: bool
    """The actor is a designer of the project, who pays."""
    can_settle: bool
    """The actor is an intake clerk: may confirm a bank transfer or defer."""

    @property
    def state(self) -> FeeState | None:
        return fee_state(self.invoices)

    @property
    def can_pay(self) -> bool:
        """Some invoice waits for the designer's payment."""
        return any(self.payable(invoice) for invoice in self.invoices)

    def payable(self, invoice: FeeInvoice) -> bool:
        return self.designer and invoice.state in (FeeState.UNPAID, FeeState.DEFERRED)

    def invoice_number(self, event: PaymentEvent) -> str:
        """The number of the invoice a payment event concerns (blank for a callback naming none of them)."""
        return next((invoice.number for invoice in self.invoices if invoice.id == event.invoice_id), "")

    def example_schedule(self, invoice: FeeInvoice) -> bool:
        return bool(invoice.lines and invoice.lines[0].get("example_schedule"))


def fee_view(session: Session, actor: Principal, submission_id: int) -> FeeView:
    """The fees of a submission the actor may see (else ``NotFound``)."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(actor, Action.VIEW_SUBMISSION, submission=submission)
    invoices = invoices_of(session, submission_id)
    clerk = policy.can(actor, Action.INTAKE, submission=submission)
    designer = policy.can(actor, Action.SUBMIT, submission=submission)  # the project's own designers
    events: Iterable[PaymentEvent] = ()
    if invoices and clerk:
        events = session.scalars(
            select(PaymentEvent)
            .where(PaymentEvent.invoice_id.in_([invoice.id for invoice in invoices]))
            .order_by(PaymentEvent.id.desc())
        )
    return FeeView(
        submission=submission,
        project=submission.project,
        invoices=tuple(invoices),
        events=tuple(events),
        designer=designer,
        can_settle=clerk,
    )
