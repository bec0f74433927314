"""The one place where exceptions become HTTP statuses.

Pages get a bilingual HTML page, ``/api/`` gets ``{"error": {"code", "message_zh", "message_en"}}``.
Handlers raise the errors of ``app.errors``; they never pick a status code themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app import errors
from app.drawings import UploadTooLarge
from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorKind:
    """How one class of error is answered."""

    status: int
    """HTTP status."""
    code: str
    """Stable machine-readable code in JSON answers."""
    title_key: str
    """Catalogue key of the page title."""


_KINDS: tuple[tuple[type[Exception], ErrorKind], ...] = (
    (UploadTooLarge, ErrorKind(413, "too_large", "error.413.title")),
    (errors.NotFound, ErrorKind(404, "not_found", "error.404.title")),
    (errors.Forbidden, ErrorKind(403, "forbidden", "error.403.title")),
    (errors.NotAuthenticated, ErrorKind(401, "not_authenticated", "error.401.title")),
    (errors.Conflict, ErrorKind(409, "conflict", "error.409.title")),
    (errors.Invalid, ErrorKind(400, "invalid", "error.400.title")),
    (errors.RateLimited, ErrorKind(429, "rate_limited", "error.429.title")),
    (errors.ServiceUnavailable, ErrorKind(503, "service_unavailable", "error.503.title")),
    (StoreUnavailable, ErrorKind(503, "store_unavailable", "error.503.title")),
    (OperationalError, ErrorKind(503, "database_unavailable", "error.503.title")),
)

MAPPED: tuple[type[Exception], ...] = tuple(cls for cls, _ in _KINDS)
"""Every exception class answered here; middleware catches exactly these."""

_INTERNAL = ErrorKind(500, "internal_error", "error.500.title")

# Messages for errors that carry none of their own (SDK and HTTP errors), by status.
_DEFAULT_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("请求无效。", "The request is not valid."),
    401: ("请先登录。", "Please sign in."),
    403: ("您无权执行此操作。", "You are not allowed to do this."),
    404: ("页面或对象不存在。", "The page or object does not exist."),
    405: ("不支持该请求方法。", "This method is not allowed here."),
    409: ("对象已被修改，请刷新后重试。", "The object changed in the meantime; reload and try again."),
    413: ("请求内容过大。", "The request is too large."),
    429: ("尝试次数过多，请稍后再试。", "Too many attempts; please try again later."),
    500: ("系统内部错误，已记录。", "Internal error; it has been logged."),
    503: ("服务暂时不可用，请稍后再试。", "The service is temporarily unavailable; please try again later."),
}


def kind_of(exc: BaseException) -> ErrorKind:
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    if isinstance(exc, HTTPException):
        return ErrorKind(exc.status_code, f"http_{exc.status_code}", _title_key(exc.status_code))
    return _INTERNAL


def status_for(exc: BaseException) -> int:
    """The HTTP status of an exception."""
    return kind_of(exc).status


def messages(exc: BaseException) -> tuple[str, str]:
    """(Chinese, English) message for the user; internal details never leak."""
    if isinstance(exc, errors.LiantuError):
        return exc.zh, exc.en
    return _DEFAULT_MESSAGES.get(kind_of(exc).status, _DEFAULT_MESSAGES[500])


TITLED_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 429, 500, 503})
"""Statuses with a page title of their own in the catalogues (``error.<status>.title``)."""


def _title_key(status: int) -> str:
    return f"error.{status}.title" if status in TITLED_STATUSES else "error.500.title"


def wants_json(conn: HTTPConnection) -> bool:
    if conn.url.path.startswith("/api/"):
        return True
    accept = conn.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def json_error(status: int, code: str, zh: str, en: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message_zh": zh, "message_en": en}}
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(conn: HTTPConnection, exc: BaseException) -> Response:
    """The answer to ``exc`` for this request: JSON for the API, a page or a redirect otherwise."""
    kind = kind_of(exc)
    if kind.status >= 500:
        log.error("request failed: %s %s", conn.url.path, exc, exc_info=kind is _INTERNAL)
    zh, en = messages(exc)
    headers = {"Retry-After": "60"} if kind.status in (429, 503) else None
    if wants_json(conn):
        if kind.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return json_error(kind.status, kind.code, zh, en, headers)
    if isinstance(exc, errors.NotAuthenticated):
        target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
        suffix = "&expired=1" if conn.scope.get("session_expired") else ""
        return RedirectResponse(f"/login?next={quote(target, safe='')}{suffix}", status_code=303)
    from app.web.rendering import render_error

    return render_error(conn, kind.status, kind.title_key, (zh, en), headers=headers)


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for every mapped class, HTTP errors and the rest (500)."""
    return error_response(request, exc)
