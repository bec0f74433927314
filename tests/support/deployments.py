"""The whole platform on loopback, in each way it is installed: web server, a real worker, database, store, broker.

``deployment`` is parametrised:

* ``embedded`` — SQLite file, local object store, embedded broker (what ``make run`` starts);
* ``services`` — a fresh PostgreSQL database, Redis as the broker (db 15, keys under a per-test prefix) and the
  loopback S3 server as the object store (what ``docker/compose.yaml`` runs).

The web process runs uvicorn in a thread of the test process; the worker is ``liantu worker`` in a subprocess with
the same ``LIANTU_*`` settings, so that nothing is shared but the services themselves.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.platform import Platform, set_platform
from app.sealing.devpki import init_dev_pki, start_dev_tsa
from app.seed import seed_demo
from app.settings import Settings, load_settings
from app.tasks.celery_app import build_celery, set_celery
from storage.db import make_engine, make_session_factory, transaction
from storage.migrate import upgrade

if TYPE_CHECKING:
    from tests.support.workers import WorkerEnvironment

WORKER_CONCURRENCY = 2
"""As installed (the settings' default): the opinion letters a conclusion queues do not hold up the next job."""
SHUTDOWN_GRACE_SECONDS = 2
"""A viewer still open keeps its live-update stream going; the server stops waiting for it after this long."""
DEPLOYMENTS = ("embedded", pytest.param("services", marks=[pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]))


@dataclass
class Deployment:
    name: str
    base_url: str
    workers: WorkerEnvironment
    """The platform of the test process and the worker subprocesses started on it."""

    @property
    def platform(self) -> Platform:
        return self.workers.platform

    @property
    def settings(self) -> Settings:
        return self.workers.settings


def _redis_prefix() -> str:
    import redis

    from tests.conftest import REDIS_URL, service_missing

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL}: {exc.__class__.__name__}")
    finally:
        client.close()
    return f"liantu-journey-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """Liantu served on loopback with one worker, on the embedded default or on PostgreSQL + Redis + S3."""
    import uvicorn

    from app.web import create_app
    from tests.conftest import REDIS_URL, scratch_postgres

    # Sibling plugins, imported late so that pytest has loaded (and rewritten) them first.
    from tests.support.browser import free_port
    from tests.support.web import TEST_SECRET_KEY
    from tests.support.workers import WorkerEnvironment, _forget_embedded_broker, wait_for

    data_dir = tmp_path / "data"
    environ = {
        "LIANTU_DATA_DIR": str(data_dir),
        "LIANTU_SECRET_KEY": TEST_SECRET_KEY,
        "LIANTU_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "LIANTU_TASK_TIME_LIMIT_SECONDS": "120",
    }
    broker_options: dict[str, Any] = {}
    stack = ExitStack()
    if request.param == "embedded":
        environ |= {
            "LIANTU_DATABASE_URL": f"sqlite:///{data_dir / 'liantu.sqlite3'}",
            "LIANTU_STORE_PATH": str(tmp_path / "objects"),
            "LIANTU_BROKER_URL": "embedded",
        }
    else:
        s3 = request.getfixturevalue("s3_server")
        url = stack.enter_context(scratch_postgres("liantu_journey"))
        broker_options = {"global_keyprefix": _redis_prefix(), "visibility_timeout": 300}
        environ |= {
            "LIANTU_DATABASE_URL": url,
            "LIANTU_BROKER_URL": REDIS_URL,
            "LIANTU_STORE": "s3",
            "LIANTU_S3_ENDPOINT": s3.endpoint,
            "LIANTU_S3_ACCESS_KEY": s3.access_key,
            "LIANTU_S3_SECRET_KEY": s3.secret_key,
            "LIANTU_S3_REGION": s3.region,
            "LIANTU_S3_BUCKET": f"liantu-journey-{uuid.uuid4().hex[:12]}",
        }
    data_dir.mkdir(parents=True)
    engine = make_engine(load_settings(environ).effective_database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    # As ``liantu run`` does in development: demo accounts, the development PKI and its timestamp authority.
    seeding = Platform(load_settings(environ), _engine=engine)
    with transaction(sessions) as session:
        seed_demo(session)
        init_dev_pki(session, seeding.store, seeding.settings)
    tsa = start_dev_tsa(seeding.settings)
    assert tsa is not None
    environ["LIANTU_TSA_URL"] = tsa.endpoints.timestamp_url
    settings = load_settings(environ)
    platform = Platform(settings, _engine=engine)
    celery = build_celery(settings, broker_options=broker_options)
    set_platform(platform)
    set_celery(celery)
    workers = WorkerEnvironment(
        root=tmp_path,
        environ=environ,
        broker_options=broker_options,
        settings=settings,
        engine=engine,
        sessions=sessions,
        celery=celery,
        platform=platform,
    )
    workers.start_worker(concurrency=WORKER_CONCURRENCY)
    port = free_port()
    config = uvicorn.Config(
        create_app(platform),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"liantu-{request.param}-server", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=15, what="the web server to start")
    assert thread.is_alive()
    try:
        yield Deployment(request.param, f"http://127.0.0.1:{port}", workers)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        workers.stop_all()
        tsa.stop()
        set_celery(None)
        set_platform(None)
        celery.close()
        engine.dispose()
        if request.param == "embedded":
            _forget_embedded_broker(settings)
        stack.close()
