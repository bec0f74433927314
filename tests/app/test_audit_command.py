"""``liantu audit verify`` on a real SQLite database in a temporary data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from app import audit, platform, settings
from app.cli import cli
from storage.db import transaction
from storage.migrate import upgrade


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIANTU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIANTU_DATABASE_URL", raising=False)
    platform.set_platform(None)
    settings.get_settings.cache_clear()
    upgrade(platform.get_platform().engine)
    yield tmp_path
    platform.get_platform().close()
    platform.set_platform(None)
    settings.get_settings.cache_clear()


def _append(n: int) -> None:
    with transaction(platform.get_platform().sessions) as session:
        for i in range(n):
            audit.record(
                session,
                actor_id=1,
                actor_name="受理窗口",
                action="submission.accept",
                object_type="submission",
                object_id=str(i),
                summary=f"受理 {i}",
            )


def test_intact_chain_exits_zero(data_dir: Path) -> None:
    _append(3)
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "审计链完整 / audit chain intact: 3 events" in result.output
    assert (data_dir / "liantu.sqlite3").exists()


def test_empty_log_is_intact(data_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0
    assert "0 events" in result.output


def test_tampered_chain_lists_each_problem_and_exits_one(data_dir: Path) -> None:
    _append(4)
    with platform.get_platform().engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET summary = '改' WHERE id = 1"))
        conn.execute(text("DELETE FROM audit_events WHERE id = 3"))

    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("AUDIT_HASH_MISMATCH #1: ")
    assert "记录已被改动" in lines[0]
    assert "the row was changed" in lines[0]
    assert lines[1].startswith("AUDIT_CHAIN_BROKEN #4: ")
    assert len(lines) == 2
    assert "audit chain broken: 2 problems in 3 events" in result.stderr


def test_problem_list_can_be_shortened(data_dir: Path) -> None:
    _append(3)
    with platform.get_platform().engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET summary = '改'"))
    result = CliRunner().invoke(cli, ["audit", "verify", "--max-problems", "1"])
    assert result.exit_code == 1
    assert result.stdout.count("AUDIT_HASH_MISMATCH") == 1
    assert "2 more problems not listed" in result.stdout
