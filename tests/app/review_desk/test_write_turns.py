"""Review desk writers on SQLite take their turn on a lock file shared by every process, before SQLite's own lock."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.review_desk import transactions
from storage.db import make_engine


def _factory(path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS marks (id INTEGER PRIMARY KEY, note TEXT)"))
    return sessionmaker(bind=engine, expire_on_commit=False)


def test_a_writer_waits_for_the_turn_held_by_another_process_and_starts_when_it_is_released(tmp_path: Path) -> None:
    database = tmp_path / "turns.sqlite3"
    factory = _factory(database)
    # Another process holding the turn: a lock taken through a descriptor of its own (flock locks belong to the
    # open file, so a second open in this process conflicts exactly as another process would).
    other = os.open(f"{database}.writers", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    started = threading.Event()
    done: list[int] = []

    def write(db: Session) -> int:
        started.set()
        db.execute(text("INSERT INTO marks (note) VALUES ('mine')"))
        return 1

    writer = threading.Thread(target=lambda: done.append(transactions.write(factory, write)))
    writer.start()
    try:
        # Nothing may start while the other process has the turn.
        assert not started.wait(0.3)
        # SQLite itself is free meanwhile: the wait is on the turn, not on SQLite's busy handler.
        with factory() as probe, probe.begin():
            probe.connection(execution_options={"liantu_write": True})
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert done == [1]
    with factory() as check:
        assert check.scalar(text("SELECT count(*) FROM marks WHERE note = 'mine'")) == 1


def test_writers_of_two_processes_take_turns_and_lose_nothing(tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite3"
    _factory(database).kw["bind"].dispose()
    writes = 40
    children = []
    for name in ("a", "b"):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                factory = _factory(database)

                def one(db: Session, name: str = name) -> None:
                    db.execute(text("INSERT INTO marks (note) VALUES (:n)"), {"n": name})

                for _ in range(writes):
                    transactions.write(factory, one)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    with _factory(database)() as check:
        rows = check.execute(text("SELECT note, count(*) FROM marks GROUP BY note")).tuples()
        counts: dict[str, int] = dict(rows.all())
    assert counts == {"a": writes, "b": writes}


def test_a_write_inside_a_write_of_the_same_thread_does_not_wait_for_itself(tmp_path: Path) -> None:
    database = tmp_path / "nested.sqlite3"
    factory = _factory(database)
    memory = sessionmaker(bind=make_engine("sqlite://"), expire_on_commit=False)

    def inner(db: Session) -> int:
        return 2

    def outer(db: Session) -> int:
        # A second write in the same thread (here on another database) must not wait for the turn it holds.
        return transactions.write(memory, inner)

    finished: list[int] = []
    writer = threading.Thread(target=lambda: finished.append(transactions.write(factory, outer)))
    writer.start()
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert finished == [2]
