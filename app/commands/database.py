"""``liantu migrate``: bring the database schema up to date."""

from __future__ import annotations

import click

from app.platform import get_platform
from storage.migrate import current_revision, upgrade


@click.command("migrate")
def migrate() -> None:
    """数据库迁移 / Apply database migrations."""
    platform = get_platform()
    upgrade(platform.engine)
    click.echo(f"数据库已是最新 / database at revision {current_revision(platform.engine)}")


commands = [migrate]
