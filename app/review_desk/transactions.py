"""One write of the review desk as one transaction, run again when the database says it read stale rows.

Two reviewers may change the same comment or markup at once. On PostgreSQL the later write finds no row of
the version it read (SQLAlchemy's ``StaleDataError``); on SQLite (WAL) a transaction that read before another
writer committed may not write at all (``SQLITE_BUSY_SNAPSHOT``), even when the two touched different rows.
Either way nothing was written; the whole unit is run again on fresh rows, where the version check tells a
real conflict (:class:`~app.review_desk.errors.PreconditionFailed`) from a mere overlap.

On SQLite the unit takes the database's one write lock before it reads anything: a transaction that has read
cannot wait for that lock (it would write on an outdated snapshot), one that has not simply waits its turn.
Writers of one process queue on a lock of their own first (:data:`_SQLITE_WRITERS`): SQLite's busy handler
polls with sleeps that grow to 100 ms, so fifty writers waiting on it alone make a long tail of latencies,
while a thread waiting on a Python lock starts the moment the one before it commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
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


_SQLITE_WRITERS = threading.RLock()
"""Held by the one review desk write of this process that is at SQLite's write lock (re-entrant: a write may nest)."""


def _queue(factory: sessionmaker[Session]) -> AbstractContextManager[object]:
    bind = factory.kw.get("bind")
    dialect = getattr(bind, "dialect", None)
    return _SQLITE_WRITERS if dialect is not None and dialect.name == "sqlite" else nullcontext()


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
