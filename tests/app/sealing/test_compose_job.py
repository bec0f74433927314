"""Passing the last track makes a real worker compose the result; the job run twice changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from app import submissions
from app.sealing.compose import COMPOSE_RESULT
from app.settings import Settings
from storage.db import transaction
from storage.models import ReviewResult, Submission, SubmissionState, TaskRun, TaskState
from tests.app.sealing.conftest import build_case
from tests.support.pki import SigningPki
from tests.support.workers import WorkerEnvironment, wait_for


def test_a_worker_composes_the_result_once_every_track_passed(
    worker_environment: WorkerEnvironment, settings: Settings, test_pki: SigningPki
) -> None:
    env = worker_environment
    with transaction(env.sessions) as session:
        case = build_case(session, env.platform.store, settings, test_pki)
        submission = session.get(Submission, case.submission_id)
        assert submission is not None
        submission.state = SubmissionState.IN_REVIEW
    env.start_worker()
    with transaction(env.sessions) as session:
        submissions.conclude_round(session, submissions.SYSTEM, case.submission_id)

    def composed() -> TaskRun | None:
        with env.sessions() as session:
            run = session.scalar(select(TaskRun).where(TaskRun.name == COMPOSE_RESULT))
            return run if run is not None and run.state in (TaskState.SUCCEEDED, TaskState.FAILED) else None

    run = wait_for(composed, timeout=90, what="the result to be composed")
    assert run.state is TaskState.SUCCEEDED, run.message
    with env.sessions() as session:
        submission = session.get(Submission, case.submission_id)
        assert submission is not None
        assert submission.state is SubmissionState.SEALING
        result = session.scalar(select(ReviewResult))
        assert result is not None
        assert env.platform.store.exists(result.object_key)
        first = (result.id, result.sha256)

    # A second delivery of the same job (e.g. a redelivered message) finds the result and adds nothing.
    from app.tasks.dispatch import enqueue

    with transaction(env.sessions) as session:
        enqueue(session, COMPOSE_RESULT, celery=env.celery, submission_id=case.submission_id)

    def second_done() -> bool:
        with env.sessions() as session:
            states = session.scalars(select(TaskRun.state).where(TaskRun.name == COMPOSE_RESULT)).all()
            return len(states) == 2 and all(s is TaskState.SUCCEEDED for s in states)

    wait_for(second_done, timeout=60, what="the second run")
    with env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ReviewResult)) == 1
        result = session.scalar(select(ReviewResult))
        assert result is not None
        assert (result.id, result.sha256) == first
