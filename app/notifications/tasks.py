"""The job that sends one outbox mail (see :mod:`app.notifications.mail` for what each outcome means)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.notifications import SEND_MAIL, Message, NotificationKind, notify
from app.notifications.mail import MAX_ATTEMPTS, MailBounced, MailDeferred, MailState, build_message, deliver, mark
from app.tasks.runs import JobRun, RetryPolicy, job
from storage.models import Notification, OutboxMail

MAIL_RETRY = RetryPolicy(max_retries=MAX_ATTEMPTS - 1, backoff_seconds=30.0, transient=(MailDeferred,))


@job(SEND_MAIL, retry=MAIL_RETRY)
def send_mail_job(run: JobRun, outbox_mail_id: int) -> str:
    """发送通知邮件 / Send one notification mail from the outbox."""
    settings = run.platform.settings
    with run.transaction() as session:
        mail = session.get(OutboxMail, outbox_mail_id)
        if mail is None or mail.state not in (MailState.QUEUED, MailState.HELD):
            return "无需发送 / nothing to send"
        if not settings.smtp_host:
            mark(session, mail, MailState.HELD, "未配置邮件服务器 / no SMTP server configured")
            run.complete(session, "已保留在发件箱 / kept in the outbox")
            return "held"
        mail.attempts += 1
        message = build_message(mail, settings.smtp_sender)
    try:
        deliver(message, settings)
    except MailBounced as exc:
        with run.transaction() as session:
            mail = session.get(OutboxMail, outbox_mail_id)
            assert mail is not None
            mark(session, mail, MailState.BOUNCED, str(exc))
            _tell_about_bounce(session, mail, str(exc))
            run.complete(session, f"退信 / bounced: {exc}")
        return "bounced"
    except MailDeferred as exc:
        with run.transaction() as session:
            mail = session.get(OutboxMail, outbox_mail_id)
            assert mail is not None
            final = mail.attempts >= MAX_ATTEMPTS
            mark(session, mail, MailState.FAILED if final else MailState.QUEUED, str(exc))
            if final:
                run.complete(session, f"多次发送失败 / gave up: {exc}")
                return "failed"
        raise
    with run.transaction() as session:
        mail = session.get(OutboxMail, outbox_mail_id)
        assert mail is not None
        mark(session, mail, MailState.SENT)
        run.complete(session, "已发送 / sent")
    return "sent"


def _tell_about_bounce(session: Session, mail: OutboxMail, detail: str) -> None:
    user_id = session.scalar(select(Notification.user_id).where(Notification.id == mail.notification_id))
    if user_id is None:
        return
    notify(
        session,
        [user_id],
        Message(
            kind=NotificationKind.MAIL_BOUNCED,
            subject_zh=f"邮件无法送达 {mail.to_address}",
            subject_en=f"Mail to {mail.to_address} bounced",
            body_zh=f"邮件服务器拒收：{detail}。请在个人资料中更正邮箱地址；站内消息不受影响。",
            body_en=(
                f"The mail server refused it: {detail}. Correct your e-mail address; in-app messages are unaffected."
            ),
            link="/inbox",
        ),
        dedupe_key=f"bounce:{mail.id}",
    )
