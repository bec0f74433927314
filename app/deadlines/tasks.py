"""The reminder job, and the worker's own timer that queues it (no separate scheduler process).

A worker started by ``liantu worker`` (or ``liantu run``) queues :data:`REMIND` shortly after it is
ready and then every ``LIANTU_REMINDER_INTERVAL_SECONDS``. Several workers may each queue it: the
job is idempotent, since a reminder is written once per day, review and kind (``dedupe_key``).
``liantu remind`` runs the same work once, for a cron job where the timer is turned off.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from celery import signals

from app.deadlines import send_reminders
from app.tasks.dispatch import enqueue
from app.tasks.runs import JobRun, job
from storage.db import transaction

log = logging.getLogger(__name__)

REMIND = "deadline.remind"
FIRST_DELAY_SECONDS = 30.0


@job(REMIND)
def remind_job(run: JobRun) -> str:
    """审查期限提醒 / Remind reviewers of due-soon and overdue reviews."""
    with run.transaction() as session:
        written = send_reminders(session, dt.datetime.now(dt.UTC), settings=run.platform.settings)
        run.complete(session, f"已发送 {written} 条提醒 / {written} reminders sent")
    return f"{written}"


class ReminderTimer:
    """A daemon thread of the worker's main process that queues :data:`REMIND` periodically."""

    def __init__(self, interval_seconds: float, first_delay_seconds: float = FIRST_DELAY_SECONDS) -> None:
        self.interval = interval_seconds
        self.first_delay = min(first_delay_seconds, interval_seconds)
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="liantu-reminders", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                queue_reminders()
            except Exception:
                log.warning("could not queue the deadline reminders", exc_info=True)


def queue_reminders() -> None:
    """Queue one run of the reminder job (sent after the commit)."""
    from app.platform import get_platform

    with transaction(get_platform().sessions) as session:
        enqueue(session, REMIND, object_type="reminders")


def _start_timer(**_: object) -> None:
    from app.platform import get_platform

    interval = get_platform().settings.reminder_interval_seconds
    if interval <= 0:
        return
    timer = ReminderTimer(float(interval))
    signals.worker_shutdown.connect(lambda **_: timer.stop(), weak=False)
    timer.start()


# Only a worker started as a program sends worker_ready; the in-process test workers do not.
signals.worker_ready.connect(_start_timer, weak=False)
