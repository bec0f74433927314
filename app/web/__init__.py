"""The web shell (网页端): pages for browsers and the JSON API, on Starlette.

Middleware, outermost first: server errors → security headers → sessions (signed cookie) → authentication (session
or bearer token) → CSRF check → routes. Exceptions raised by handlers are answered by
``app.web.errors``.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from app.web import api, health, pages
from app.web.auth import AuthenticationMiddleware
from app.web.csrf import CSRFMiddleware
from app.web.errors import MAPPED, handle
from app.web.headers import SecurityHeadersMiddleware
from app.web.sessions import SessionMiddleware

if TYPE_CHECKING:
    from app.platform import Platform

STATIC_DIR = Path(__file__).with_name("static")
VENDOR_DIR = Path(__file__).resolve().parents[1] / "static" / "vendor"
FIRST_ROUTES = frozenset({"sheet_tile"})
"""Routes matched before all others: their paths are specific, and they are asked for most often."""


def page_modules() -> list[ModuleType]:
    """Every module of the web package that declares ``routes`` (pages), in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda item: item.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if module not in (health, pages, api) and isinstance(getattr(module, "routes", None), list):
            found.append(module)
    return found


def create_app(platform: Platform) -> Starlette:
    """The ASGI application for ``platform``."""
    settings = platform.settings
    module_routes: list[BaseRoute] = [route for module in page_modules() for route in module.routes]
    routes: list[BaseRoute] = [
        # Starlette tries routes in order: the one asked hundreds of times per page view goes first.
        *(route for route in module_routes if getattr(route, "name", None) in FIRST_ROUTES),
        *health.routes,
        *pages.routes,
        *(route for route in module_routes if getattr(route, "name", None) not in FIRST_ROUTES),
        api.mount(),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        # Filled from npm by ``make``; absent in a bare checkout, which only loses the drawing viewer.
        Mount("/vendor", app=StaticFiles(directory=VENDOR_DIR, check_dir=False), name="vendor"),
    ]
    handlers: dict[int | type[Exception], object] = dict.fromkeys(MAPPED, handle)
    handlers[HTTPException] = handle
    handlers[Exception] = handle
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                SessionMiddleware,
                secret_key=settings.effective_secret_key,
                max_age=settings.session_max_age_seconds,
                secure=settings.secure_cookies,
            ),
            Middleware(AuthenticationMiddleware, platform=platform),
            Middleware(CSRFMiddleware),
        ],
        exception_handlers=handlers,  # type: ignore[arg-type]
    )
    app.state.platform = platform
    return app


def asgi() -> Starlette:
    """Factory for uvicorn (``app.web:asgi``): the app of the process-wide platform."""
    from app.platform import get_platform

    app = create_app(get_platform())
    settle_heap()
    return app


def settle_heap() -> None:
    """Put what a web process holds for its whole life out of the garbage collector's reach.

    A full collection walks every object the collector tracks: after start-up that is about 270,000 (modules,
    routes, templates, the clause catalogue, SQLAlchemy's mappings), 0.25 s during which the process answers
    nothing. Python runs one whenever enough new objects have survived, every few seconds under load, and each
    showed as a 180–260 ms stall of every request in flight. Frozen (:func:`gc.freeze`), those objects are never
    walked again; a full collection then covers only what requests made since.
    """
    gc.collect()
    gc.freeze()
