"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: its backends answer)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.platform import Platform
from app.web.rendering import platform_of

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    """The process is alive; touches nothing else."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def check_database(platform: Platform) -> None:
    with platform.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_store(platform: Platform) -> None:
    platform.store.check()


def check_broker(platform: Platform) -> None:
    from kombu.connection import Connection

    url = platform.settings.effective_broker_url
    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:  # type: ignore[no-untyped-call]
        # One retry without back-off: a probe must answer quickly, the orchestrator asks again.
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=BROKER_TIMEOUT_SECONDS
        )


CHECKS: dict[str, Callable[[Platform], None]] = {
    "database": check_database,
    "store": check_store,
    "broker": check_broker,
}


def readiness(platform: Platform) -> dict[str, str]:
    """``{"database": "ok" | "error: …", …}`` for every backend."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check(platform)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the kind is reported
            log.warning("readiness check %s failed: %r", name, exc)
            results[name] = f"error: {exc.__class__.__name__}"
        else:
            results[name] = "ok"
    return results


async def readyz(request: Request) -> Response:
    """Ready when the database, the object store and the broker all answer; else 503 naming the failures."""
    results = await run_in_threadpool(readiness, platform_of(request))
    failed = sorted(name for name, result in results.items() if result != "ok")
    body = {"status": "unavailable" if failed else "ok", "checks": results, "failed": failed}
    return JSONResponse(body, status_code=503 if failed else 200, headers={"Cache-Control": "no-store"})


routes = [Route("/healthz", healthz, name="healthz"), Route("/readyz", readyz, name="readyz")]
