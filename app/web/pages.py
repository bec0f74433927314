"""Browser pages: sign in and out, language switch, the home page of each role."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import errors
from app.identity import Principal, authenticate
from app.identity.cache import forget_users
from app.web import csrf
from app.web.auth import USER_KEY, principal
from app.web.errors import status_for
from app.web.home import home_data, track_names
from app.web.i18n import LOCALES, normalise
from app.web.rendering import LOCALE_KEY, locale_of, platform_of, render
from storage.db import WRITE_OPTION
from storage.models import User


def safe_next(target: str | None) -> str:
    """Only local paths are followed after login or a language switch (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_form(request: Request) -> Response:
    if request.scope.get("principal") is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    expired = request.query_params.get("expired") == "1" or bool(request.scope.get("session_expired"))
    return render(
        request,
        "login.html",
        expired=expired,
        error=None,
        username="",
        next=safe_next(request.query_params.get("next")),
    )


async def login(request: Request) -> Response:
    async with request.form() as form:
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        target = safe_next(str(form.get("next", "")))
    platform = platform_of(request)
    client = request.client.host if request.client else "unknown"

    def check() -> Principal:
        with platform.sessions() as db:
            # A login writes (the attempt, the audit event): on SQLite take the write lock before reading.
            db.connection(execution_options={WRITE_OPTION: True})
            found = authenticate(db, username, password, client=client, settings=platform.settings)
            db.commit()
            return found

    try:
        found = await run_in_threadpool(check)
    except (errors.NotAuthenticated, errors.RateLimited) as exc:
        locale = locale_of(request)
        return render(
            request,
            "login.html",
            status_code=status_for(exc),
            expired=False,
            username=username,
            next=target,
            error=(exc.message(locale), exc.message("zh-CN" if locale == "en" else "en")),
        )
    session = request.session
    chosen = session.get(LOCALE_KEY)
    session.clear()
    session[USER_KEY] = found.user_id
    if chosen:
        session[LOCALE_KEY] = chosen
    csrf.rotate(session)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    user_id = request.session.get(USER_KEY)
    if isinstance(user_id, int):
        forget_users([user_id])
    chosen = request.session.get(LOCALE_KEY)
    request.session.clear()
    if chosen:
        request.session[LOCALE_KEY] = chosen
        csrf.rotate(request.session)
    return RedirectResponse("/login", status_code=303)


async def switch_locale(request: Request) -> Response:
    """Remember the language in the session and, for a signed-in user, in the account."""
    async with request.form() as form:
        locale = normalise(str(form.get("locale", "")))
        target = safe_next(str(form.get("next", "")))
    if locale not in LOCALES:
        raise errors.Invalid("不支持的语言。", "Unsupported language.")
    request.session[LOCALE_KEY] = locale
    who = request.scope.get("principal")
    if who is not None:
        platform = platform_of(request)

        def save() -> None:
            with platform.sessions() as db, db.begin():
                user = db.get(User, who.user_id)
                if user is not None:
                    user.locale = locale

        await run_in_threadpool(save)
    return RedirectResponse(target, status_code=303)


def home(request: Request) -> Response:
    who = principal(request)
    with platform_of(request).sessions() as db:
        data = home_data(db, who)
        names = track_names(db)
    return render(request, "home.html", data=data, track_names=names)


routes = [
    Route("/", home, name="home"),
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/locale", switch_locale, methods=["POST"], name="locale"),
]
