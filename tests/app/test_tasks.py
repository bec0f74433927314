"""Background jobs on real worker processes (embedded SQLite broker; Redis where marked)."""

from __future__ import annotations

import io
import os
import signal
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.tasks.dispatch import send
from app.tasks.jobs import VERIFY_DRAWING_FILE
from storage.db import transaction
from storage.models import AuditEvent, DrawingFile, Organization, OrgKind, Project, Submission, TaskRun, TaskState
from tests.support.workers import (
    BROKEN,
    FLAKY,
    NOOP,
    STUBBORN,
    VERIFY_WHEN_RELEASED,
    WorkerEnvironment,
    release_marker,
    wait_for,
)


def _finished(environment: WorkerEnvironment, run_id: str) -> TaskRun | None:
    with environment.sessions() as session:
        run = session.get(TaskRun, run_id)
        return run if run is not None and run.state in (TaskState.SUCCEEDED, TaskState.FAILED) else None


def _queue_size(environment: WorkerEnvironment) -> int:
    with environment.celery.connection_for_write() as connection:
        return int(connection.default_channel.queue_declare("liantu", passive=True).message_count)


def _enqueue(session: Session, name: str, **ids: int) -> str:
    from app.tasks import enqueue

    return enqueue(session, name, object_type="drawing_file", object_id=ids.get("drawing_file_id", ""), **ids).id


def test_transient_error_is_retried_then_succeeds(worker_environment: WorkerEnvironment) -> None:
    with transaction(worker_environment.sessions) as session:
        run_id = _enqueue(session, FLAKY, drawing_file_id=7)
    worker_environment.start_worker()
    run = wait_for(lambda: _finished(worker_environment, run_id), what="the flaky run to finish")
    assert run.state is TaskState.SUCCEEDED, run.message
    assert run.attempts == 2
    assert run.message == "done on attempt 2 for 7"
    assert run.progress == 100.0


def test_other_errors_fail_at_once_with_their_message(worker_environment: WorkerEnvironment) -> None:
    with transaction(worker_environment.sessions) as session:
        run_id = _enqueue(session, BROKEN, drawing_file_id=8)
    worker_environment.start_worker()
    run = wait_for(lambda: _finished(worker_environment, run_id), what="the broken run to finish")
    assert run.state is TaskState.FAILED
    assert run.attempts == 1
    assert "ValueError: broken on purpose (8)" in run.message
    assert run.finished_at is not None


def test_hard_time_limit_fails_the_run_once(worker_environment: WorkerEnvironment) -> None:
    worker_environment.environ["LIANTU_TASK_TIME_LIMIT_SECONDS"] = "3"  # soft limit at 2 s
    with transaction(worker_environment.sessions) as session:
        run_id = _enqueue(session, STUBBORN, drawing_file_id=9)
    worker_environment.start_worker()
    run = wait_for(lambda: _finished(worker_environment, run_id), what="the hard time limit")
    assert run.state is TaskState.FAILED
    assert run.message == "超过时间上限，已被终止 / stopped at the hard time limit"
    assert run.progress == 6.0  # it did see the soft limit first
    with transaction(worker_environment.sessions) as session:
        barrier = _enqueue(session, NOOP, drawing_file_id=9)
    wait_for(lambda: _finished(worker_environment, barrier), what="the barrier task")
    with worker_environment.sessions() as session:
        run = session.get(TaskRun, run_id)
        assert run is not None
        assert (run.state, run.attempts) == (TaskState.FAILED, 1)


def test_nothing_is_sent_when_the_transaction_rolls_back(worker_environment: WorkerEnvironment) -> None:
    with worker_environment.sessions() as session:
        _enqueue(session, FLAKY, drawing_file_id=1)
        session.flush()
        session.rollback()
    assert _queue_size(worker_environment) == 0
    with worker_environment.sessions() as session:
        assert session.scalars(select(TaskRun)).all() == []


# verify_drawing_file and worker death ---------------------------------------------------------


def _stored_drawing(environment: WorkerEnvironment, content: bytes, name: str = "A-101.pdf") -> int:
    info = environment.platform.store.put_original(io.BytesIO(content), content_type="application/pdf")
    with transaction(environment.sessions) as session:
        organization = Organization(name=f"设计院 {uuid.uuid4().hex[:6]}", kind=OrgKind.DESIGN_INSTITUTE)
        session.add(organization)
        session.flush()
        project = Project(organization_id=organization.id, code=uuid.uuid4().hex[:12], name="综合楼")
        session.add(project)
        session.flush()
        submission = Submission(project_id=project.id)
        session.add(submission)
        session.flush()
        drawing = DrawingFile(
            submission_id=submission.id,
            sha256=info.sha256 or "",
            size=info.size,
            original_name=name,
            media_type="application/pdf",
            object_key=info.key,
        )
        session.add(drawing)
        session.flush()
        return drawing.id


def _audit_actions(environment: WorkerEnvironment, object_id: int) -> list[str]:
    with environment.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.object_type == "drawing_file", AuditEvent.object_id == str(object_id)
                )
            )
        )


