"""The ``liantu`` command. Subcommands are discovered from the modules of ``app.commands``.

Each module there defines ``commands``: a list of click commands or groups to add.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from app import commands as commands_package
from app.settings import SettingsError


class _DiscoveringGroup(click.Group):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for info in sorted(pkgutil.iter_modules(commands_package.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{commands_package.__name__}.{info.name}")
            for command in getattr(module, "commands", []):
                self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_DiscoveringGroup)
def cli() -> None:
    """联图 Liantu — 数字化多图联审平台 / digital multi-drawing joint review."""


def main() -> None:
    try:
        cli.main(prog_name="liantu", standalone_mode=True)
    except SettingsError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
