"""The Celery application, built from settings.

Two brokers, one code path:

* embedded (default): kombu's SQLAlchemy transport on a SQLite file under the data folder, no server.
  It keeps a delivered message only as an invisible row and never makes it visible again, so a
  worker killed mid-task would lose its messages; :mod:`app.tasks.recovery` re-queues them when the
  next worker starts.
* Redis: unacknowledged messages come back after ``visibility_timeout``; that timeout must be longer
  than the hard time limit, or a task still running would be delivered a second time.

No result backend: what a page shows about a task is its :class:`~storage.models.TaskRun` row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from app.settings import Settings

QUEUE = "liantu"
"""The one queue every task goes to."""

EMBEDDED_POLLING_SECONDS = 0.05
"""How often an idle worker asks the embedded broker for work (kombu's default of 1 s delays every task)."""

VISIBILITY_MARGIN_SECONDS = 300
"""Redis: a message unacknowledged this long past the hard time limit belongs to a dead worker."""

TASK_MODULES = ("app.tasks.jobs", "app.intake.tasks")
"""Modules of jobs named here; :func:`task_modules` adds every ``app/<package>/tasks.py``."""

APP_DIR = Path(__file__).resolve().parents[1]


def task_modules() -> tuple[str, ...]:
    """The modules whose jobs the worker registers: the named ones, then each package's ``tasks`` module."""
    found = [f"app.{path.parent.name}.tasks" for path in sorted(APP_DIR.glob("*/tasks.py"))]
    return tuple(dict.fromkeys([*TASK_MODULES, *found]))


def soft_time_limit(hard_seconds: int) -> int:
    """A task is asked to stop this many seconds in, leaving it time to record its failure."""
    if hard_seconds <= 2:
        return hard_seconds
    return max(1, hard_seconds - max(1, min(60, hard_seconds // 10)))


def default_visibility_timeout(settings: Settings) -> int:
    return settings.task_time_limit_seconds + VISIBILITY_MARGIN_SECONDS


def build_celery(settings: Settings, *, broker_options: dict[str, Any] | None = None) -> Celery:
    """A Celery app for ``settings``; ``broker_options`` are extra Redis transport options."""
    app = Celery("liantu", broker=settings.effective_broker_url, include=list(task_modules()), set_as_current=False)
    hard = settings.task_time_limit_seconds
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_always_eager=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=hard,
        task_soft_time_limit=soft_time_limit(hard),
        task_default_queue=QUEUE,
        task_create_missing_queues=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # How long a lost pool process's result is waited for before its message is requeued (default
        # 10 s). There are no results to save here, and running a finished task again does nothing.
        worker_lost_wait=2.0,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        enable_utc=True,
        timezone="UTC",
    )
    if settings.embedded_broker:
        _use_fast_embedded_polling()
        if broker_options:
            # The SQLAlchemy transport hands its options to create_engine(), which rejects them.
            raise ValueError("broker options apply to Redis only / 嵌入式队列不接受 broker 选项")
    elif settings.effective_broker_url.startswith(("redis://", "rediss://")):
        options: dict[str, Any] = {"visibility_timeout": default_visibility_timeout(settings)}
        options.update(broker_options or {})
        app.conf.broker_transport_options = options
    elif broker_options:
        app.conf.broker_transport_options = dict(broker_options)
    return app


def _use_fast_embedded_polling() -> None:
    # A transport option would be passed on to create_engine() and crash the worker; the poll
    # interval is only read from the transport class.
    from kombu.transport import sqlalchemy

    sqlalchemy.Transport.polling_interval = EMBEDDED_POLLING_SECONDS


_current: Celery | None = None


def get_celery() -> Celery:
    """The process-wide Celery app, built from the platform's settings on first use."""
    global _current  # noqa: PLW0603 - one Celery app per process, like the platform
    if _current is None:
        from app.platform import get_platform

        _current = build_celery(get_platform().settings)
    return _current


def set_celery(app: Celery | None) -> None:
    """Install an app built elsewhere (the worker command, tests)."""
    global _current  # noqa: PLW0603
    _current = app
