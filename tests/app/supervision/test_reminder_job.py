"""The reminder job on a real worker process, queued by the worker's own timer: reminders are sent once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from app import deadlines
from app.deadlines.tasks import REMIND
from storage.models import Notification, TaskRun, TaskState
from tests.app.supervision.world import make_submission, make_world
from tests.support.workers import WorkerEnvironment, wait_for


def test_the_worker_reminds_overdue_reviews_once(worker_environment: WorkerEnvironment) -> None:
    env = worker_environment
    with env.sessions() as session:
        world = make_world(session)
        submission = make_submission(session, world, tracks=("fire",))
        deadlines.start_clock(session, submission.id, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
        session.commit()
    env.environ["LIANTU_REMINDER_INTERVAL_SECONDS"] = "1"
    env.start_worker()

    def finished_runs() -> int:
        with env.sessions() as session:
            query = select(func.count()).where(TaskRun.name == REMIND, TaskRun.state == TaskState.SUCCEEDED)
            return int(session.scalar(query) or 0)

    wait_for(lambda: finished_runs() >= 3, timeout=30.0, what="three reminder runs")
    with env.sessions() as session:
        notes = session.scalars(select(Notification).order_by(Notification.user_id)).all()
    assert [n.user_id for n in notes] == sorted([world.fire_reviewer.user_id, world.fire_lead.user_id])
    assert {n.kind for n in notes} == {"deadline_passed"}
