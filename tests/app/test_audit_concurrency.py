"""Writers on separate connections appending at the same time keep one unbroken chain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app import audit
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import AuditEvent, AuditHead

PER_WRITER = 50


@pytest.fixture
def committed_postgres(postgres_engine: Engine) -> Iterator[Engine]:
    """The run's PostgreSQL database, for a test that must really commit; its events are removed after."""
    with Session(postgres_engine) as s:
        head = s.execute(select(AuditHead.last_id, AuditHead.last_hash)).one_or_none()
    yield postgres_engine
    with Session(postgres_engine) as s, s.begin():
        if head is None:
            s.execute(delete(AuditEvent))
            s.execute(delete(AuditHead))
        else:
            s.execute(delete(AuditEvent).where(AuditEvent.id > head.last_id))
            s.execute(update(AuditHead).values(last_id=head.last_id, last_hash=head.last_hash))


@pytest.fixture
def sqlite_file_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _append_concurrently(engine: Engine, writers: int, per_writer: int) -> list[BaseException]:
    factory = sessionmaker(engine, expire_on_commit=False)
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(per_writer):
                with factory() as s, s.begin():
                    audit.record(
                        s,
                        actor_id=writer,
                        actor_name=f"writer-{writer}",
                        action="test.append",
                        object_type="test",
                        object_id=f"{writer}-{i}",
                        summary=f"并发写入 {writer}/{i}",
                    )
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def _assert_chain(engine: Engine, expected_new: int, before: int) -> None:
    with Session(engine) as s:
        report = audit.verify(s)
        assert report.ok, report.problems
        assert report.count == before + expected_new
        writers = s.scalars(select(AuditEvent.actor_name).where(AuditEvent.id > before)).all()
    # Both writers really interleaved on the one chain.
    assert set(writers) == {"writer-0", "writer-1"}


@pytest.mark.postgres
def test_two_postgres_writers_do_not_fork_the_chain(committed_postgres: Engine) -> None:
    with Session(committed_postgres) as s:
        before = audit.event_count(s)
    errors = _append_concurrently(committed_postgres, 2, PER_WRITER)
    assert errors == []
    _assert_chain(committed_postgres, 2 * PER_WRITER, before)


def test_two_sqlite_writers_do_not_fork_the_chain(sqlite_file_engine: Engine) -> None:
    errors = _append_concurrently(sqlite_file_engine, 2, 20)
    assert errors == []
    _assert_chain(sqlite_file_engine, 40, 0)
