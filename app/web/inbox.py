"""The inbox (消息) of every user, and the outbox (发件箱) of the platform for administrators.

Pages read :mod:`app.notifications`; opening a message marks it read and follows its link, which always
points inside Liantu.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app import notifications
from app.errors import Forbidden, NotFound
from app.web.auth import principal
from app.web.rendering import locale_of, platform_of, render
from storage.db import transaction
from storage.models import Notification, OutboxMail

OUTBOX_LIMIT = 200


def _item(note: Notification, locale: str) -> dict[str, Any]:
    english = locale == "en"
    return {
        "id": note.id,
        "kind": note.kind,
        "subject": note.subject_en if english else note.subject_zh,
        "body": note.body_en if english else note.body_zh,
        "link": note.link,
        "created_at": note.created_at,
        "read": note.read_at is not None,
    }


def inbox_page(request: Request) -> Response:
    who = principal(request)
    unread_only = request.query_params.get("unread") == "1"
    locale = locale_of(request)
    with platform_of(request).sessions() as db:
        items = [_item(n, locale) for n in notifications.inbox(db, who.user_id, unread_only=unread_only)]
        unread = notifications.unread_count(db, who.user_id)
    return render(request, "inbox/inbox.html", items=items, unread=unread, unread_only=unread_only)


async def open_message(request: Request) -> Response:
    """Mark one message read and go where it points."""
    who = principal(request)
    notification_id: int = request.path_params["notification_id"]
    platform = platform_of(request)

    def work() -> str:
        with transaction(platform.sessions) as db:
            note = db.get(Notification, notification_id)
            if note is None or note.user_id != who.user_id:
                raise NotFound("没有该消息", "no such message")
            notifications.mark_read(db, who.user_id, notification_id)
            return note.link or "/inbox"

    target = await run_in_threadpool(work)
    return RedirectResponse(target if target.startswith("/") else "/inbox", status_code=303)


async def read_all(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)

    def work() -> None:
        with transaction(platform.sessions) as db:
            notifications.mark_read(db, who.user_id)

    await run_in_threadpool(work)
    return RedirectResponse("/inbox", status_code=303)


def outbox_page(request: Request) -> Response:
    who = principal(request)
    if not who.is_admin:
        raise Forbidden("只有系统管理员可以查看发件箱", "only administrators can see the outbox")
    platform = platform_of(request)
    with platform.sessions() as db:
        mails = list(db.scalars(select(OutboxMail).order_by(OutboxMail.id.desc()).limit(OUTBOX_LIMIT)))
        return render(request, "inbox/outbox.html", mails=mails, smtp_configured=bool(platform.settings.smtp_host))


def notifications_api(request: Request) -> Response:
    """我的消息 / The signed-in user's messages, newest first, and the unread count.

    Query ``unread=1`` lists unread messages only.
    """
    who = principal(request)
    locale = locale_of(request)
    with platform_of(request).sessions() as db:
        items = notifications.inbox(db, who.user_id, unread_only=request.query_params.get("unread") == "1")
        unread = notifications.unread_count(db, who.user_id)
        payload = [
            {
                **{k: v for k, v in _item(n, locale).items() if k not in ("subject", "body", "created_at")},
                "subject_zh": n.subject_zh,
                "subject_en": n.subject_en,
                "body_zh": n.body_zh,
                "body_en": n.body_en,
                "created_at": n.created_at.isoformat(),
            }
            for n in items
        ]
    return JSONResponse({"unread": unread, "items": payload})


routes: list[BaseRoute] = [
    Route("/inbox", inbox_page, methods=["GET"], name="inbox"),
    Route("/inbox/read-all", read_all, methods=["POST"], name="inbox_read_all"),
    Route("/inbox/{notification_id:int}/open", open_message, methods=["POST"], name="inbox_open"),
    Route("/admin/outbox", outbox_page, methods=["GET"], name="outbox"),
]

api_routes: list[BaseRoute] = [Route("/notifications", notifications_api, methods=["GET"], name="api_notifications")]
