"""The audit log (审计日志): every state change, appended to one hash chain.

Each :class:`~storage.models.AuditEvent` carries the hash of the event before it, so that editing,
inserting or deleting a row afterwards is visible to :func:`verify`. The single
:class:`~storage.models.AuditHead` row names the newest event; it is what writers lock, and what
shows that the tail of the chain was cut off.

What is hashed
--------------
``hash = sha256(canonical JSON)`` in lowercase hex, where the JSON object has exactly these keys::

    v            1 (the version of this layout)
    seq          position in the chain, from 1; stored as the row's id
    prev_hash    hash of the event at seq - 1; 64 zeros for the first event
    at           time of the event, UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always microseconds)
    actor_id     integer or null
    actor_name   text
    action       text
    object_type  text
    object_id    text
    summary      text

Canonical JSON: keys sorted, no whitespace (``","`` and ``":"`` separators), non-ASCII characters
written as themselves, encoded as UTF-8. The time is normalised to UTC before formatting because
SQLite hands back naive datetimes while PostgreSQL hands back aware ones in the session's zone;
both must hash alike, at write time and at every read-back.

The row id is the sequence position: :func:`record` assigns ``id = head.last_id + 1`` while
holding the head, so ids are dense and a gap means a deleted row. The database's own id sequence
is never used for this table.

Concurrency
-----------
On PostgreSQL the head row is taken with ``SELECT … FOR UPDATE``: a second writer waits until the
first commits and then reads the new head (READ COMMITTED re-reads a locked row), so two writers
cannot both extend the same event. On SQLite there is only one writer at a time: :func:`record`
first writes the head (a no-op update) to take the database's write lock, waiting for the busy
timeout, and only then reads it; a transaction that had already read an older state cannot write
at all (SQLite refuses to upgrade a stale snapshot), so the chain cannot fork there either.
In both cases the primary key on the position and the unique ``hash`` column stop a forked
append even if the locking were bypassed. The head lock is held until the transaction ends:
call :func:`record` as the last step before committing.

What this does not protect against: someone with write access to the database who rewrites the
chain from a point onwards *and* updates the head. Anchoring the head elsewhere (a signed
result, an external timestamp) would be needed for that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first event of the chain."""

HEAD_ID = 1
"""Primary key of the only :class:`AuditHead` row."""

HASH_LAYOUT_VERSION = 1

_STREAM_BATCH = 1000

# Statements on the head, built once: they run on every state change. Core statements on the
# table skip the ORM's bulk-update machinery, which would otherwise dominate the cost of record().
_HEAD = AuditHead.metadata.tables[AuditHead.__tablename__]
_TAKE_WRITE_LOCK = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(last_id=_HEAD.c.last_id)
_READ_HEAD_FOR_UPDATE = select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_id=bindparam("new_last_id"), last_hash=bindparam("new_last_hash"))
)

# Column widths of storage.models.AuditEvent: PostgreSQL enforces them, SQLite does not, so they
# are checked here to behave alike on both.
_LIMITS = {"actor_name": 120, "action": 80, "object_type": 40, "object_id": 64}


class AuditCode(StrEnum):
    """Codes of the problems :func:`verify` reports."""

    HASH_MISMATCH = "AUDIT_HASH_MISMATCH"
    """An event's content does not match its hash: the row was changed."""
    CHAIN_BROKEN = "AUDIT_CHAIN_BROKEN"
    """An event does not follow the one before it: a row was inserted or deleted."""
    HEAD_MISMATCH = "AUDIT_HEAD_MISMATCH"
    """The head does not name the last event: the tail was cut off or added to."""


@dataclass(frozen=True)
class AuditProblem:
    """One finding of :func:`verify`."""

    code: AuditCode
    """What kind of damage was found."""
    event_id: int | None
    """The event where it shows, or None for the head."""
    zh: str
    """Description in Chinese."""
    en: str
    """Description in English."""

    def __str__(self) -> str:
        where = f"#{self.event_id}" if self.event_id is not None else "head"
        return f"{self.code} {where}: {self.zh} / {self.en}"


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :func:`verify`."""

    ok: bool
    """True when the whole chain and its head are intact."""
    count: int
    """Number of events read."""
    problems: tuple[AuditProblem, ...] = ()
    """The findings, in chain order, at most ``max_problems`` of them."""
    omitted: int = 0
    """Findings left out of :attr:`problems` because there were too many."""
    last_hash: str = GENESIS_HASH
    """Hash of the last event read (64 zeros for an empty log)."""


def record(
    session: Session,
    *,
    actor_id: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str | int,
    summary: str,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction and return it (flushed).

    The head stays locked until the transaction ends; commit soon after.
    """
    values = {
        "actor_name": actor_name,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
    }
    for name, text in values.items():
        if not text or len(text) > _LIMITS[name]:
            raise ValueError(f"audit {name} must be 1..{_LIMITS[name]} characters, got {len(text)}")

    last_id, last_hash = _lock_head(session)
    at = utc(dt.datetime.now(dt.UTC))
    seq = last_id + 1
    event = AuditEvent(
        id=seq,
        at=at,
        actor_id=actor_id,
        summary=summary,
        prev_hash=last_hash,
        **values,
    )
    event.hash = event_hash(
        seq=seq,
        prev_hash=last_hash,
        at=at,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary,
    )
    session.add(event)
    session.flush([event])
    session.execute(_MOVE_HEAD, {"new_last_id": seq, "new_last_hash": event.hash})
    return event


