"""Sending tasks: a ``TaskRun`` row in the caller's transaction, the message only after its commit.

A message sent before the commit could reach a worker before the rows it names exist, and a
rolled-back transaction would leave a task working on nothing. So :func:`enqueue` only adds the
row; the messages of a session are sent from its ``after_commit`` hook and dropped on rollback.

If sending fails after the commit the run stays QUEUED: the embedded worker re-sends such runs
when it starts (:mod:`app.tasks.recovery`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from app.tasks.celery_app import QUEUE, get_celery
from storage.models import TaskRun, TaskState

log = logging.getLogger(__name__)

_PENDING = "liantu.pending_task_runs"
_CELERY = "liantu.celery"

TaskArgument = int | str


@dataclass(frozen=True)
class _Pending:
    run: TaskRun
    run_id: str
    task_name: str
    arguments: dict[str, TaskArgument]


def enqueue(
    session: Session,
    task_name: str,
    *,
    object_type: str = "",
    object_id: TaskArgument = "",
    celery: Celery | None = None,
    **ids: TaskArgument,
) -> TaskRun:
    """Record a run of ``task_name`` with ``ids`` as its JSON arguments; send it once ``session`` commits.

    ``object_type``/``object_id`` name what the run is about, so that its page can find it.
    """
    for name, value in ids.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"task arguments are IDs (int or str); {name}={value!r}")
    run = TaskRun(
        id=uuid.uuid4().hex,
        name=task_name,
        arguments=dict(ids),
        object_type=object_type,
        object_id=str(object_id),
        state=TaskState.QUEUED,
        progress=0.0,
        message="",
        attempts=0,
    )
    session.add(run)
    # Kept as plain values: after the commit the row's attributes may be expired, and the
    # after_commit hook cannot load them again.
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    pending.append(_Pending(run, run.id, task_name, dict(ids)))
    if celery is not None:
        session.info[_CELERY] = celery
    if not event.contains(session, "after_commit", _send_pending):
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_transaction_end", _drop_pending)
    return run


def send(run_id: str, task_name: str, arguments: dict[str, Any], celery: Celery | None = None) -> None:
    """Send the message of an existing run (used after commit, and by recovery)."""
    app = celery or get_celery()
    app.send_task(task_name, kwargs=arguments, task_id=run_id, queue=QUEUE)


def _send_pending(session: Session) -> None:
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    celery: Celery | None = session.info.get(_CELERY)
    for item in pending:
        # A run added inside a savepoint that was rolled back is not in the database.
        if not inspect(item.run).persistent:
            continue
        try:
            send(item.run_id, item.task_name, item.arguments, celery)
        except Exception:
            # The commit has happened; raising here would tell the caller it had not.
            log.exception("could not send task run %s (%s); it stays queued", item.run_id, item.task_name)


def _drop_pending(session: Session, ended: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (after one, the list is already empty).
    # A rolled-back savepoint is handled when sending: its runs are no longer persistent.
    if ended.parent is None:
        session.info.pop(_PENDING, None)