def test_verify_drawing_file_records_intact_and_corrupt_originals(worker_environment: WorkerEnvironment) -> None:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 8000  # 2 MB: more than one read, so progress is reported
    intact_id = _stored_drawing(worker_environment, content)
    damaged_id = _stored_drawing(worker_environment, b"%PDF-1.7 other drawing\n" * 100, name="A-102.pdf")
    with worker_environment.sessions() as session:
        damaged_key = session.get(DrawingFile, damaged_id).object_key  # type: ignore[union-attr]
    worker_environment.platform.store.local_path(damaged_key).write_bytes(b"%PDF-1.7 tampered\n")  # type: ignore[attr-defined]

    with transaction(worker_environment.sessions) as session:
        intact_run = _enqueue(session, VERIFY_DRAWING_FILE, drawing_file_id=intact_id)
        damaged_run = _enqueue(session, VERIFY_DRAWING_FILE, drawing_file_id=damaged_id)
    worker_environment.start_worker()

    run = wait_for(lambda: _finished(worker_environment, intact_run), what="verification of the intact file")
    assert (run.state, run.progress, run.attempts) == (TaskState.SUCCEEDED, 100.0, 1), run.message
    assert run.message == "原件完好 / the original is intact"
    run = wait_for(lambda: _finished(worker_environment, damaged_run), what="verification of the damaged file")
    assert run.state is TaskState.SUCCEEDED, run.message
    with worker_environment.sessions() as session:
        intact = session.get(DrawingFile, intact_id)
        damaged = session.get(DrawingFile, damaged_id)
        assert intact is not None
        assert damaged is not None
        assert (intact.status, damaged.status) == ("stored", "corrupt")
        assert intact.verified_at is not None
        assert damaged.verified_at is None
        assert damaged.findings["integrity"]["code"] == "ORIGINAL_CORRUPT"
        assert damaged.findings["integrity"]["actual_size"] == len(b"%PDF-1.7 tampered\n")
    assert _audit_actions(worker_environment, intact_id) == ["drawing_file.verified"]
    assert _audit_actions(worker_environment, damaged_id) == ["drawing_file.corrupt"]


def _killed_mid_task_is_redelivered_and_done_once(environment: WorkerEnvironment) -> None:
    drawing_id = _stored_drawing(environment, b"%PDF-1.7 sheet\n" * 1000)
    with transaction(environment.sessions) as session:
        run_id = _enqueue(session, VERIFY_WHEN_RELEASED, drawing_file_id=drawing_id)
    first = environment.start_worker()

    def blocked() -> bool:
        with environment.sessions() as session:
            run = session.get(TaskRun, run_id)
            return run is not None and run.state is TaskState.RUNNING and run.progress == 10.0

    wait_for(blocked, what="the task to block mid-way")
    first.kill()
    with environment.sessions() as session:
        run = session.get(TaskRun, run_id)
        drawing = session.get(DrawingFile, drawing_id)
        assert run is not None
        assert drawing is not None
        assert (run.state, run.attempts, drawing.verified_at) == (TaskState.RUNNING, 1, None)

    release_marker(environment.data_dir, drawing_id).touch()
    environment.start_worker()
    run = wait_for(lambda: _finished(environment, run_id), what="the redelivered task to finish")
    assert (run.state, run.attempts) == (TaskState.SUCCEEDED, 2), run.message
    with environment.sessions() as session:
        verified_at = session.get(DrawingFile, drawing_id).verified_at  # type: ignore[union-attr]
    assert verified_at is not None
    assert _audit_actions(environment, drawing_id) == ["drawing_file.verified"]

    # The same message delivered once more changes nothing.
    send(run_id, VERIFY_WHEN_RELEASED, {"drawing_file_id": drawing_id}, environment.celery)
    with transaction(environment.sessions) as session:
        barrier = _enqueue(session, NOOP, drawing_file_id=drawing_id)
    wait_for(lambda: _finished(environment, barrier), what="the barrier task")
    with environment.sessions() as session:
        run = session.get(TaskRun, run_id)
        assert run is not None
        assert (run.state, run.attempts) == (TaskState.SUCCEEDED, 2)
        assert session.get(DrawingFile, drawing_id).verified_at == verified_at  # type: ignore[union-attr]
    assert _audit_actions(environment, drawing_id) == ["drawing_file.verified"]


def test_pool_process_killed_mid_task_is_run_again_by_the_same_worker(
    worker_environment: WorkerEnvironment,
) -> None:
    drawing_id = _stored_drawing(worker_environment, b"%PDF-1.7 sheet\n" * 1000)
    with transaction(worker_environment.sessions) as session:
        run_id = _enqueue(session, VERIFY_WHEN_RELEASED, drawing_file_id=drawing_id)
    worker = worker_environment.start_worker()

    def blocked_in_attempt(attempt: int) -> bool:
        with worker_environment.sessions() as session:
            run = session.get(TaskRun, run_id)
            return run is not None and run.attempts == attempt and run.progress == 10.0

    wait_for(lambda: blocked_in_attempt(1), what="the first attempt to block")
    (pool_process,) = worker.pool_processes()
    os.kill(pool_process, signal.SIGKILL)
    wait_for(lambda: blocked_in_attempt(2), what="the message to come back to a new pool process")
    release_marker(worker_environment.data_dir, drawing_id).touch()
    run = wait_for(lambda: _finished(worker_environment, run_id), what="the second attempt to finish")
    assert (run.state, run.attempts) == (TaskState.SUCCEEDED, 2), run.message
    assert worker.process.poll() is None
    assert _audit_actions(worker_environment, drawing_id) == ["drawing_file.verified"]


def test_worker_killed_mid_task_embedded_broker(worker_environment: WorkerEnvironment) -> None:
    _killed_mid_task_is_redelivered_and_done_once(worker_environment)


@pytest.mark.redis
def test_worker_killed_mid_task_redis_broker(redis_worker_environment: WorkerEnvironment) -> None:
    _killed_mid_task_is_redelivered_and_done_once(redis_worker_environment)
