"""Who is asking: the browser session's user or the holder of an API token.

Sets ``scope["principal"]`` (a :class:`app.identity.Principal` or None) and ``scope["auth_method"]``
(``"session"``, ``"token"`` or None). A bearer token that is unknown, revoked or belongs to a
deleted user is answered with 401; a session whose user is gone is emptied.

Principals are kept for ``LIANTU_PRINCIPAL_CACHE_SECONDS`` (:mod:`app.identity.cache`): a revoked token,
a deactivated or deleted user or a changed role is refused at once by the process that made the change,
by the other web processes within that time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from app import errors
from app.identity import Principal, principal_for_token, principal_for_user
from app.identity.cache import PrincipalCache
from app.identity.tokens import token_digest_of
from app.web.errors import MAPPED, error_response
from storage.db import transaction

if TYPE_CHECKING:
    from app.platform import Platform

USER_KEY = "uid"
ANONYMOUS_PATHS = ("/healthz", "/readyz", "/static/", "/vendor/")
"""Probes and static files are answered without looking anybody up: no database work, and the
probes keep answering when the database is gone."""


def principal(conn: HTTPConnection) -> Principal:
    """The authenticated principal, or :class:`app.errors.NotAuthenticated`."""
    found: Principal | None = conn.scope.get("principal")
    if found is None:
        raise errors.NotAuthenticated("请先登录。", "Please sign in.")
    return found


def bearer_token(conn: HTTPConnection) -> str | None:
    scheme, _, credentials = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or ""


def principal_cache(conn: HTTPConnection) -> PrincipalCache:
    """The principal cache of this web process (for facts derived from the principal, see ``remember``)."""
    cache: PrincipalCache = conn.scope["principal_cache"]
    return cache


class AuthenticationMiddleware:
    """Finds the principal; a principal seen within ``principal_cache_seconds`` costs no database work."""

    def __init__(self, app: ASGIApp, *, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.cache = PrincipalCache(platform.settings.principal_cache_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        scope["principal"] = None
        scope["auth_method"] = None
        scope["principal_cache"] = self.cache
        if scope["path"].startswith(ANONYMOUS_PATHS) and scope.get("method", "GET") in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        token = bearer_token(conn)
        session: dict[str, Any] = scope["session"]
        try:
            if token is not None:
                found = await self._by_token(token)
                if found is None:
                    raise errors.NotAuthenticated(
                        "访问令牌无效、已撤销或其用户已删除。",
                        "The access token is invalid, revoked, or its user was deleted.",
                    )
                scope["principal"], scope["auth_method"] = found, "token"
            elif isinstance(user_id := session.get(USER_KEY), int):
                found = await self._by_user(user_id)
                if found is None:
                    session.clear()
                else:
                    scope["principal"], scope["auth_method"] = found, "session"
        except MAPPED as exc:
            if token is not None and isinstance(exc, errors.NotAuthenticated):
                scope["auth_method"] = "token"
            await error_response(conn, exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _by_token(self, token: str) -> Principal | None:
        digest = token_digest_of(token)
        if digest is None:
            return None
        found = self.cache.token(digest)
        if found is None:
            generation = self.cache.generation
            found = await run_in_threadpool(self._read_token, token)
            if found is not None:
                self.cache.put_token(digest, found, generation)
        return found

    async def _by_user(self, user_id: int) -> Principal | None:
        found = self.cache.user(user_id)
        if found is None:
            generation = self.cache.generation
            found = await run_in_threadpool(self._read_user, user_id)
            if found is not None:
                self.cache.put_user(found, generation)
        return found

    def _read_token(self, token: str) -> Principal | None:
        with transaction(self.platform.sessions) as db:
            return principal_for_token(db, token)

    def _read_user(self, user_id: int) -> Principal | None:
        with self.platform.sessions() as db:
            return principal_for_user(db, user_id)
