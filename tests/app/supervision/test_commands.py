"""``liantu remind`` and ``liantu deadlines`` on a real SQLite database in a temporary data folder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app import deadlines, platform, settings
from app.cli import cli
from storage.migrate import upgrade
from storage.models import Notification
from tests.app.supervision.world import make_submission, make_world


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIANTU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIANTU_BROKER_URL", "memory://")
    monkeypatch.delenv("LIANTU_DATABASE_URL", raising=False)
    platform.set_platform(None)
    settings.get_settings.cache_clear()
    upgrade(platform.get_platform().engine)
    yield tmp_path
    platform.get_platform().close()
    platform.set_platform(None)
    settings.get_settings.cache_clear()


def test_remind_once_a_day(data_dir: Path) -> None:
    with platform.get_platform().sessions() as session:
        world = make_world(session)
        submission = make_submission(session, world, tracks=("fire",))
        deadlines.start_clock(session, submission.id, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
        session.commit()
    runner = CliRunner()
    first = runner.invoke(cli, ["remind"])
    assert first.exit_code == 0, first.output
    assert "2 reminders sent" in first.output
    again = runner.invoke(cli, ["remind"])
    assert "0 reminders sent" in again.output
    with platform.get_platform().sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 2


def test_deadlines_lists_limits_and_years(data_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["deadlines"])
    assert result.exit_code == 0, result.output
    assert "fire: first review 10, re-review 5 working days" in result.output
    assert "2026: official 正式" in result.output
    assert "2027: provisional 暂定" in result.output
