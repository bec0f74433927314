"""``liantu remind`` and ``liantu deadlines``: deadline reminders and a look at the configured time limits."""

from __future__ import annotations

import datetime as dt

import click

from app.deadlines import send_reminders, time_limits, work_calendar
from app.platform import get_platform
from storage.db import transaction


@click.command("remind")
def remind() -> None:
    """提醒临近超期与已超期的审查 / Remind reviewers of due-soon and overdue reviews (once a day each)."""
    platform = get_platform()
    with transaction(platform.sessions) as session:
        written = send_reminders(session, dt.datetime.now(dt.UTC), settings=platform.settings)
    click.echo(f"已发送 {written} 条提醒 / {written} reminders sent")


@click.command("deadlines")
def deadlines() -> None:
    """审查时限与工作日历 / Show the time limits per track and the calendar years."""
    settings = get_platform().settings
    policy = time_limits(settings)
    click.echo(f"临近超期 / due soon: ≤ {policy.due_soon_days} working days left")
    for code, limit in sorted(policy.limits.items()):
        click.echo(f"  {code}: first review {limit.first_review}, re-review {limit.re_review} working days")
    for year, data in sorted(work_calendar(settings).years.items()):
        state = "provisional 暂定" if data.provisional else "official 正式"
        click.echo(f"  {year}: {state} — {data.source_title}")


commands = [remind, deadlines]
