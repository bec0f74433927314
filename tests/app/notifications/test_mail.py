"""Notification mails through a real worker and a fake SMTP server: sent, bounced, held, deferred."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from app.notifications import Message, NotificationKind, notify
from app.notifications.mail import MailBounced, MailDeferred, build_message, deliver
from app.settings import load_settings
from storage.db import transaction
from storage.models import Notification, Organization, OrgKind, OutboxMail, User
from tests.support.smtp import SmtpServer
from tests.support.workers import WorkerEnvironment, wait_for

MESSAGE = Message(
    kind=NotificationKind.SUBMISSION_ACCEPTED,
    subject_zh="报审已受理：滨江学校",
    subject_en="Submission accepted: Binjiang School",
    body_zh="审查编号 LT-2026-0001。",
    body_en="Review number LT-2026-0001.",
    link="/submissions/1",
)


def _notify(environment: WorkerEnvironment, address: str) -> int:
    with transaction(environment.sessions) as session:
        org = Organization(name=f"邮件测试院 {address}", kind=OrgKind.DESIGN_INSTITUTE)
        session.add(org)
        session.flush()
        user = User(organization_id=org.id, username=address, display_name="张工", password_hash="x", email=address)
        session.add(user)
        session.flush()
        notify(session, [user.id], MESSAGE)
        return session.scalars(select(OutboxMail.id).where(OutboxMail.to_address == address)).one()


def _state(environment: WorkerEnvironment, mail_id: int, *states: str) -> OutboxMail | None:
    with environment.sessions() as session:
        mail = session.get(OutboxMail, mail_id)
        return mail if mail is not None and mail.state in states else None


def _use_smtp(environment: WorkerEnvironment, server: SmtpServer) -> None:
    environment.environ.update(
        LIANTU_SMTP_HOST=server.host, LIANTU_SMTP_PORT=str(server.port), LIANTU_SMTP_STARTTLS="false"
    )


def test_mail_is_sent_with_both_languages(worker_environment: WorkerEnvironment, smtp_server: SmtpServer) -> None:
    _use_smtp(worker_environment, smtp_server)
    mail_id = _notify(worker_environment, "zhang@example.cn")
    worker_environment.start_worker()
    mail = wait_for(lambda: _state(worker_environment, mail_id, "sent", "failed", "bounced"), what="the mail")
    assert mail.state == "sent", mail.last_error
    assert mail.sent_at is not None
    [received] = smtp_server.received
    assert received["To"] == "zhang@example.cn"
    assert received["Subject"] == "[联图 Liantu] 报审已受理：滨江学校 / Submission accepted: Binjiang School"
    body = received.get_content()
    assert "审查编号 LT-2026-0001。" in body
    assert "Review number LT-2026-0001." in body


def test_bounce_is_kept_and_told_in_the_inbox(worker_environment: WorkerEnvironment, smtp_server: SmtpServer) -> None:
    smtp_server.bounce.add("nobody@example.cn")
    _use_smtp(worker_environment, smtp_server)
    mail_id = _notify(worker_environment, "nobody@example.cn")
    worker_environment.start_worker()
    mail = wait_for(lambda: _state(worker_environment, mail_id, "sent", "failed", "bounced"), what="the bounce")
    assert mail.state == "bounced"
    assert "550" in mail.last_error
    assert smtp_server.received == []
    with worker_environment.sessions() as session:
        kinds = session.scalars(select(Notification.kind).order_by(Notification.id)).all()
    # The original message is still in the inbox, and the bounce is told there (never mailed again).
    assert kinds == ["submission_accepted", "mail_bounced"]
    with worker_environment.sessions() as session:
        assert session.scalar(select(OutboxMail.id).where(OutboxMail.id != mail_id)) is None


def test_without_smtp_server_mail_is_held(worker_environment: WorkerEnvironment) -> None:
    mail_id = _notify(worker_environment, "held@example.cn")
    worker_environment.start_worker()
    mail = wait_for(lambda: _state(worker_environment, mail_id, "held", "sent", "failed"), what="the held mail")
    assert mail.state == "held"
    assert mail.sent_at is None


def test_busy_or_unreachable_server_defers(smtp_server: SmtpServer) -> None:
    smtp_server.busy = True
    mail = OutboxMail(id=1, to_address="a@example.cn", subject="主题 subject", body="正文")
    settings = load_settings(
        {"LIANTU_SMTP_HOST": smtp_server.host, "LIANTU_SMTP_PORT": str(smtp_server.port), "LIANTU_SMTP_STARTTLS": "0"}
    )
    with pytest.raises(MailDeferred, match="421"):
        deliver(build_message(mail, settings.smtp_sender), settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = load_settings({"LIANTU_SMTP_HOST": "127.0.0.1", "LIANTU_SMTP_PORT": str(closed_port)})
    with pytest.raises(MailDeferred, match="ConnectionRefused"):
        deliver(build_message(mail, settings.smtp_sender), settings)
    smtp_server.busy = False
    smtp_server.bounce.add("a@example.cn")
    settings = load_settings(
        {"LIANTU_SMTP_HOST": smtp_server.host, "LIANTU_SMTP_PORT": str(smtp_server.port), "LIANTU_SMTP_STARTTLS": "0"}
    )
    with pytest.raises(MailBounced, match="550"):
        deliver(build_message(mail, settings.smtp_sender), settings)
