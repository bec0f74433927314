"""Browser sessions in a signed cookie (itsdangerous): HttpOnly, SameSite=Lax, Secure in production.

The lifetime is absolute: a session issued more than ``max_age`` seconds ago is dropped, and the
request is marked ``session_expired`` so that the login page can say why the user must sign in
again. The cookie is only rewritten when the session changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "liantu_session"
ISSUED_AT = "iat"
VERIFIED_COOKIES = 4096
"""How many verified cookies each process remembers (oldest forgotten first)."""


def serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="liantu.session")


def encode_session(secret_key: str, data: dict[str, Any]) -> str:
    """The cookie value for ``data`` (also used by tests to present a session of a given age)."""
    return serializer(secret_key).dumps(data)


class SessionMiddleware:
    """Puts ``scope["session"]`` (a dict) and ``scope["session_expired"]`` (bool) on every request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        max_age: int,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.serializer = serializer(secret_key)
        self.max_age = max_age
        self.secure = secure
        self.clock = clock
        self._verified: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = HTTPConnection(scope).cookies.get(COOKIE_NAME)
        session, expired = self._load(raw)
        scope["session"] = session
        scope["session_expired"] = expired
        before = _canonical(session)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                after = _canonical(scope["session"])
                if after != before or (raw is not None and not scope["session"]):
                    self._write(MutableHeaders(scope=message), scope["session"], had_cookie=raw is not None)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, raw: str | None) -> tuple[dict[str, Any], bool]:
        """The session in the cookie, and whether a signed-in session was dropped for its age.

        The age is judged by the signed issue time inside the session, so re-signing the cookie on
        every change does not extend it.
        """
        if not raw:
            return {}, False
        data = self._verify(raw)
        if data is None:
            return {}, False
        issued = data.get(ISSUED_AT)
        if not isinstance(issued, int | float) or self.clock() - issued > self.max_age:
            return {}, "uid" in data
        return data, False

    def _verify(self, raw: str) -> dict[str, Any] | None:
        """The data of a correctly signed cookie, else None.

        A browser sends the same cookie with every request (a viewer asks for hundreds of tiles), so
        the payloads of recently verified cookies are kept: only a cookie whose signature checked out
        is ever kept, and each request gets its own copy to change. The age is still judged per request.
        """
        known = self._verified.get(raw)
        if known is None:
            try:
                data = self.serializer.loads(raw)
            except BadSignature:
                return None
            if not isinstance(data, dict):
                return None
            known = _canonical(data)
            if len(self._verified) >= VERIFIED_COOKIES:
                del self._verified[next(iter(self._verified))]
            self._verified[raw] = known
        loaded: dict[str, Any] = json.loads(known)
        return loaded

    def _write(self, headers: MutableHeaders, session: dict[str, Any], *, had_cookie: bool) -> None:
        cookie: SimpleCookie = SimpleCookie()
        if session:
            session.setdefault(ISSUED_AT, int(self.clock()))
            remaining = max(1, int(self.max_age - (self.clock() - session[ISSUED_AT])))
            cookie[COOKIE_NAME] = self.serializer.dumps(session)
            cookie[COOKIE_NAME]["max-age"] = remaining
        elif had_cookie:
            cookie[COOKIE_NAME] = ""
            cookie[COOKIE_NAME]["max-age"] = 0
        else:
            return
        morsel = cookie[COOKIE_NAME]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        if self.secure:
            morsel["secure"] = True
        headers.append("set-cookie", morsel.OutputString())


def _canonical(session: dict[str, Any]) -> str:
    return json.dumps(session, sort_keys=True, separators=(",", ":"))
