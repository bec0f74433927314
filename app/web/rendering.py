"""Jinja2 templates (autoescaped) and what every page knows: language, user, CSRF token."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from app import notifications
from app.web import csrf
from app.web.i18n import LOCALES, Translator, from_accept_language, normalise, other_locale

if TYPE_CHECKING:
    from app.platform import Platform

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).with_name("templates")
LOCALE_KEY = "locale"
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")

_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_environment)


def platform_of(conn: HTTPConnection) -> Platform:
    return conn.app.state.platform  # type: ignore[no-any-return]


def locale_of(conn: HTTPConnection) -> str:
    """Session choice, then the user's saved locale, then ``Accept-Language``, then the default."""
    chosen = normalise(conn.scope.get("session", {}).get(LOCALE_KEY))
    if chosen:
        return chosen
    principal = conn.scope.get("principal")
    saved = normalise(getattr(principal, "locale", None))
    if saved:
        return saved
    preferred = from_accept_language(conn.headers.get("accept-language"))
    if preferred:
        return preferred
    return platform_of(conn).settings.default_locale


def track_label(code: str | None, locale: str) -> str:
    """The name of a standard track in ``locale``; other tracks show their code."""
    from app.tracks import STANDARD_TRACKS

    for track in STANDARD_TRACKS:
        if track.code == code:
            return track.name_en if locale == "en" else track.name_zh
    return code or ""


def _track_labeller(locale: str, names: dict[str, tuple[str, str]] | None) -> Callable[[str | None], str]:
    """Names from the ``tracks`` table when the page loaded them, else the standard names."""

    def label(code: str | None) -> str:
        if names and code in names:
            zh, en = names[code]
            return en if locale == "en" else zh
        return track_label(code, locale)

    return label


def when(value: dt.datetime | None) -> str:
    """A timestamp as local-looking ``YYYY-MM-DD HH:MM`` (UTC+8, the platform's time zone)."""
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def context(conn: HTTPConnection, **values: Any) -> dict[str, Any]:
    locale = locale_of(conn)
    session = conn.scope.get("session", {})
    base = {
        "t": Translator(locale),
        "locale": locale,
        "other_locale": other_locale(locale),
        "locales": LOCALES,
        "principal": conn.scope.get("principal"),
        "csrf_token": csrf.token_for(session) if "session" in conn.scope else "",
        "current_path": conn.url.path + (f"?{conn.url.query}" if conn.url.query else ""),
        "track_label": _track_labeller(locale, values.get("track_names")),
        "when": when,
        "unread_count": lambda: _unread_count(conn),
    }
    base.update(values)
    return base


def _unread_count(conn: HTTPConnection) -> int:
    """The signed-in user's unread messages, for the badge in the top bar (0 when it cannot be read)."""
    who = conn.scope.get("principal")
    if who is None:
        return 0
    try:
        with platform_of(conn).sessions() as db:
            return notifications.unread_count(db, who.user_id)
    except SQLAlchemyError:
        log.exception("unread count could not be read")
        return 0


def render(conn: HTTPConnection, name: str, status_code: int = 200, **values: Any) -> Response:
    request = conn if isinstance(conn, Request) else Request(conn.scope)
    response = templates.TemplateResponse(request, name, context(conn, **values), status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def render_error(
    conn: HTTPConnection,
    status: int,
    title_key: str,
    message: tuple[str, str],
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """A bilingual error page: the current language first, the other one beneath."""
    zh, en = message
    locale = locale_of(conn)
    primary, secondary = (en, zh) if locale == "en" else (zh, en)
    try:
        response = render(
            conn,
            "error.html",
            status_code=status,
            status=status,
            title_key=title_key,
            message=primary,
            message_other=secondary,
        )
    except Exception:  # the error page must not fail in turn; plain text will do
        log.exception("error page could not be rendered")
        response = HTMLResponse(f"<h1>{status}</h1><p>{_plain(zh)}</p><p>{_plain(en)}</p>", status_code=status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def form_action(
    request: Request, work: Callable[[Any], str], again: Callable[..., Response], back: str
) -> Response:
    """Run a form's use case in one transaction: redirect to ``back?done=<outcome>`` on success; when it is
    refused (invalid input or a conflict), show the page again through ``again(request, status=…, problem=…)``."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse

    from app.errors import Conflict, Invalid
    from app.web.errors import status_for
    from storage.db import transaction

    platform = platform_of(request)

    def run() -> str:
        with transaction(platform.sessions) as db:
            return work(db)

    try:
        done = await run_in_threadpool(run)
    except (Invalid, Conflict) as exc:
        return await run_in_threadpool(again, request, status=status_for(exc), problem=exc)
    return RedirectResponse(f"{back}?done={done}", status_code=303)
