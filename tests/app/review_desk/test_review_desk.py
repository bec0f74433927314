"""Review desk use cases on SQLite and PostgreSQL: access, markups with versions, comments, issue, templates, events."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, Forbidden, NotFound
from app.review_desk import comments, events, markups, templates, transactions
from app.review_desk.access import revision_view
from app.review_desk.errors import PreconditionFailed, Rejected
from app.tracks import CIVIL_AIR_DEFENCE, FIRE
from storage.blobstore import LocalBlobStore
from storage.models import AuditEvent, Comment, CommentTemplate, Markup, Notification, TrackReviewState
from tests.app.review_desk.makers import (
    CLAUSE,
    RECT,
    SCRIPT,
    Case,
    hand_to_designer,
    issued_at,
    make_case,
    set_track_state,
)


@pytest.fixture
def case(session: Session) -> Case:
    return make_case(session, "RD")


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


def count(session: Session, model: type, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def rejected(code: str, work: Any, *args: Any, **kwargs: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        work(*args, **kwargs)
    assert caught.value.code == code, caught.value
    assert caught.value.zh
    assert caught.value.en
    return caught.value


def test_access_matrix_for_markups(session: Session, case: Case) -> None:
    fire_markup = markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    airdef_markup = markups.create_markup(session, case.airdef, case.revision_id, CIVIL_AIR_DEFENCE, RECT)

    # Reviewers write only in their own track…
    with pytest.raises(Forbidden):
        markups.create_markup(session, case.fire, case.revision_id, CIVIL_AIR_DEFENCE, RECT)
    # …and read every track of the submission, editing only their own markups.
    seen = markups.list_markups(session, case.airdef, case.revision_id)
    assert {item["liantu"]["id"]: item["liantu"]["editable"] for item in seen} == {
        fire_markup.id: False,
        airdef_markup.id: True,
    }
    assert len(markups.list_markups(session, case.bureau, case.revision_id)) == 2
    assert all(not item["liantu"]["editable"] for item in markups.list_markups(session, case.bureau, case.revision_id))

    # The designer sees a track once it has issued its comments for the round.
    assert markups.list_markups(session, case.designer, case.revision_id) == []
    with pytest.raises(NotFound):
        markups.get_markup(session, case.designer, fire_markup.id)
    comments.issue_comments(session, case.fire_lead, case.round_id, FIRE)
    assert [m["liantu"]["id"] for m in markups.list_markups(session, case.designer, case.revision_id)] == [
        fire_markup.id
    ]
    with pytest.raises(Forbidden):
        markups.create_markup(session, case.designer, case.revision_id, FIRE, RECT)

    # Everybody else is told the sheet does not exist.
    for stranger in (case.outsider, case.clerk):
        with pytest.raises(NotFound):
            markups.list_markups(session, stranger, case.revision_id)
        with pytest.raises(NotFound):
            markups.get_markup(session, stranger, fire_markup.id)
    with pytest.raises(NotFound):
        markups.list_markups(session, case.fire, 10**9)


def test_markup_changes_need_the_author_the_version_and_an_open_review(session: Session, case: Case) -> None:
    row = markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    assert row.version == 1
    moved = {**RECT, "points": [[110, 70], [210, 130]]}

    with pytest.raises(Forbidden):  # another reviewer of the same track
        markups.update_markup(session, case.fire2, row.id, 1, moved)
    markups.update_markup(session, case.fire, row.id, 1, moved)
    assert row.version == 2

    # A change made on the old version is refused and leaves the stored shape alone.
    with pytest.raises(PreconditionFailed) as stale:
        markups.update_markup(session, case.fire, row.id, 1, RECT)
    assert stale.value.current_version == 2
    session.refresh(row)
    assert row.shape["points"] == [[110.0, 70.0], [210.0, 130.0]]
    with pytest.raises(PreconditionFailed):
        markups.delete_markup(session, case.fire, row.id, 1)

    set_track_state(session, case, FIRE, TrackReviewState.REVISE)
    with pytest.raises(Conflict):
        markups.update_markup(session, case.fire, row.id, 2, RECT)
    set_track_state(session, case, FIRE, TrackReviewState.IN_REVIEW)

    markups.delete_markup(session, case.fire, row.id, 2)
    assert row.deleted_at is not None
    assert count(session, Markup, Markup.id == row.id) == 1  # kept, marked deleted
    assert markups.list_markups(session, case.fire, case.revision_id) == []
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "markup", AuditEvent.object_id == str(row.id))
    ).all()
    assert actions == ["markup.created", "markup.updated", "markup.deleted"]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ({"kind": "polygon", "points": [[10, 10], [100, 100], [100, 10], [10, 100]]}, "MARKUP_SELF_INTERSECTING"),
        ({"kind": "rectangle", "points": [[500, 300], [900, 700]]}, "MARKUP_OUTSIDE_SHEET"),
        (
            {"kind": "polyline", "points": [[10 + i * 0.05, 10 + (i % 2)] for i in range(6000)]},
            "MARKUP_TOO_MANY_VERTICES",
        ),
        ({"kind": "rectangle", "points": [[10, 10], [20, "x"]]}, "MARKUP_VALUE_INVALID"),
        ({"kind": "star", "points": [[10, 10], [20, 20]]}, "MARKUP_VALUE_INVALID"),
        ({"kind": "rectangle", "points": [[10, 10], [20, 20]], "onclick": "x"}, "MARKUP_VALUE_INVALID"),
        ({"kind": "rectangle", "points": [[10, 10], [20, 20]], "colour": "red"}, "MARKUP_COLOUR_INVALID"),
        ("rectangle", "MARKUP_VALUE_INVALID"),
    ],
)
def test_bad_geometry_is_refused_with_its_code(session: Session, case: Case, value: Any, code: str) -> None:
    rejected(code, markups.create_markup, session, case.fire, case.revision_id, FIRE, value)
    assert count(session, Markup, Markup.sheet_revision_id == case.revision_id) == 0


def test_comments_validate_text_clauses_and_markups(session: Session, case: Case) -> None:
    mine = markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    theirs = markups.create_markup(session, case.airdef, case.revision_id, CIVIL_AIR_DEFENCE, RECT)
    write = comments.create_comment

    huge = rejected(
        "COMMENT_TEXT_TOO_LONG",
        write,
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="general",
        text="疏" * 1_000_000,
    )
    assert "1000000" in huge.zh
    assert "1000000" in huge.en
    rejected(
        "COMMENT_CLAUSE_UNKNOWN",
        write,
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="general",
        text="x",
        clause_ids=["GB 99999-2099:1.1"],
    )
    rejected(
        "COMMENT_CLAUSE_MISSING",
        write,
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="mandatory",
        text="疏散距离不足",
    )
    rejected(
        "COMMENT_SEVERITY_INVALID", write, session, case.fire, case.revision_id, track=FIRE, severity="fatal", text="x"
    )
    rejected(
        "COMMENT_MARKUPS_INVALID",
        write,
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="general",
        text="x",
        markup_ids=[theirs.id],
    )
    rejected(
        "COMMENT_TEXT_EMPTY", write, session, case.fire, case.revision_id, track=FIRE, severity="general", text="   "
    )
    with pytest.raises(Forbidden):
        write(session, case.airdef, case.revision_id, track=FIRE, severity="general", text="x")
    assert count(session, Comment) == 0

    row = write(
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="mandatory",
        text=SCRIPT,
        clause_ids=[CLAUSE, CLAUSE],
        markup_ids=[mine.id],
    )
    shown = comments.get_comment(session, case.fire, row.id)
    assert shown["text"] == SCRIPT  # stored as text; pages and files escape it
    assert shown["clauses"] == [
        {"id": CLAUSE, "code": "GB 50016-2014", "clause": "5.5.17", "title_zh": "公共建筑的安全疏散距离"}
    ]
    assert shown["markup_ids"] == [mine.id]
    assert shown["allowed_actions"] == ["reply", "withdraw"]
    assert shown["sheet_number"] == "建施-01"
    assert shown["round_number"] == 1
    assert mine.comment_id == row.id
    annotation = markups.get_markup(session, case.airdef, mine.id)
    assert annotation["body"]["value"] == SCRIPT
    # A markup serves one comment only.
    rejected(
        "COMMENT_MARKUPS_INVALID",
        write,
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="general",
        text="again",
        markup_ids=[mine.id],
    )


def test_comment_thread_issue_and_answer(session: Session, case: Case, store: LocalBlobStore) -> None:
    row = comments.create_comment(
        session, case.fire, case.revision_id, track=FIRE, severity="general", text="疏散宽度不足"
    )
    with pytest.raises(NotFound):
        comments.get_comment(session, case.designer, row.id)
    assert comments.list_revision_comments(session, case.designer, case.revision_id) == []
    assert [c["id"] for c in comments.list_revision_comments(session, case.airdef, case.revision_id)] == [row.id]

    with pytest.raises(Forbidden):  # a reviewer does not issue: the track lead does
        comments.issue_comments(session, case.fire, case.round_id, FIRE)
    assert comments.issue_comments(session, case.fire_lead, case.round_id, FIRE) == 1
    assert issued_at(session, case, FIRE) is not None
    notes = session.scalars(select(Notification).where(Notification.user_id == case.designer.user_id)).all()
    assert [n.kind for n in notes] == ["comments_issued"]
    assert comments.issue_comments(session, case.fire_lead, case.round_id, FIRE) == 0  # nothing new, nobody told twice
    assert count(session, Notification, Notification.user_id == case.designer.user_id) == 1

    seen = comments.get_comment(session, case.designer, row.id)
    assert seen["issued_at"] is not None
    assert seen["allowed_actions"] == []  # still in review: not in the designer's hands yet
    v = seen["version"]
    assert v == 2
    for action in ("answer", "reply"):
        with pytest.raises(Conflict) as refused:
            comments.act_on_comment(session, None, case.designer, row.id, expected_version=v, action=action, text="x")
        assert "修改" in refused.value.zh
        assert "revision" in refused.value.en
    hand_to_designer(session, case)
    assert comments.get_comment(session, case.designer, row.id)["allowed_actions"] == ["answer", "reply"]
    with pytest.raises(Forbidden):  # only the author withdraws
        comments.act_on_comment(session, None, case.fire2, row.id, expected_version=v, action="withdraw")

    answered = comments.act_on_comment(
        session,
        store,
        case.designer,
        row.id,
        expected_version=v,
        action="answer",
        text="已加宽至 1.4 m",
        attachment=comments.Attachment("说明.pdf", "application/pdf", b"%PDF-1.7 answer"),
    )
    assert answered.status == "answered"
    assert answered.version == v + 1
    with pytest.raises(PreconditionFailed):
        comments.act_on_comment(session, None, case.fire, row.id, expected_version=v, action="resolve")
    with pytest.raises(Forbidden):  # designers answer, never resolve
        comments.act_on_comment(session, None, case.designer, row.id, expected_version=v + 1, action="resolve")
    with pytest.raises(Conflict):  # the status machine refuses a second answer
        comments.act_on_comment(
            session, None, case.designer, row.id, expected_version=v + 1, action="answer", text="再答"
        )
    comments.act_on_comment(session, None, case.fire, row.id, expected_version=v + 1, action="reopen", text="仍不满足")
    replied = comments.act_on_comment(
        session, None, case.fire2, row.id, expected_version=v + 2, action="reply", text="同意"
    )
    assert replied.status == "reopened"
    assert replied.version == v + 3
    comments.act_on_comment(
        session, None, case.designer, row.id, expected_version=v + 3, action="answer", text="已修改"
    )
    done = comments.act_on_comment(session, None, case.fire_lead, row.id, expected_version=v + 4, action="resolve")
    assert done.status == "resolved"

    shown = comments.get_comment(session, case.designer, row.id)
    assert [(e["action"], e["role"]) for e in shown["entries"]] == [
        ("answer", "designer"),
        ("reopen", "reviewer"),
        ("reply", "reviewer"),
        ("answer", "designer"),
        ("resolve", "track_lead"),
    ]
    attachment = shown["entries"][0]["attachment"]
    assert attachment["name"] == "说明.pdf"
    entry_id = shown["entries"][0]["id"]
    stream, name, media_type = comments.attachment_of(session, store, case.designer, entry_id)
    with stream:
        assert stream.read() == b"%PDF-1.7 answer"
    assert (name, media_type) == ("说明.pdf", "application/pdf")
    with pytest.raises(NotFound):
        comments.attachment_of(session, store, case.outsider, entry_id)

    listed = comments.list_submission_comments(
        session, case.designer, case.submission_id, comments.CommentQuery(round_number=1, track=FIRE)
    )
    assert [c["status"] for c in listed] == ["resolved"]
    assert (
        comments.list_submission_comments(
            session, case.designer, case.submission_id, comments.CommentQuery(status="open")
        )
        == []
    )
    with pytest.raises(NotFound):
        comments.list_submission_comments(session, case.outsider, case.submission_id)


def test_templates_are_personal_and_count_their_use(session: Session, case: Case) -> None:
    kept = templates.create_template(
        session, case.fire, track=FIRE, severity="mandatory", text="疏散距离不满足规范要求", clause_ids=[CLAUSE]
    )
    with pytest.raises(Forbidden):
        templates.create_template(session, case.fire, track=CIVIL_AIR_DEFENCE, severity="general", text="x")
    rejected(
        "COMMENT_CLAUSE_UNKNOWN",
        templates.create_template,
        session,
        case.fire,
        track=FIRE,
        severity="general",
        text="x",
        clause_ids=["nope"],
    )
    comments.create_comment(
        session,
        case.fire,
        case.revision_id,
        track=FIRE,
        severity="mandatory",
        text=kept.text,
        clause_ids=kept.clause_ids,
        template_id=kept.id,
    )
    assert templates.list_templates(session, case.fire, FIRE)[0]["use_count"] == 1
    assert templates.list_templates(session, case.fire2) == []
    rejected(
        "COMMENT_TEMPLATE_UNKNOWN",
        comments.create_comment,
        session,
        case.fire2,
        case.revision_id,
        track=FIRE,
        severity="general",
        text="x",
        template_id=kept.id,
    )
    with pytest.raises(NotFound):
        templates.delete_template(session, case.fire2, kept.id)
    templates.delete_template(session, case.fire, kept.id)
    assert count(session, CommentTemplate) == 0


def test_events_report_changes_once_and_only_in_readable_tracks(session: Session, case: Case) -> None:
    before = markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    reviewer = events.open_cursor(session, case.airdef, case.revision_id)
    designer = events.open_cursor(session, case.designer, case.revision_id)
    assert events.changes(session, reviewer) == []

    created = markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    markups.update_markup(session, case.fire, before.id, 1, {**RECT, "points": [[10, 10], [50, 50]]})
    row = comments.create_comment(session, case.fire, case.revision_id, track=FIRE, severity="general", text="x")
    found = {(c.kind, c.id, c.version, c.change) for c in events.changes(session, reviewer)}
    assert found == {
        ("markup", created.id, 1, "created"),
        ("markup", before.id, 2, "updated"),
        ("comment", row.id, 1, "created"),
    }
    assert events.changes(session, reviewer) == []  # each change once
    assert events.changes(session, designer) == []  # fire has not issued yet

    markups.delete_markup(session, case.fire, created.id, 1)
    assert [(c.kind, c.change) for c in events.changes(session, reviewer)] == [("markup", "deleted")]

    comments.issue_comments(session, case.fire_lead, case.round_id, FIRE)
    hand_to_designer(session, case)
    comments.act_on_comment(session, None, case.designer, row.id, expected_version=2, action="reply", text="收到")
    assert ("comment", row.id, 3, "updated") in {
        (c.kind, c.id, c.version, c.change) for c in events.changes(session, designer)
    }
    with pytest.raises(NotFound):
        events.open_cursor(session, case.outsider, case.revision_id)


def test_revision_view_reads_every_track_for_reviewers_only(session: Session, case: Case) -> None:
    assert revision_view(session, case.airdef, case.revision_id).readable is None
    assert revision_view(session, case.designer, case.revision_id).readable == frozenset()


def test_a_race_between_two_writers_of_one_version_keeps_the_first(own_engine: Engine) -> None:
    """PostgreSQL: both read version 1, the first commits, the second is refused; nothing of the first is lost."""
    engine = own_engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes its one write lock before reading (next test): two writers cannot interleave")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as setup, setup.begin():
        case = make_case(setup, f"R{uuid.uuid4().hex[:6]}")
        markup_id = markups.create_markup(setup, case.fire, case.revision_id, FIRE, RECT).id
    attempts: list[int] = []

    def late_change(db: Session) -> Markup:
        seen = db.get_one(Markup, markup_id)  # kept: the identity map holds rows weakly
        attempts.append(seen.version)
        if len(attempts) == 1:  # the other writer commits between this read and this write
            with factory() as early, early.begin():
                markups.update_markup(early, case.fire, markup_id, 1, {**RECT, "points": [[10, 10], [60, 60]]})
        return markups.update_markup(db, case.fire, markup_id, 1, {**RECT, "points": [[300, 200], [400, 300]]})

    with pytest.raises(PreconditionFailed):
        transactions.write(factory, late_change)
    assert attempts == [1, 2]  # tried again on fresh rows, where the version check refused it
    with factory() as check:
        stored = check.get_one(Markup, markup_id)
        assert stored.version == 2
        assert stored.shape["points"] == [[10.0, 10.0], [60.0, 60.0]]


def test_sqlite_writes_hold_the_write_lock_from_their_start(own_engine: Engine) -> None:
    engine = own_engine
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as setup, setup.begin():
        case = make_case(setup, f"S{uuid.uuid4().hex[:6]}")
    path = engine.url.database
    assert path

    def change(db: Session) -> int:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE audit_head SET last_id = last_id WHERE 0")
        finally:
            other.close()
        return markups.create_markup(db, case.fire, case.revision_id, FIRE, RECT).id

    assert transactions.write(factory, change) > 0