def verify(session: Session, *, max_problems: int = 1000) -> AuditReport:
    """Re-read the whole chain in id order, streaming, and report every break.

    Each event is checked against its own hash, against the hash and position of the event before
    it, and the last one against the head.
    """
    problems: list[AuditProblem] = []
    total = 0

    def found(problem: AuditProblem) -> None:
        nonlocal total
        total += 1
        if len(problems) < max_problems:
            problems.append(problem)

    count = 0
    previous_id = 0
    previous_hash = GENESIS_HASH
    for row in _stream(session):
        count += 1
        expected = event_hash(
            seq=row.id,
            prev_hash=row.prev_hash,
            at=row.at,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            summary=row.summary,
        )
        if expected != row.hash:
            found(
                AuditProblem(
                    AuditCode.HASH_MISMATCH,
                    row.id,
                    f"事件 #{row.id} 的内容与其哈希不符，记录已被改动",
                    f"event #{row.id} does not match its hash: the row was changed",
                )
            )
        if row.id != previous_id + 1:
            found(
                AuditProblem(
                    AuditCode.CHAIN_BROKEN,
                    row.id,
                    f"事件 #{previous_id} 之后应为 #{previous_id + 1}，实为 #{row.id}：有记录被删除或插入",
                    f"event #{previous_id + 1} expected after #{previous_id}, found #{row.id}:"
                    " a row was deleted or inserted",
                )
            )
        elif row.prev_hash != previous_hash:
            found(
                AuditProblem(
                    AuditCode.CHAIN_BROKEN,
                    row.id,
                    f"事件 #{row.id} 未指向前一事件的哈希：有记录被替换或插入",
                    f"event #{row.id} does not point at the hash of the event before it:"
                    " a row was replaced or inserted",
                )
            )
        previous_id = row.id
        previous_hash = row.hash

    head = session.execute(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)).one_or_none()
    head_id, head_hash = (head.last_id, head.last_hash) if head is not None else (0, GENESIS_HASH)
    if (head_id, head_hash) != (previous_id, previous_hash):
        found(
            AuditProblem(
                AuditCode.HEAD_MISMATCH,
                None,
                f"链头指向事件 #{head_id}，而最后一条记录是 #{previous_id}：链尾被截断或追加",
                f"the head names event #{head_id} but the last row is #{previous_id}:"
                " the tail was cut off or appended to",
            )
        )
    return AuditReport(
        ok=total == 0,
        count=count,
        problems=tuple(problems),
        omitted=total - len(problems),
        last_hash=previous_hash,
    )


def event_hash(
    *,
    seq: int,
    prev_hash: str,
    at: dt.datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str,
    summary: str,
) -> str:
    """The hash of one event, as described in this module's docstring."""
    document = {
        "v": HASH_LAYOUT_VERSION,
        "seq": seq,
        "prev_hash": prev_hash,
        "at": utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "summary": summary,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def utc(moment: dt.datetime) -> dt.datetime:
    """The same instant as an aware UTC datetime; a naive value (SQLite) is taken to be UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def event_count(session: Session) -> int:
    """Number of events stored (for pages and tests; :func:`verify` counts while it checks)."""
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _lock_head(session: Session) -> tuple[int, str]:
    """Lock the head row (creating it on first use) and return (last_id, last_hash)."""
    dialect = session.get_bind(AuditHead).dialect.name
    if dialect == "sqlite":
        # Take SQLite's write lock before reading the head: a transaction that only read would
        # hold a snapshot that may be outdated by the time it writes, and would then fail.
        session.execute(_TAKE_WRITE_LOCK)
    head = session.execute(_READ_HEAD_FOR_UPDATE).one_or_none()
    if head is None:
        # Two first writers may race to create the head: the loser's insert does nothing (on
        # PostgreSQL it waits for the winner's commit) and both then queue on the row lock.
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(AuditHead)
            .values(id=HEAD_ID, last_id=0, last_hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=[AuditHead.id])
        )
        head = session.execute(_READ_HEAD_FOR_UPDATE).one()
    return head.last_id, head.last_hash


def _stream(session: Session) -> Iterator[Row[tuple[int, dt.datetime, int | None, str, str, str, str, str, str, str]]]:
    query = (
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.actor_id,
            AuditEvent.actor_name,
            AuditEvent.action,
            AuditEvent.object_type,
            AuditEvent.object_id,
            AuditEvent.summary,
            AuditEvent.prev_hash,
            AuditEvent.hash,
        )
        .order_by(AuditEvent.id)
        .execution_options(yield_per=_STREAM_BATCH)
    )
    yield from session.execute(query)
