"""One write of the review desk as one transaction, run again when the database says it read stale rows.

Two reviewers may change the same comment or markup at once. On PostgreSQL the later write finds no row of
the version it read (SQLAlchemy's ``StaleDataError``); on SQLite (WAL) a transaction that read before another
writer committed may not write at all (``SQLITE_BUSY_SNAPSHOT``), even when the two touched different rows.
Either way nothing was written; the whole unit is run again on fresh rows, where the version check tells a
real conflict (:class:`~app.review_desk.errors.PreconditionFailed`) from a mere overlap.

On SQLite the unit takes the database's one write lock before it reads anything: a transaction that has read
cannot wait for that lock (it would write on an outdated snapshot), one that has not simply waits its turn.
Review desk writers queue for their turn before they ask SQLite (:class:`_Turns`): threads of one process
on a lock of their own, processes on an advisory lock of a file beside the database. SQLite's busy handler
polls with sleeps that grow to 100 ms, so writers waiting on it alone make a long tail of latencies (two web
processes at fifty reviewers: up to 2 s), while a writer waiting on a lock starts the moment the one before it
commits.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from app.review_desk.errors import PreconditionFailed
from storage.db import WRITE_OPTION

T = TypeVar("T")

ATTEMPTS = 5
"""How often one write is tried before the overlap is reported as a conflict."""


def _overtaken(exc: Exception) -> bool:
    if isinstance(exc, StaleDataError):
        return True
    return isinstance(exc, OperationalError) and (
        getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY_SNAPSHOT
    )


class _Turns:
    """Whose turn it is among the review desk writers of one SQLite database (or of this process alone)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        """Held by the one write of this process that is at SQLite's write lock (re-entrant: a write may nest)."""
        self._depth = 0
        """How deeply the thread holding the lock has nested its writes; changed only under the lock."""
        self._files: dict[tuple[int, str], int] = {}
        """Open lock files by process and database: an advisory lock held through a descriptor inherited across a
        fork would be shared with the parent, not exclusive of it."""

    def _file(self, database: str) -> int:
        key = (os.getpid(), database)
        if key not in self._files:
            self._files[key] = os.open(f"{database}.writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._files[key]

    @contextmanager
    def turn(self, database: str | None) -> Iterator[None]:
        """This thread's turn among the writers of every process; with ``database`` None, of this process."""
        with self._lock:
            handle = self._file(database) if database and self._depth == 0 else None
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if handle is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)


_TURNS = _Turns()


def _queue(factory: sessionmaker[Session]) -> AbstractContextManager[object]:
    bind = factory.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is None or url.get_backend_name() != "sqlite":
        return nullcontext()
    database = url.database
    on_disk = bool(database) and database != ":memory:" and not database.startswith("file:")
    return _TURNS.turn(database if on_disk else None)


def write(factory: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = ATTEMPTS) -> T:
    """``work(session)`` committed; repeated on fresh rows when another writer overtook it."""
    for attempt in range(1, attempts + 1):
        try:
            with _queue(factory), factory() as db, db.begin():
                # On SQLite: BEGIN IMMEDIATE, waiting (busy timeout) for other writers; nothing on PostgreSQL.
                db.connection(execution_options={WRITE_OPTION: True})
                return work(db)
        except (StaleDataError, OperationalError) as exc:
            if not _overtaken(exc):
                raise
            if attempt == attempts:
                raise PreconditionFailed from exc
    raise AssertionError("unreachable")
