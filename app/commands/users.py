"""Accounts and tracks from the command line.

``create-org``, ``create-user``, ``create-token``, ``delete-user``, ``seed-demo`` and ``tracks``.
The standard tracks are ensured first wherever a track may be named.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from sqlalchemy.orm import Session

from app.errors import LiantuError
from app.platform import get_platform
from app.settings import Mode
from storage.db import transaction
from storage.migrate import upgrade
from storage.models import OrgKind, Role

T = TypeVar("T")


@contextmanager
def _session() -> Iterator[Session]:
    """A committed unit of work; a use-case error is printed in both languages and exits with 1."""
    try:
        with transaction(get_platform().sessions) as session:
            yield session
    except LiantuError as error:
        click.echo(f"错误：{error.zh}\nerror: {error.en}", err=True)
        sys.exit(1)


def _in_transaction(work: Callable[[Session], T]) -> T:
    with _session() as session:
        return work(session)


@click.command("create-org")
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=click.Choice([kind.value for kind in OrgKind]),
    help="单位类型 / kind of organisation",
)
@click.option("--department", "department_code", metavar="TRACK", help="主管部门负责的专项 / track of a department")
def create_org(name: str, kind: str, department_code: str | None) -> None:
    """新建单位 / Create an organisation."""
    from app.identity import create_organization
    from app.tracks import ensure_tracks

    with _session() as session:
        ensure_tracks(session)
        organization = create_organization(session, name, kind, department_code)
    click.echo(
        f"已创建单位 / organisation created: {organization.name} (#{organization.id}, {organization.kind.value})"
    )


@click.command("create-user")
@click.argument("username")
@click.option("--org", "org_name", required=True, help="所属单位名称 / organisation name")
@click.option("--name", "display_name", required=True, help="姓名 / display name")
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    metavar="ROLE[:TRACK]",
    help=f"角色，可多次指定 / role, repeatable: {', '.join(role.value for role in Role)}",
)
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码 / read the password from standard input")
@click.option("--locale", type=click.Choice(["zh-CN", "en"]), help="界面语言 / interface language")
@click.option("--email", help="电子邮箱 / e-mail address")
def create_user_command(
    *,
    username: str,
    org_name: str,
    display_name: str,
    roles: tuple[str, ...],
    password_stdin: bool,
    locale: str | None,
    email: str | None,
) -> None:
    """新建用户 / Create a user. The password is read from standard input or asked for, never taken from arguments."""
    from app.identity import check_password, find_organization, hash_password, parse_role
    from app.identity.accounts import check_new_user, insert_user
    from app.tracks import ensure_tracks

    with _session() as session:
        ensure_tracks(session)
        grants = [parse_role(text) for text in roles]
        organization = find_organization(session, org_name)
        # Everything else is checked before the password is asked for.
        new = check_new_user(session, organization, username, display_name, grants, locale=locale, email=email)
        password = _read_password(password_stdin)
        check_password(password)
        user = insert_user(session, organization, new, hash_password(password))
    click.echo(f"已创建用户 / user created: {user.username} (#{user.id}) @ {organization.name}")


@click.command("create-token")
@click.argument("username")
@click.option("--name", "token_name", required=True, help="令牌用途 / what the token is for")
def create_token(username: str, token_name: str) -> None:
    """新建 API 令牌，仅显示一次 / Create an API token; it is shown only this once."""
    from app.identity import create_api_token, find_user

    token = _in_transaction(lambda session: create_api_token(session, find_user(session, username).id, token_name))
    click.echo("请立即保存，令牌不会再次显示 / store it now, it will not be shown again:", err=True)
    click.echo(token)


@click.command("delete-user")
@click.argument("username")
@click.confirmation_option(prompt="确定删除该用户？/ delete this user?")
def delete_user_command(username: str) -> None:
    """删除用户（保留记录，停用登录与令牌）/ Delete a user: logins and tokens stop, the record stays."""
    from app.identity import delete_user, find_user

    _in_transaction(lambda session: delete_user(session, find_user(session, username)))
    click.echo(f"已删除用户 / user deleted: {username}")


@click.command("seed-demo")
@click.option(
    "--allow-production",
    is_flag=True,
    help="生产模式下也创建演示账号（公开密码！）/ seed even in production mode (published password!)",
)
def seed_demo_command(allow_production: bool) -> None:
    """创建演示单位与账号并列出 / Create the demo organisations and accounts and list the logins."""
    from app.seed import format_demo_logins, seed_demo

    platform = get_platform()
    if platform.settings.mode is Mode.PRODUCTION and not allow_production:
        click.echo(
            "错误：生产模式下不创建公开密码的演示账号\nerror: demo accounts with a published password are not"
            " created in production mode (use --allow-production to insist)",
            err=True,
        )
        sys.exit(1)
    # Like ``liantu run``: a first try-out should not need a separate ``liantu migrate``.
    upgrade(platform.engine)
    logins = _in_transaction(seed_demo)
    click.echo(format_demo_logins(logins))


@click.command("tracks")
@click.option("--enable", "enable", multiple=True, metavar="CODE", help="启用专项 / turn a track on")
@click.option("--disable", "disable", multiple=True, metavar="CODE", help="停用专项 / turn a track off")
def tracks_command(enable: tuple[str, ...], disable: tuple[str, ...]) -> None:
    """列出、启用或停用审查专项 / List the review tracks; turn them on or off for new submissions."""
    from app.tracks import all_tracks, ensure_tracks, set_track_enabled

    with _session() as session:
        ensure_tracks(session)
        for code in enable:
            set_track_enabled(session, code, True)
        for code in disable:
            set_track_enabled(session, code, False)
        rows = [(t.code, t.name_zh, t.name_en, t.enabled) for t in all_tracks(session)]
    width = max(len(code) for code, *_ in rows)
    for code, name_zh, name_en, enabled in rows:
        state = "启用 on " if enabled else "停用 off"
        click.echo(f"{code.ljust(width)}  {state}  {name_zh} / {name_en}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    return value


commands = [create_org, create_user_command, create_token, delete_user_command, seed_demo_command, tracks_command]
