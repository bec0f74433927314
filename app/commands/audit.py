"""``liantu audit verify``: re-check the hash chain of the audit log."""

from __future__ import annotations

import sys

import click

from app import audit as audit_log
from app.platform import get_platform


@click.group("audit")
def audit() -> None:
    """审计日志 / Audit log."""


@audit.command("verify")
@click.option(
    "--max-problems",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="列出的问题上限 / most problems to list",
)
def verify(max_problems: int) -> None:
    """校验审计链 / Verify the audit chain; exits 1 when it is broken."""
    platform = get_platform()
    with platform.sessions() as session, session.begin():
        report = audit_log.verify(session, max_problems=max_problems)
    if report.ok:
        click.echo(f"审计链完整 / audit chain intact: {report.count} events")
        return
    for problem in report.problems:
        click.echo(str(problem))
    if report.omitted:
        click.echo(f"另有 {report.omitted} 个问题未列出 / {report.omitted} more problems not listed")
    total = len(report.problems) + report.omitted
    click.echo(f"审计链已损坏 / audit chain broken: {total} problems in {report.count} events", err=True)
    sys.exit(1)


commands = [audit]
