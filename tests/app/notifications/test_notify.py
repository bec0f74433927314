"""notify(): inbox rows, outbox rows for users with an address, once per dedupe key, never for the gone."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.notifications import Message, NotificationKind, notify
from storage.models import Notification, Organization, OrgKind, OutboxMail, TaskRun, User

MESSAGE = Message(
    kind=NotificationKind.COMMENTS_ISSUED,
    subject_zh="消防专项审查意见已发出",
    subject_en="Fire review comments issued",
    body_zh="共 3 条意见，请答复。",
    body_en="3 comments await your answers.",
    link="/submissions/1",
)


def _user(session: Session, name: str, *, email: str | None = None, locale: str | None = None) -> User:
    org = session.scalar(select(Organization).where(Organization.name == "通知测试设计院"))
    if org is None:
        org = Organization(name="通知测试设计院", kind=OrgKind.DESIGN_INSTITUTE)
        session.add(org)
        session.flush()
    user = User(organization_id=org.id, username=name, display_name=name, password_hash="x", email=email, locale=locale)
    session.add(user)
    session.flush()
    return user


def test_inbox_and_outbox(session: Session) -> None:
    with_mail = _user(session, "n-mail", email="designer@example.cn", locale="en")
    without = _user(session, "n-nomail")
    written = notify(session, [with_mail.id, without.id, with_mail.id], MESSAGE)
    assert sorted(n.user_id for n in written) == sorted([with_mail.id, without.id])
    mails = session.scalars(select(OutboxMail)).all()
    assert [m.to_address for m in mails] == ["designer@example.cn"]
    # English first for a user who chose English, Chinese beside it.
    assert mails[0].subject == "[联图 Liantu] Fire review comments issued / 消防专项审查意见已发出"
    assert mails[0].body.startswith("3 comments await your answers.")
    assert mails[0].body.endswith("/submissions/1")
    runs = session.scalars(select(TaskRun).where(TaskRun.object_type == "outbox_mail")).all()
    assert [r.object_id for r in runs] == [str(mails[0].id)]


def test_dedupe_key_sends_once_per_user(session: Session) -> None:
    first = _user(session, "n-first")
    second = _user(session, "n-second")
    assert len(notify(session, [first.id], MESSAGE, dedupe_key="due:7:fire:2026-11-27")) == 1
    again = notify(session, [first.id, second.id], MESSAGE, dedupe_key="due:7:fire:2026-11-27")
    assert [n.user_id for n in again] == [second.id]
    count = session.scalar(select(func.count()).select_from(Notification).where(Notification.user_id == first.id))
    assert count == 1


def test_deleted_and_inactive_users_get_nothing(session: Session) -> None:
    gone = _user(session, "n-gone", email="gone@example.cn")
    gone.deleted_at = dt.datetime.now(dt.UTC)
    idle = _user(session, "n-idle")
    idle.is_active = False
    session.flush()
    assert notify(session, [gone.id, idle.id], MESSAGE) == []
    assert session.scalar(select(func.count()).select_from(OutboxMail)) == 0


def test_links_stay_inside_liantu(session: Session) -> None:
    user = _user(session, "n-link")
    outside = Message(kind=NotificationKind.PERMIT_ISSUED, subject_zh="许可", subject_en="permit", link="https://evil")
    with pytest.raises(ValueError, match="inside Liantu"):
        notify(session, [user.id], outside)
