"""Re-queue the work of a dead worker on the embedded broker, when the next worker starts.

kombu's SQLAlchemy transport marks a fetched message invisible and never makes it visible again:
an acknowledgement changes nothing in the table, and a worker killed with SIGKILL takes its
unacknowledged messages (prefetched, running, or waiting for a retry's countdown) with it. The
embedded mode runs exactly one worker process group, so when a worker starts, before it consumes
anything, every invisible message belongs to a finished or dead delivery:

1. invisible messages are deleted (they would only grow the file);
2. every open ``TaskRun`` (QUEUED, RETRYING, RUNNING) without a visible message is sent again,
   RUNNING ones first put back to QUEUED with a message saying why.

A QUEUED run created moments ago may be a commit whose message is still on its way; those are left
to their sender. Sending one twice would be harmless anyway (see :mod:`app.tasks.runs`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from celery import Celery
from sqlalchemy import create_engine, inspect, select, text

from app.platform import Platform
from app.tasks.dispatch import send
from storage.db import transaction
from storage.models import TaskRun, TaskState

log = logging.getLogger(__name__)

SENDER_GRACE = dt.timedelta(seconds=10)
"""A QUEUED run younger than this without a message is assumed to be sent by its committer shortly."""

REQUEUED_MESSAGE = "工作进程中断，已重新排队 / re-queued after the worker stopped"


@dataclass(frozen=True)
class Recovery:
    """What the start-up recovery did."""

    discarded_messages: int
    """Invisible (acknowledged or orphaned) broker messages deleted."""
    resent: tuple[str, ...]
    """Ids of the runs sent again."""


def recover_embedded(platform: Platform, celery: Celery) -> Recovery:
    """Run once in the embedded worker's main process, before it starts consuming."""
    discarded, queued_ids = _sweep_broker(platform.settings.effective_broker_url)
    now = dt.datetime.now(dt.UTC)
    to_send: list[tuple[str, str, dict[str, int | str]]] = []
    with transaction(platform.sessions) as session:
        runs = session.scalars(
            select(TaskRun).where(TaskRun.state.in_([TaskState.QUEUED, TaskState.RETRYING, TaskState.RUNNING]))
        ).all()
        for run in runs:
            if run.id in queued_ids:
                continue
            created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=dt.UTC)
            if run.state is TaskState.QUEUED and now - created < SENDER_GRACE:
                continue
            if run.state is TaskState.RUNNING:
                run.state = TaskState.QUEUED
                run.message = REQUEUED_MESSAGE
            to_send.append((run.id, run.name, dict(run.arguments)))
    for run_id, name, arguments in to_send:
        send(run_id, name, arguments, celery)
        log.warning("re-queued task run %s (%s) left behind by a stopped worker", run_id, name)
    return Recovery(discarded_messages=discarded, resent=tuple(run_id for run_id, _, _ in to_send))


def discard_delivered(broker_url: str) -> int:
    """Delete the invisible messages of the embedded broker; safe while a worker runs.

    kombu never reads an invisible row again (acknowledging or rejecting a message does not touch
    it), so without this the broker file only grows. What is in flight lives in the worker's memory
    and, should the worker die, is re-sent from the ``TaskRun`` rows, not from these.
    """
    engine = create_engine(broker_url.removeprefix("sqla+"), connect_args={"timeout": 30})
    try:
        with engine.begin() as connection:
            if not inspect(connection).has_table("kombu_message"):
                return 0
            return int(connection.execute(text("DELETE FROM kombu_message WHERE visible = 0")).rowcount)
    finally:
        engine.dispose()


def _sweep_broker(broker_url: str) -> tuple[int, set[str]]:
    """Delete invisible messages; return their count and the task ids of the visible ones."""
    engine = create_engine(broker_url.removeprefix("sqla+"), connect_args={"timeout": 30})
    try:
        with engine.connect() as connection:
            # WAL lets the web process add messages while the worker polls; the mode stays with the file.
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        with engine.begin() as connection:
            if not inspect(connection).has_table("kombu_message"):
                return 0, set()
            discarded = connection.execute(text("DELETE FROM kombu_message WHERE visible = 0")).rowcount
            task_ids: set[str] = set()
            for (payload,) in connection.execute(text("SELECT payload FROM kombu_message")):
                try:
                    task_ids.add(str(json.loads(payload)["headers"]["id"]))
                except (ValueError, KeyError, TypeError):
                    log.warning("unreadable message in the embedded broker left as it is")
            return discarded, task_ids
    finally:
        engine.dispose()
