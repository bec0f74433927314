"""Sending one outbox mail over SMTP, and what a failure means for it.

* No SMTP server configured (development): the mail is *held* in the outbox page and never sent.
* The server refuses the recipient or the message for good (a 5xx reply): the mail *bounced*; the user
  gets an in-app notice that their address does not work, and nothing is retried.
* The server cannot be reached, times out or answers 4xx: :class:`MailDeferred` is raised and the job is
  retried later; after :data:`MAX_ATTEMPTS` attempts the mail is marked *failed*.

Delivery is at least once: a worker dying between the server's acceptance and the row's update sends the
mail again on redelivery.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum

from sqlalchemy.orm import Session

from app.settings import Settings
from storage.models import OutboxMail

MAX_ATTEMPTS = 5


class MailState(StrEnum):
    QUEUED = "queued"  # 待发送
    HELD = "held"  # 未配置邮件服务器，仅保留在发件箱
    SENT = "sent"  # 已发送
    BOUNCED = "bounced"  # 退信
    FAILED = "failed"  # 多次失败


class MailDeferred(ConnectionError):
    """The server could not take the mail now; try again later."""


class MailBounced(Exception):
    """The server refused the mail for good."""


def build_message(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(idstring=f"liantu-outbox-{mail.id}")
    message.set_content(mail.body or mail.subject)
    return message


def deliver(message: EmailMessage, settings: Settings) -> None:
    """Hand ``message`` to the configured SMTP server; raise :class:`MailBounced` or :class:`MailDeferred`."""
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(code >= 500 for code in codes):
            raise MailBounced(_reply_text(exc.recipients)) from exc
        raise MailDeferred(_reply_text(exc.recipients)) from exc
    except smtplib.SMTPResponseException as exc:
        detail = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            raise MailBounced(detail) from exc
        raise MailDeferred(detail) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailDeferred(f"{type(exc).__name__}: {exc}") from exc


def _decode(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _reply_text(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address}: {code} {_decode(text)}" for address, (code, text) in recipients.items())


def mark(session: Session, mail: OutboxMail, state: MailState, error: str = "") -> None:
    mail.state = state.value
    mail.last_error = error[:2000]
    if state is MailState.SENT:
        mail.sent_at = dt.datetime.now(dt.UTC)
    session.flush()
