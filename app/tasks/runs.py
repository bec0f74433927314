"""How every background task runs: claimed, reported, finished or retried through its ``TaskRun`` row.

Contract of a job function (see :func:`job`)
---------------------------------------------
* It receives a :class:`JobRun` and the IDs it was sent with, as keyword arguments.
* It may call :meth:`JobRun.report` as often as it likes; writes are throttled.
* Its effect must be idempotent. The surest way: make the effect in one transaction together with
  :meth:`JobRun.complete`, which refuses (and so rolls the effect back) when another delivery of the
  same run has taken over in the meantime.
* Transient failures (the store or the database cannot be reached) are raised, not handled: the
  run is retried with exponential backoff up to a limit. Anything else fails the run at once, with
  its message recorded for the pages.

Deliveries and attempts
-----------------------
The Celery task id is the ``TaskRun`` id. A delivery *claims* the run by raising ``attempts`` by one;
the new value is its fencing token, and every later write of that delivery names it. A run that is
already SUCCEEDED or FAILED is left alone, so a message delivered twice does nothing the second time.
A RUNNING run can be claimed: brokers deliver an unacknowledged message again only once its worker
is gone (Redis: after the visibility timeout; embedded: the recovery at worker start).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.errors import LiantuError
from app.platform import Platform, get_platform
from storage.db import transaction
from storage.errors import StoreUnavailable
from storage.models import TaskRun, TaskState

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (StoreUnavailable, OperationalError, ConnectionError, TimeoutError)
"""The only errors worth retrying: a backing service could not be reached for a moment."""

OPEN_STATES = (TaskState.QUEUED, TaskState.RETRYING, TaskState.RUNNING)
"""States in which a run still waits for a delivery to finish it."""

LOST_DELIVERY_ALLOWANCE = 2
"""Deliveries beyond the retries that may die with their worker before the run is given up."""

REPORT_INTERVAL_SECONDS = 0.5
"""Progress is written at most this often (and always when the message changes)."""

MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """When and how often a transient failure is retried."""

    max_retries: int = 5
    """Retries after the first attempt; then the run fails."""
    backoff_seconds: float = 5.0
    """Wait before the first retry; doubled for every further one."""
    backoff_max_seconds: float = 300.0
    """Longest wait between two attempts."""
    transient: tuple[type[BaseException], ...] = TRANSIENT_ERRORS
    """Errors that are retried. Everything else fails the run at once."""

    def countdown(self, retries_so_far: int) -> float:
        return float(min(self.backoff_max_seconds, self.backoff_seconds * 2**retries_so_far))

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1 + LOST_DELIVERY_ALLOWANCE


class Superseded(Exception):
    """Another delivery of the same run has claimed it; this one must stop without writing."""


JobFunction = Callable[..., str | None]
"""``function(run: JobRun, **ids) -> message``; the message is shown when the run succeeds."""


@dataclass
class JobRun:
    """One delivery of a task, as the job function sees it."""

    id: str
    name: str
    attempt: int
    """The value of ``TaskRun.attempts`` this delivery claimed: 1 for the first."""
    platform: Platform
    completed: bool = False
    _last_report: tuple[float, str, float] | None = field(default=None, repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed when the block ends normally."""
        with transaction(self.platform.sessions) as session:
            yield session

    def report(self, progress: float, message: str = "") -> None:
        """Record progress (0–100) and a short message for the pages showing this run."""
        progress = max(0.0, min(100.0, float(progress)))
        now = time.monotonic()
        if self._last_report is not None:
            last_progress, last_message, at = self._last_report
            unchanged = message == last_message and progress < 100.0
            if unchanged and (now - at < REPORT_INTERVAL_SECONDS or progress == last_progress):
                return
        with self.transaction() as session:
            self._fenced(session, progress=progress, message=message[:MESSAGE_LIMIT])
        self._last_report = (progress, message, now)

    def complete(self, session: Session, message: str = "") -> None:
        """Mark the run SUCCEEDED inside the caller's transaction, together with the job's effect.

        Raises :class:`Superseded` when another delivery has claimed the run; the caller's
        transaction then rolls back and the effect is not made twice.
        """
        self._fenced(
            session,
            state=TaskState.SUCCEEDED,
            progress=100.0,
            message=message[:MESSAGE_LIMIT],
            finished_at=dt.datetime.now(dt.UTC),
        )
        self.completed = True

    def _fenced(self, session: Session, **values: Any) -> None:
        result = session.execute(
            update(TaskRun)
            .where(TaskRun.id == self.id, TaskRun.attempts == self.attempt, TaskRun.state == TaskState.RUNNING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Superseded(self.id)


class RunTask(Task):  # type: ignore[misc]
    """Celery task class of every job: records a hard time-limit kill, which no code in the job sees."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Called in the worker's main process after it killed the pool process running the task.
        if isinstance(exc, TimeLimitExceeded):
            with transaction(get_platform().sessions) as session:
                session.execute(
                    update(TaskRun)
                    .where(TaskRun.id == task_id, TaskRun.state == TaskState.RUNNING)
                    .values(
                        state=TaskState.FAILED,
                        finished_at=dt.datetime.now(dt.UTC),
                        message="超过时间上限，已被终止 / stopped at the hard time limit",
                    )
                )


def job(name: str, *, retry: RetryPolicy | None = None) -> Callable[[JobFunction], Task]:
    """Make ``function(run, **ids)`` a Celery task named ``name`` with the behaviour described above."""
    policy = retry or RetryPolicy()

    def decorate(function: JobFunction) -> Task:
        def run_task(self: Task, **ids: Any) -> None:
            execute(self, function, policy, ids)

        run_task.__doc__ = function.__doc__
        register = shared_task(name=name, bind=True, base=RunTask, max_retries=policy.max_retries, acks_late=True)
        return cast(Task, register(run_task))

    return decorate


def execute(task: Task, function: JobFunction, policy: RetryPolicy, ids: dict[str, Any]) -> None:
    platform = get_platform()
    run_id = str(task.request.id)
    try:
        attempt = claim(platform, run_id, policy.max_attempts)
    except policy.transient as exc:
        # The database was not reachable: nothing was recorded, so simply try again later.
        retries = int(task.request.retries or 0)
        raise task.retry(exc=exc, countdown=policy.countdown(retries), max_retries=policy.max_retries) from exc
    if attempt is None:
        return
    run = JobRun(id=run_id, name=task.name, attempt=attempt, platform=platform)
    try:
        message = function(run, **ids)
        if not run.completed:
            with run.transaction() as session:
                run.complete(session, message or "完成 / done")
    except Superseded:
        log.warning("task run %s was claimed by another delivery; this one stops", run_id)
    except SoftTimeLimitExceeded:
        _fail(run, "超过时间限制 / the task ran out of time")
        raise
    except policy.transient as exc:
        retries = int(task.request.retries or 0)
        if retries >= policy.max_retries:
            _fail(run, f"多次重试后仍失败 / still failing after {retries} retries: {describe(exc)}")
            raise
        countdown = policy.countdown(retries)
        _mark_retrying(run, f"暂时失败，{countdown:g} 秒后重试 / retrying in {countdown:g} s: {describe(exc)}")
        raise task.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries) from exc
    except Exception as exc:
        _fail(run, describe(exc))
        raise


def claim(platform: Platform, run_id: str, max_attempts: int) -> int | None:
    """Take the run for this delivery; the new attempt number, or None when there is nothing to do."""
    now = dt.datetime.now(dt.UTC)
    with transaction(platform.sessions) as session:
        attempt = session.execute(
            update(TaskRun)
            .where(TaskRun.id == run_id, TaskRun.state.in_(OPEN_STATES), TaskRun.attempts < max_attempts)
            .values(
                state=TaskState.RUNNING,
                attempts=TaskRun.attempts + 1,
                progress=0.0,
                message="",
                started_at=now,
                finished_at=None,
            )
            .returning(TaskRun.attempts)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if attempt is not None:
            return int(attempt)
        state = session.scalar(select(TaskRun.state).where(TaskRun.id == run_id))
        if state is None:
            log.warning("task run %s does not exist; message dropped", run_id)
        elif state in OPEN_STATES:
            session.execute(
                update(TaskRun)
                .where(TaskRun.id == run_id)
                .values(
                    state=TaskState.FAILED,
                    finished_at=now,
                    message=f"多次中断后放弃 / given up after {max_attempts} attempts",
                )
            )
        return None


_RECORDING_ERRORS: tuple[type[BaseException], ...] = (Superseded, *TRANSIENT_ERRORS)


def _mark_retrying(run: JobRun, message: str) -> None:
    try:
        with run.transaction() as session:
            run._fenced(session, state=TaskState.RETRYING, message=message[:MESSAGE_LIMIT])
    except _RECORDING_ERRORS:
        # The retry is sent regardless; the next delivery claims the run from whatever state it is in.
        log.warning("could not record the retry of task run %s", run.id, exc_info=True)


def _fail(run: JobRun, message: str) -> None:
    try:
        with run.transaction() as session:
            run._fenced(
                session, state=TaskState.FAILED, message=message[:MESSAGE_LIMIT], finished_at=dt.datetime.now(dt.UTC)
            )
    except _RECORDING_ERRORS:
        log.warning("could not record the failure of task run %s", run.id, exc_info=True)


def describe(exc: BaseException) -> str:
    """The message a page shows for a failure, in Chinese and English."""
    if isinstance(exc, LiantuError):
        return str(exc)
    return f"任务失败 / task failed: {exc.__class__.__name__}: {exc}"
