"""``liantu run``: the whole platform on one machine (web and worker), stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

import click

from app.platform import get_platform
from storage.db import transaction
from storage.migrate import upgrade

if TYPE_CHECKING:
    from signing.tsa import TimestampServer

STOP_GRACE_SECONDS = 20.0


def _child(*arguments: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app", *arguments], env=env)  # noqa: S603 - our own interpreter


def _print_banner(address: str, logins: list[tuple[str, str, str]]) -> None:
    click.echo("")
    click.secho(f"联图 Liantu 已启动 / is running at {address}", bold=True)
    if logins:
        click.echo("演示账号 / demo logins:")
        width = max(len(username) for username, _, _ in logins)
        for username, password, description in logins:
            click.echo(f"  {username.ljust(width)}  {password}  {description}")
    click.echo("按 Ctrl-C 停止 / press Ctrl-C to stop")
    click.echo("")


def _demo_logins() -> list[tuple[str, str, str]]:
    from app.seed import seed_demo

    with transaction(get_platform().sessions) as session:
        return [(login.username, login.password, login.description) for login in seed_demo(session)]


def _development_signing(demo: bool) -> tuple[TimestampServer | None, dict[str, str] | None]:
    """In development: the demo departments get certificates and seals, and without ``LIANTU_TSA_URL``
    the development timestamp authority runs here on loopback for the web and worker processes."""
    from app.sealing.devpki import init_dev_pki, start_dev_tsa
    from app.settings import Mode

    platform = get_platform()
    if platform.settings.mode is not Mode.DEVELOPMENT:
        return None, None
    if demo:
        with transaction(platform.sessions) as session:
            init_dev_pki(session, platform.store, platform.settings)
    if platform.settings.tsa_url:
        return None, None
    tsa = start_dev_tsa(platform.settings)
    if tsa is None:
        return None, None
    return tsa, {**os.environ, "LIANTU_TSA_URL": tsa.endpoints.timestamp_url}


@click.command("run")
@click.option("--demo/--no-demo", default=True, help="创建并显示演示账号 / seed and print the demo logins")
def run(demo: bool) -> None:
    """启动 Web 与后台任务 / Start the web server and a worker on this machine."""
    platform = get_platform()
    upgrade(platform.engine)
    logins = _demo_logins() if demo else []
    tsa, child_env = _development_signing(demo)
    platform.close()

    children = {"worker": _child("worker", env=child_env), "serve": _child("serve", env=child_env)}
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _print_banner(platform.settings.effective_public_url, logins)

    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(f"子进程退出 / a process exited ({name}, code {child.returncode})", err=True)
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.2)

    click.echo("正在停止… / stopping…")
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if tsa is not None:
        tsa.stop()
    click.echo("已停止 / stopped")
    sys.exit(exit_code)


commands = [run]
