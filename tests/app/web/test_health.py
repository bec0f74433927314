"""Liveness and readiness, and what the pages and the API answer when a backend is gone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.identity import create_api_token
from storage.models import User
from tests.support.web import sign_in


def _break_database(platform) -> None:
    """Replace the SQLite file by a folder: every new connection fails with OperationalError."""
    path = platform.engine.url.database
    platform.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        target = type(platform.settings.data_dir)(path + suffix)
        if target.exists():
            target.unlink()
    type(platform.settings.data_dir)(path).mkdir()


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_everything_answers(client):
    response = client.get("/readyz")
    body = response.json()
    assert body["checks"] == {"database": "ok", "store": "ok", "broker": "ok"}
    assert response.status_code == 200


@pytest.mark.parametrize("web_settings_overrides", [{"store_path": "/proc/version/objects"}])
def test_readyz_names_an_unusable_store(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["store"]
    assert body["checks"]["database"] == "ok"


def test_readyz_and_pages_when_the_database_is_gone(client, web_platform):
    with web_platform.sessions() as db, db.begin():
        token = create_api_token(db, db.scalar(select(User.id).where(User.username == "designer")), "t")
    sign_in(client, web_platform, "designer")
    _break_database(web_platform)

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["database"]
    assert client.get("/healthz").status_code == 200

    page = client.get("/")
    assert page.status_code == 503
    assert "服务暂时不可用" in page.text
    assert "temporarily unavailable" in page.text

    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 503
    assert api.json()["error"]["code"] == "database_unavailable"


@pytest.mark.parametrize("web_settings_overrides", [{"broker_url": "redis://127.0.0.1:1/0"}])
def test_readyz_names_an_unreachable_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
