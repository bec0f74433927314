"""Cross-site request forgery protection for every state-changing request from a browser.

Each session (also the anonymous one that shows the login form) holds a random token. A POST,
PUT, PATCH or DELETE must carry it in the ``X-CSRF-Token`` header (``fetch()``) or in the form
field ``csrf_token``; the comparison is constant-time. Requests authenticated by an
``Authorization: Bearer`` token are exempt: a browser never attaches that header on its own.

Form bodies are read here and handed on unchanged. In ``multipart/form-data`` (uploads) the
token must be the first field, so that a large upload is never buffered: only the bytes up to
the end of that first field are held back.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Forbidden
from app.web.errors import error_response

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 1024 * 1024
MAX_MULTIPART_HEAD = 64 * 1024
SIGNED_PATHS = frozenset({"/api/v1/payments/callback"})
"""Requests that prove their origin with a signature of their own (the payment gateway's HMAC), never a cookie."""

_FIRST_PART = re.compile(
    rb'^--(?P<boundary>[^\r\n]+)\r\nContent-Disposition:\s*form-data;\s*name="csrf_token"\r\n'
    rb"(?:[^\r\n]+\r\n)*\r\n(?P<value>[^\r\n]*)\r\n--",
    re.IGNORECASE,
)


def token_for(session: MutableMapping[str, Any]) -> str:
    """The session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate(session: MutableMapping[str, Any]) -> str:
    """A new token (after login, so a token seen before authentication is worthless afterwards)."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return str(session[SESSION_KEY])


def matches(session: MutableMapping[str, Any], presented: str | None) -> bool:
    expected = session.get(SESSION_KEY)
    if not isinstance(expected, str) or not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


class CSRFMiddleware:
    """Rejects unsafe browser requests without the session's token with 403; nothing runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in UNSAFE_METHODS
            or scope.get("auth_method") == "token"
            or scope["path"] in SIGNED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        session = scope["session"]
        if HEADER in conn.headers:
            if matches(session, conn.headers[HEADER]):
                await self.app(scope, receive, send)
            else:
                await _reject(scope, receive, send)
            return
        content_type = conn.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            body, complete = await _read(receive, MAX_FORM_BYTES)
            values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(FIELD, [])
            presented = values[0] if complete and values else None
        elif content_type == "multipart/form-data":
            body, complete = await _read(receive, MAX_MULTIPART_HEAD, until=_FIRST_PART)
            found = _FIRST_PART.match(body)
            presented = found.group("value").decode("latin-1") if found else None
        else:
            body, complete, presented = b"", True, None
        if not matches(session, presented):
            await _reject(scope, receive, send)
            return
        await self.app(scope, _replay(body, complete, receive), send)


async def _read(receive: Receive, limit: int, until: re.Pattern[bytes] | None = None) -> tuple[bytes, bool]:
    """Read the body up to ``limit`` bytes (or until ``until`` matches); return it and whether it ended."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size >= limit or (until is not None and until.match(b"".join(chunks))):
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


async def _reject(scope: Scope, receive: Receive, send: Send) -> None:
    exc = Forbidden(
        "安全校验失败（CSRF 令牌缺失或不符），操作未执行。请刷新页面后重试。",
        "Security check failed (CSRF token missing or wrong); nothing was changed. Reload the page and try again.",
    )
    response = error_response(HTTPConnection(scope), exc)
    await response(scope, receive, send)
