"""Web fixtures: Liantu's app on a migrated, seeded temporary SQLite database, and a test client.

The seeded database is built once per test run and copied for each test, so every test starts
from the same demo organisations and accounts and may change anything.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.platform import Platform
from app.settings import load_settings
from storage.db import make_engine, make_session_factory, transaction
from storage.migrate import upgrade

# starlette 0.52's test client names ``anyio.abc.BlockingPortal`` in annotations evaluated at import;
# anyio 4.16 reports that alias as deprecated. Only that one warning, only during this import, is
# silenced: every other warning stays an error, including any the client raises while in use.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"The anyio\.abc\.BlockingPortal alias is deprecated",
        category=DeprecationWarning,
    )
    from starlette.testclient import TestClient

TEST_SECRET_KEY = "test-secret-key-for-signed-session-cookies-0123456789"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the standard tracks and demo accounts (template, never opened by tests)."""
    from app.seed import seed_demo

    path = tmp_path_factory.mktemp("web-template") / "liantu.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        seed_demo(session)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def web_settings_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        "LIANTU_DATA_DIR": str(data_dir),
        "LIANTU_SECRET_KEY": TEST_SECRET_KEY,
        "LIANTU_BROKER_URL": "memory://",
        "LIANTU_DATABASE_URL": f"sqlite:///{data_dir / 'liantu.sqlite3'}",
    }
    env.update({f"LIANTU_{key.upper()}": value for key, value in overrides.items()})
    return env


def make_web_platform(seeded: Path, data_dir: Path, **overrides: str) -> Platform:
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seeded, data_dir / "liantu.sqlite3")
    settings = load_settings(web_settings_env(data_dir, **overrides))
    return Platform(settings, _engine=make_engine(settings.effective_database_url))


@pytest.fixture
def web_settings_overrides() -> dict[str, str]:
    """Override in a test module to change settings (keys without the LIANTU_ prefix)."""
    return {}


@pytest.fixture
def web_platform(seeded_database: Path, tmp_path: Path, web_settings_overrides: dict[str, str]) -> Iterator[Platform]:
    platform = make_web_platform(seeded_database, tmp_path / "data", **web_settings_overrides)
    yield platform
    platform.close()


@pytest.fixture
def web_app(web_platform: Platform):  # type: ignore[no-untyped-def]
    from app.web import create_app

    return create_app(web_platform)


@pytest.fixture
def client(web_app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(web_app, follow_redirects=False) as test_client:
        yield test_client


def csrf_token(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's meta tag."""
    response = client.get(path)
    found = CSRF_META.search(response.text)
    assert found, f"no CSRF token on {path} ({response.status_code})"
    return found.group(1)


def login(client: TestClient, username: str, password: str | None = None) -> object:
    """Sign in through the login form, as a browser does; returns the response to the POST."""
    from app.seed import DEMO_PASSWORD

    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD if password is None else password, "csrf_token": token},
    )


def sign_in(client: TestClient, platform: Platform, username: str) -> None:
    """Give the client a signed-in session cookie directly (no password check, so no Argon2 cost).

    For tests about what a signed-in user sees; tests about signing in use :func:`login`.
    """
    import secrets
    import time

    from sqlalchemy import select

    from app.web.sessions import COOKIE_NAME, encode_session
    from storage.models import User

    with platform.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
    assert user_id is not None, username
    data = {"uid": user_id, "csrf": secrets.token_urlsafe(32), "iat": int(time.time())}
    client.cookies.set(COOKIE_NAME, encode_session(TEST_SECRET_KEY, data))
