"""Sending, configuration and embedded-broker recovery, without a worker process."""

from __future__ import annotations

import datetime as dt

import click
import pytest
from sqlalchemy import create_engine, text

from app.commands.worker import parse_broker_options, worker_command
from app.settings import load_settings
from app.tasks import enqueue
from app.tasks.celery_app import build_celery, default_visibility_timeout, soft_time_limit
from app.tasks.dispatch import send
from app.tasks.recovery import REQUEUED_MESSAGE, discard_delivered, recover_embedded
from storage.db import transaction
from storage.models import TaskRun, TaskState
from tests.support.workers import NOOP, WorkerEnvironment


def _queue_size(environment: WorkerEnvironment) -> int:
    with environment.celery.connection_for_write() as connection:
        return int(connection.default_channel.queue_declare("liantu", passive=True).message_count)


def test_arguments_must_be_ids(worker_environment: WorkerEnvironment) -> None:
    with worker_environment.sessions() as session, pytest.raises(TypeError, match="task arguments are IDs"):
        enqueue(session, NOOP, drawing_file_id=[1, 2])  # type: ignore[arg-type]


def test_a_run_rolled_back_with_its_savepoint_is_not_sent(worker_environment: WorkerEnvironment) -> None:
    with transaction(worker_environment.sessions) as session:
        kept = enqueue(session, NOOP, drawing_file_id=1)
        savepoint = session.begin_nested()
        enqueue(session, NOOP, drawing_file_id=2)
        session.flush()
        savepoint.rollback()
        assert _queue_size(worker_environment) == 0  # nothing before the commit
    assert _queue_size(worker_environment) == 1
    with worker_environment.sessions() as session:
        assert [run.id for run in session.query(TaskRun)] == [kept.id]
        assert session.get(TaskRun, kept.id).arguments == {"drawing_file_id": 1}  # type: ignore[union-attr]


def test_embedded_recovery_resends_only_what_has_no_message(worker_environment: WorkerEnvironment) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with transaction(worker_environment.sessions) as session:
        for run_id, state in [
            ("running", TaskState.RUNNING),
            ("lost", TaskState.QUEUED),
            ("retrying", TaskState.RETRYING),
            ("has-message", TaskState.QUEUED),
            ("done", TaskState.SUCCEEDED),
        ]:
            session.add(
                TaskRun(id=run_id, name=NOOP, arguments={"drawing_file_id": 3}, state=state, created_at=long_ago)
            )
        session.add(TaskRun(id="just-committed", name=NOOP, arguments={"drawing_file_id": 3}))
    send("has-message", NOOP, {"drawing_file_id": 3}, worker_environment.celery)

    outcome = recover_embedded(worker_environment.platform, worker_environment.celery)

    assert sorted(outcome.resent) == ["lost", "retrying", "running"]
    assert _queue_size(worker_environment) == 4
    with worker_environment.sessions() as session:
        running = session.get(TaskRun, "running")
        assert running is not None
        assert (running.state, running.message) == (TaskState.QUEUED, REQUEUED_MESSAGE)
    # A second start finds every open run with its message and sends nothing.
    assert recover_embedded(worker_environment.platform, worker_environment.celery).resent == ()


def test_delivered_messages_are_discarded(worker_environment: WorkerEnvironment) -> None:
    for run_id in ("delivered", "waiting"):
        send(run_id, NOOP, {"drawing_file_id": 4}, worker_environment.celery)
    broker = create_engine(worker_environment.settings.effective_broker_url.removeprefix("sqla+"))
    with broker.begin() as connection:
        connection.execute(text("UPDATE kombu_message SET visible = 0 WHERE payload LIKE '%delivered%'"))
    broker.dispose()
    assert _queue_size(worker_environment) == 1
    assert discard_delivered(worker_environment.settings.effective_broker_url) == 1
    assert discard_delivered(worker_environment.settings.effective_broker_url) == 0
    assert _queue_size(worker_environment) == 1


def test_celery_configuration_follows_the_settings() -> None:
    settings = load_settings({"LIANTU_DATA_DIR": "/srv/liantu", "LIANTU_TASK_TIME_LIMIT_SECONDS": "600"})
    app = build_celery(settings)
    assert app.conf.broker_url == "sqla+sqlite:////srv/liantu/broker.sqlite3"
    assert (app.conf.task_time_limit, app.conf.task_soft_time_limit) == (600, 540)
    assert app.conf.task_acks_late
    assert app.conf.task_reject_on_worker_lost
    assert not app.conf.task_always_eager
    assert (app.conf.worker_prefetch_multiplier, app.conf.accept_content) == (1, ["json"])
    with pytest.raises(ValueError, match="Redis only"):
        build_celery(settings, broker_options={"polling_interval": 0.1})

    redis = load_settings({"LIANTU_BROKER_URL": "redis://127.0.0.1:6379/3", "LIANTU_TASK_TIME_LIMIT_SECONDS": "600"})
    assert build_celery(redis).conf.broker_transport_options == {"visibility_timeout": 900}
    assert default_visibility_timeout(redis) > redis.task_time_limit_seconds
    tuned = build_celery(redis, broker_options={"visibility_timeout": 7200})
    assert tuned.conf.broker_transport_options == {"visibility_timeout": 7200}


def test_soft_limit_leaves_time_before_the_hard_one() -> None:
    assert [soft_time_limit(hard) for hard in (1, 3, 30, 1800, 36000)] == [1, 2, 27, 1740, 35940]


def test_worker_options() -> None:
    assert parse_broker_options(("visibility_timeout=7200", "ratio=0.5", "global_keyprefix=a:")) == {
        "visibility_timeout": 7200,
        "ratio": 0.5,
        "global_keyprefix": "a:",
    }
    with pytest.raises(click.BadParameter):
        parse_broker_options(("visibility_timeout",))
    argv = worker_command(concurrency=3)
    assert argv[1:4] == ["-m", "app", "worker"]
    assert "--concurrency=3" in argv
