"""Notifications (消息通知): what waits on whom, in the in-app inbox and by e-mail.

Every part of Liantu that changes what a person must do calls :func:`notify` in the same transaction as
the change, so that a message exists exactly when the change does. A message with a ``dedupe_key`` is
written at most once (reminders sent by a periodic job, retried jobs); a second call returns ``None``.

A user with an e-mail address also gets an :class:`~storage.models.OutboxMail` row, and a job that sends it
is queued for after the commit (:mod:`app.notifications.tasks`); a bounce or failure is kept on that row and
never loses the inbox message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.tasks.dispatch import enqueue
from storage.models import Notification, OutboxMail, User

SEND_MAIL = "notification.send_mail"


class NotificationKind(StrEnum):
    """Why a message was sent; the inbox groups and the outbox subjects follow these."""

    SUBMISSION_RETURNED = "submission_returned"  # 退回补正
    SUBMISSION_ACCEPTED = "submission_accepted"  # 已受理
    COMMENTS_ISSUED = "comments_issued"  # 审查意见已发出
    ANSWERS_RECEIVED = "answers_received"  # 设计答复已收到
    DEADLINE_NEAR = "deadline_near"  # 即将到期
    DEADLINE_PASSED = "deadline_passed"  # 已超期
    RESULT_READY_TO_SIGN = "result_ready_to_sign"  # 合格书待签章
    PERMIT_ISSUED = "permit_issued"  # 施工许可证已核发
    FEE_DUE = "fee_due"  # 待缴审查费
    FEE_PAID = "fee_paid"  # 审查费已缴
    MAIL_BOUNCED = "mail_bounced"  # 邮件退信


@dataclass(frozen=True)
class Message:
    """What to tell, in both languages."""

    kind: NotificationKind
    subject_zh: str
    subject_en: str
    body_zh: str = ""
    body_en: str = ""
    link: str = ""
    """A path inside Liantu (``/projects/3/submissions/7``), never an outside address."""
    submission_id: int | None = None


def notify(
    session: Session, users: Iterable[int], message: Message, *, dedupe_key: str | None = None
) -> list[Notification]:
    """Put ``message`` in each user's inbox (and outbox, if they have an e-mail address).

    ``dedupe_key`` is suffixed with the user id; a user who already has that key gets nothing new.
    Deleted and inactive users are skipped. Returns the notifications written.
    """
    if message.link and not message.link.startswith("/"):
        raise ValueError("a notification links inside Liantu only")
    written: list[Notification] = []
    ids = sorted(set(users))
    if not ids:
        return written
    people = session.scalars(
        select(User).where(User.id.in_(ids), User.deleted_at.is_(None), User.is_active.is_(True))
    ).all()
    for user in sorted(people, key=lambda u: u.id):
        key = f"{dedupe_key}:{user.id}" if dedupe_key else None
        if key and session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
            continue
        note = Notification(
            user_id=user.id,
            kind=message.kind.value,
            subject_zh=message.subject_zh[:200],
            subject_en=message.subject_en[:200],
            body_zh=message.body_zh,
            body_en=message.body_en,
            link=message.link,
            submission_id=message.submission_id,
            dedupe_key=key,
        )
        session.add(note)
        session.flush()
        if user.email and message.kind is not NotificationKind.MAIL_BOUNCED:
            mail = OutboxMail(
                notification_id=note.id,
                to_address=user.email,
                subject=_mail_subject(message, user.locale),
                body=_mail_body(message, user.locale),
            )
            session.add(mail)
            session.flush()
            enqueue(session, SEND_MAIL, object_type="outbox_mail", object_id=mail.id, outbox_mail_id=mail.id)
        written.append(note)
    session.flush()
    return written


def _mail_subject(message: Message, locale: str | None) -> str:
    first, second = (
        (message.subject_en, message.subject_zh) if locale == "en" else (message.subject_zh, message.subject_en)
    )
    return f"[联图 Liantu] {first} / {second}"[:300]


def _mail_body(message: Message, locale: str | None) -> str:
    parts = [message.body_en, message.body_zh] if locale == "en" else [message.body_zh, message.body_en]
    text = "\n\n".join(part for part in parts if part)
    if message.link:
        text += f"\n\n{message.link}"
    return text.strip()


def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's messages are not read yet (the badge in the top bar)."""
    query = select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    return int(session.scalar(query) or 0)


def inbox(session: Session, user_id: int, *, unread_only: bool = False, limit: int = 100) -> list[Notification]:
    """The user's messages, newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> int:
    """Mark one message (or all when ``notification_id`` is None) read; returns how many changed.

    Another user's message is not found rather than refused, so that ids reveal nothing.
    """
    query = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    result = session.execute(query.values(read_at=dt.datetime.now(dt.UTC)).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
