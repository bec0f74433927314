"""The audit chain: appended events verify, and every kind of tampering with the rows is caught."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app import audit
from app.audit import GENESIS_HASH, AuditCode
from storage.models import AuditEvent, AuditHead


def _append(session: Session, n: int, *, start: int = 1) -> list[AuditEvent]:
    return [
        audit.record(
            session,
            actor_id=7,
            actor_name="王工",
            action="submission.submit",
            object_type="submission",
            object_id=str(i),
            summary=f"提交报审 {i}",
        )
        for i in range(start, start + n)
    ]


def _codes(report: audit.AuditReport) -> list[tuple[AuditCode, int | None]]:
    return [(p.code, p.event_id) for p in report.problems]


def test_empty_log_is_intact(session: Session) -> None:
    report = audit.verify(session)
    assert report.ok
    assert report.count == 0
    assert report.last_hash == GENESIS_HASH


def test_events_form_a_chain_from_genesis(session: Session) -> None:
    events = _append(session, 3)
    session.commit()

    assert [e.id for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    head = session.scalars(select(AuditHead)).one()
    assert (head.last_id, head.last_hash) == (3, events[2].hash)

    report = audit.verify(session)
    assert report.ok, report.problems
    assert report.count == 3
    assert report.last_hash == events[2].hash


def test_hash_follows_the_documented_layout(session: Session) -> None:
    (event,) = _append(session, 1)
    session.commit()
    session.expire_all()
    stored = session.get(AuditEvent, event.id)
    assert stored is not None
    at = stored.at if stored.at.tzinfo else stored.at.replace(tzinfo=dt.UTC)
    document = {
        "v": 1,
        "seq": 1,
        "prev_hash": "0" * 64,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": 7,
        "actor_name": "王工",
        "action": "submission.submit",
        "object_type": "submission",
        "object_id": "1",
        "summary": "提交报审 1",
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored.hash == hashlib.sha256(canonical.encode()).hexdigest()
    # Read back from the database, the time is the instant that was written, to the microsecond.
    assert at == audit.utc(event.at)


def test_naive_and_aware_times_of_the_same_instant_hash_alike() -> None:
    aware = dt.datetime(2026, 3, 1, 8, 30, 0, 120, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    naive_utc = dt.datetime(2026, 3, 1, 0, 30, 0, 120)
    fields: dict[str, Any] = {
        "seq": 1,
        "prev_hash": GENESIS_HASH,
        "actor_id": None,
        "actor_name": "系统",
        "action": "a",
        "object_type": "t",
        "object_id": "1",
        "summary": "",
    }
    assert audit.event_hash(at=aware, **fields) == audit.event_hash(at=naive_utc, **fields)
    assert audit.event_hash(at=aware, **fields) != audit.event_hash(
        at=naive_utc + dt.timedelta(microseconds=1), **fields
    )


def test_edited_row_is_caught(session: Session) -> None:
    _append(session, 4)
    session.commit()
    session.execute(text("UPDATE audit_events SET summary = '提交报审（已改）' WHERE id = 2"))

    report = audit.verify(session)
    assert not report.ok
    assert _codes(report) == [(AuditCode.HASH_MISMATCH, 2)]
    assert "#2" in str(report.problems[0])


def test_edited_time_is_caught(session: Session) -> None:
    _append(session, 2)
    session.commit()
    event = session.get(AuditEvent, 1)
    assert event is not None
    session.execute(update(AuditEvent).where(AuditEvent.id == 1).values(at=event.at - dt.timedelta(microseconds=1)))
    assert _codes(audit.verify(session)) == [(AuditCode.HASH_MISMATCH, 1)]


def test_edited_row_with_recomputed_hash_breaks_the_link(session: Session) -> None:
    events = _append(session, 3)
    session.commit()
    forged = audit.event_hash(
        seq=2,
        prev_hash=events[0].hash,
        at=events[1].at,
        actor_id=7,
        actor_name="王工",
        action="submission.submit",
        object_type="submission",
        object_id="2",
        summary="伪造",
    )
    session.execute(
        text("UPDATE audit_events SET summary = '伪造', hash = :h WHERE id = 2"),
        {"h": forged},
    )
    assert _codes(audit.verify(session)) == [(AuditCode.CHAIN_BROKEN, 3)]


def test_row_inserted_in_the_sequence_is_caught(session: Session) -> None:
    events = _append(session, 3)
    session.commit()
    session.execute(
        text(
            "INSERT INTO audit_events (id, at, actor_id, actor_name, action, object_type, object_id,"
            " summary, prev_hash, hash) VALUES (7, :at, NULL, '某人', 'x', 'submission', '1', '插入', :prev, :h)"
        ),
        {"at": events[2].at, "prev": events[2].hash, "h": "f" * 64},
    )
    codes = _codes(audit.verify(session))
    assert (AuditCode.CHAIN_BROKEN, 7) in codes
    assert (AuditCode.HASH_MISMATCH, 7) in codes
    assert (AuditCode.HEAD_MISMATCH, None) in codes


def test_row_appended_with_a_valid_hash_is_caught_by_the_head(session: Session) -> None:
    events = _append(session, 2)
    session.commit()
    at = dt.datetime.now(dt.UTC)
    fields: dict[str, Any] = {
        "actor_id": None,
        "actor_name": "某人",
        "action": "permit.issue",
        "object_type": "submission",
        "object_id": "1",
        "summary": "伪造发证",
    }
    forged = audit.event_hash(seq=3, prev_hash=events[1].hash, at=at, **fields)
    session.add(AuditEvent(id=3, at=at, prev_hash=events[1].hash, hash=forged, **fields))
    session.flush()

    assert _codes(audit.verify(session)) == [(AuditCode.HEAD_MISMATCH, None)]


def test_deleted_row_is_caught(session: Session) -> None:
    _append(session, 4)
    session.commit()
    session.execute(text("DELETE FROM audit_events WHERE id = 2"))

    report = audit.verify(session)
    assert _codes(report) == [(AuditCode.CHAIN_BROKEN, 3)]
    assert report.count == 3


def test_deleted_tail_is_caught(session: Session) -> None:
    _append(session, 3)
    session.commit()
    session.execute(text("DELETE FROM audit_events WHERE id = 3"))
    assert _codes(audit.verify(session)) == [(AuditCode.HEAD_MISMATCH, None)]


def test_whole_log_deleted_is_caught(session: Session) -> None:
    _append(session, 2)
    session.commit()
    session.execute(text("DELETE FROM audit_events"))
    report = audit.verify(session)
    assert report.count == 0
    assert _codes(report) == [(AuditCode.HEAD_MISMATCH, None)]


def test_appending_after_verify_continues_the_chain(session: Session) -> None:
    _append(session, 2)
    session.commit()
    assert audit.verify(session).ok
    _append(session, 2, start=3)
    session.commit()
    report = audit.verify(session)
    assert report.ok
    assert report.count == 4
    assert audit.event_count(session) == 4


def test_problems_are_capped_and_counted(session: Session) -> None:
    _append(session, 5)
    session.commit()
    session.execute(text("UPDATE audit_events SET summary = 'x'"))
    report = audit.verify(session, max_problems=2)
    assert not report.ok
    assert len(report.problems) == 2
    assert report.omitted == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("actor_name", ""), ("actor_name", "名" * 121), ("action", "a" * 81), ("object_id", "9" * 65)],
)
def test_fields_outside_column_limits_are_refused(session: Session, field: str, value: str) -> None:
    arguments = {
        "actor_id": None,
        "actor_name": "系统",
        "action": "a",
        "object_type": "submission",
        "object_id": "1",
        "summary": "",
    } | {field: value}
    with pytest.raises(ValueError, match=field):
        audit.record(session, **arguments)  # type: ignore[arg-type]
    assert audit.event_count(session) == 0
