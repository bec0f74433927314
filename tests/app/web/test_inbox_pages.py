"""The inbox page, the unread badge, opening a message, and the administrators' outbox."""

from __future__ import annotations

from sqlalchemy import select

from app.notifications import Message, NotificationKind, notify
from storage.db import transaction
from storage.models import Notification, User
from tests.support.web import csrf_token, sign_in


def _send(platform, username: str, subject: str, link: str = "/") -> int:
    with transaction(platform.sessions) as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
        [note] = notify(
            db,
            [user_id],
            Message(
                kind=NotificationKind.COMMENTS_ISSUED,
                subject_zh=subject,
                subject_en="Comments issued <script>alert(1)</script>",
                body_zh="请答复 <b>全部</b> 意见",
                link=link,
            ),
        )
        return note.id


def test_badge_inbox_and_open(client, web_platform):
    sign_in(client, web_platform, "designer")
    page = client.get("/")
    assert 'data-testid="nav-inbox-count"' not in page.text
    note_id = _send(web_platform, "designer", "消防专项意见已发出 <script>x</script>", link="/projects/new")
    _send(web_platform, "fire.reviewer", "不是给设计人员的消息")
    page = client.get("/")
    assert 'data-testid="nav-inbox-count">1<' in page.text
    inbox = client.get("/inbox")
    assert inbox.status_code == 200
    assert "消防专项意见已发出 &lt;script&gt;x&lt;/script&gt;" in inbox.text
    assert "请答复 &lt;b&gt;全部&lt;/b&gt; 意见" in inbox.text
    assert "不是给设计人员的消息" not in inbox.text
    token = csrf_token(client, "/inbox")
    opened = client.post(f"/inbox/{note_id}/open", data={"csrf_token": token}, follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == "/projects/new"
    with web_platform.sessions() as db:
        assert db.get(Notification, note_id).read_at is not None
    assert 'data-testid="nav-inbox-count"' not in client.get("/").text


def test_someone_elses_message_is_not_found(client, web_platform):
    other = _send(web_platform, "fire.reviewer", "审查任务")
    sign_in(client, web_platform, "designer")
    token = csrf_token(client, "/inbox")
    response = client.post(f"/inbox/{other}/open", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 404
    with web_platform.sessions() as db:
        assert db.get(Notification, other).read_at is None


def test_read_all_and_api(client, web_platform):
    sign_in(client, web_platform, "designer")
    for n in range(3):
        _send(web_platform, "designer", f"消息 {n}")
    data = client.get("/api/v1/notifications?unread=1").json()
    assert data["unread"] == 3
    assert [item["subject_zh"] for item in data["items"]] == ["消息 2", "消息 1", "消息 0"]
    token = csrf_token(client, "/inbox")
    assert client.post("/inbox/read-all", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/notifications?unread=1").json() == {"unread": 0, "items": []}
    client.post("/locale", data={"csrf_token": token, "locale": "en", "next": "/inbox"})
    english = client.get("/inbox")
    assert "Comments issued &lt;script&gt;alert(1)&lt;/script&gt;" in english.text
    assert "消息 2" not in english.text


def test_outbox_is_for_administrators(client, web_platform):
    sign_in(client, web_platform, "designer")
    assert client.get("/admin/outbox").status_code == 403
    sign_in(client, web_platform, "admin")
    page = client.get("/admin/outbox")
    assert page.status_code == 200
    assert 'data-testid="outbox-no-smtp"' in page.text
