"""Background jobs (后台任务) on Celery.

* :mod:`app.tasks.celery_app` builds the Celery app from settings (embedded SQLite broker or Redis).
* :mod:`app.tasks.dispatch` records a ``TaskRun`` and sends its message only after the commit.
* :mod:`app.tasks.runs` is how every job runs: claim, progress, success, failure, retries.
* :mod:`app.tasks.jobs` holds the jobs themselves; :mod:`app.tasks.recovery` re-queues the work of
  a dead embedded worker.
"""

from app.tasks.dispatch import enqueue

__all__ = ["enqueue"]
