"""Shared fixtures: real databases isolated per test, the samples folder, service requirements.

Services that are not part of the test set-up (PostgreSQL, Redis) are skipped when absent, unless
``LIANTU_REQUIRE_SERVICES=1`` (CI), where their absence fails the test instead.
"""

from __future__ import annotations

import os
import pkgutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine
from storage.migrate import upgrade
from tests import support

# Every module of tests/support is a fixture plugin (S3 server, workers, web client, browser...).
pytest_plugins = [f"tests.support.{module.name}" for module in pkgutil.iter_modules(support.__path__)]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("LIANTU_SAMPLES", ROOT.parent / "shared" / "samples"))
POSTGRES_URL = os.environ.get("LIANTU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LIANTU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("LIANTU_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def sample(relative: str) -> Path:
    """A file from ../shared/samples; the test is skipped when the folder is absent."""
    path = SAMPLES / relative
    if not path.exists():
        pytest.skip(f"sample not available: {relative}")
    return path


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("db") / "liantu.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``<prefix>_<random>``; its URL, then it is dropped."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means the service is absent
        admin.dispose()
        service_missing(f"PostgreSQL at {POSTGRES_URL}: {exc.__class__.__name__}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def seeded_postgres_database(prefix: str) -> Iterator[str]:
    """A scratch PostgreSQL database, migrated and holding the demo accounts."""
    from app.seed import seed_demo
    from storage.db import make_session_factory, transaction

    with scratch_postgres(prefix) as url:
        engine = make_engine(url)
        upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            seed_demo(session)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL database for this test run, migrated, dropped at the end."""
    with scratch_postgres("liantu_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of this test alone, migrated: for tests that commit (races, locks), so nothing leaks."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'own.sqlite3'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with scratch_postgres("liantu_own") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each database backend in turn."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions bound to one outer transaction that is rolled back after the test.

    Code under test may commit freely: its commits become savepoint releases.
    """
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    yield factory
    outer.rollback()
    connection.close()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s
