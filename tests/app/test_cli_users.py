"""The account commands on a real SQLite database in a temporary data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from app import platform, settings
from app.cli import cli
from app.errors import NotFound
from app.identity import find_user, principal_for_token, verify_password
from app.seed import DEMO_PASSWORD
from storage.db import transaction
from storage.migrate import upgrade
from storage.models import Organization, OrgKind, Role


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIANTU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIANTU_DATABASE_URL", raising=False)
    monkeypatch.delenv("LIANTU_MODE", raising=False)
    platform.set_platform(None)
    settings.get_settings.cache_clear()
    upgrade(platform.get_platform().engine)
    yield tmp_path
    platform.get_platform().close()
    platform.set_platform(None)
    settings.get_settings.cache_clear()


def _run(*arguments: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(arguments), input=stdin)


def test_seed_demo_prints_the_logins_and_can_run_twice(data_dir: Path) -> None:
    first = _run("seed-demo")
    assert first.exit_code == 0, first.output
    for username in ("designer", "clerk", "fire.reviewer", "fire.lead", "fire.signer", "bureau", "admin"):
        assert f"\n{username} " in first.stdout
    assert f"演示密码 / demo password: {DEMO_PASSWORD}" in first.stdout
    second = _run("seed-demo")
    assert second.exit_code == 0
    assert second.stdout == first.stdout


def test_seed_demo_migrates_a_new_database_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANTU_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.delenv("LIANTU_DATABASE_URL", raising=False)
    platform.set_platform(None)
    settings.get_settings.cache_clear()
    try:
        result = _run("seed-demo")
        assert result.exit_code == 0, result.output
        assert "fire.signer" in result.stdout
    finally:
        platform.get_platform().close()
        platform.set_platform(None)
        settings.get_settings.cache_clear()


def test_seed_demo_refuses_production_mode(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANTU_MODE", "production")
    monkeypatch.setenv("LIANTU_SECRET_KEY", "k" * 40)
    platform.get_platform().close()
    platform.set_platform(None)
    settings.get_settings.cache_clear()
    result = _run("seed-demo")
    assert result.exit_code == 1
    assert "生产模式" in result.stderr
    assert "production mode" in result.stderr
    with transaction(platform.get_platform().sessions) as session:
        assert session.scalars(select(Organization)).all() == []


def test_create_org_user_and_token(data_dir: Path) -> None:
    created = _run("create-org", "江城市气象局防雷中心", "--kind", "department", "--department", "lightning")
    assert created.exit_code == 0, created.output
    assert "江城市气象局防雷中心" in created.stdout

    user = _run(
        "create-user",
        "Lightning.Signer",
        "--org",
        "江城市气象局防雷中心",
        "--name",
        "马丽",
        "--role",
        "department_signer:lightning",
        "--password-stdin",
        stdin="a long secret phrase\n",
    )
    assert user.exit_code == 0, user.output
    assert "lightning.signer" in user.stdout

    token_result = _run("create-token", "lightning.signer", "--name", "nightly")
    assert token_result.exit_code == 0, token_result.output
    token = token_result.stdout.strip()
    assert token.startswith("lt_")
    assert "not be shown again" in token_result.stderr

    with transaction(platform.get_platform().sessions) as session:
        account = find_user(session, "lightning.signer")
        assert verify_password(account.password_hash, "a long secret phrase")
        assert account.organization.kind is OrgKind.DEPARTMENT
        principal = principal_for_token(session, token)
        assert principal is not None
        assert principal.username == "lightning.signer"
        assert principal.roles == {(Role.DEPARTMENT_SIGNER, "lightning")}

    deleted = _run("delete-user", "lightning.signer", "--yes")
    assert deleted.exit_code == 0, deleted.output
    with transaction(platform.get_platform().sessions) as session:
        assert principal_for_token(session, token) is None


def test_password_is_prompted_twice_when_not_piped(data_dir: Path) -> None:
    _run("create-org", "设计院", "--kind", "design_institute")
    result = _run(
        "create-user",
        "zhang",
        "--org",
        "设计院",
        "--name",
        "张工",
        "--role",
        "designer",
        stdin="first try 123\nfirst try 123\n",
    )
    assert result.exit_code == 0, result.output
    assert "first try 123" not in result.stdout


def test_password_cannot_be_given_as_an_argument(data_dir: Path) -> None:
    result = _run("create-user", "zhang", "--org", "设计院", "--name", "张工", "--role", "designer", "--password", "x")
    assert result.exit_code == 2
    assert "No such option" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "stdin", "zh", "en"),
    [
        (
            ("create-user", "zhang", "--org", "不存在", "--name", "张工", "--role", "designer"),
            None,
            "没有名为",
            "no organisation",
        ),
        (
            ("create-user", "zhang", "--org", "设计院", "--name", "张工", "--role", "chef"),
            None,
            "未知角色",
            "unknown role chef",
        ),
        (
            ("create-user", "zhang", "--org", "设计院", "--name", "张工", "--role", "reviewer:fire"),
            None,
            "不能担任",
            "cannot be a",
        ),
        (
            ("create-user", "zhang", "--org", "设计院", "--name", "张工", "--role", "designer", "--password-stdin"),
            "short\n",
            "至少",
            "at least 10",
        ),
        (("create-org", "设计院", "--kind", "design_institute"), None, "已存在", "already exists"),
        (("create-token", "nobody", "--name", "x"), None, "没有用户", "no user nobody"),
    ],
)
def test_errors_are_printed_in_both_languages(
    data_dir: Path, arguments: tuple[str, ...], stdin: str | None, zh: str, en: str
) -> None:
    assert _run("create-org", "设计院", "--kind", "design_institute").exit_code == 0
    result = _run(*arguments, stdin=stdin)
    assert result.exit_code == 1, result.output
    assert zh in result.stderr
    assert en in result.stderr
    with transaction(platform.get_platform().sessions) as session, pytest.raises(NotFound):
        find_user(session, "zhang")


def test_tracks_can_be_listed_and_switched(data_dir: Path) -> None:
    listed = _run("tracks")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "fire",
        "civil_air_defence",
        "construction",
        "lightning",
        "utilities",
        "planning",
    ]
    assert "启用 on" in lines[0]
    assert "消防审查 / Fire protection review" in lines[0]
    assert "停用 off" in lines[3]

    switched = _run("tracks", "--enable", "lightning", "--disable", "planning", "--disable", "fire")
    assert switched.exit_code == 0, switched.output
    states = {line.split()[0]: "on" in line.split()[2] for line in switched.stdout.splitlines()}
    assert states == {
        "fire": False,
        "civil_air_defence": True,
        "construction": True,
        "lightning": True,
        "utilities": False,
        "planning": False,
    }
    assert _run("tracks").stdout == switched.stdout

    unknown = _run("tracks", "--enable", "weather")
    assert unknown.exit_code == 1
    assert "没有专项 weather" in unknown.stderr
    assert "no track weather" in unknown.stderr
