"""How many SQL statements the review desk's busiest calls run, on SQLite and PostgreSQL: pinned, so they cannot creep.

Fifty reviewers list and draw all day; each statement is a round trip and, in a write, time under the lock.
The budgets are what the calls run today on SQLite. The audit chain (:func:`app.audit.record`) takes at most
four statements there (taking the head, reading it, the event, moving the head), one fewer on PostgreSQL.
Signing in is the web layer's and not counted here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from app.review_desk import comments, markups, templates
from app.review_desk.markups import annotation, created_annotation, stored_shape
from app.tracks import FIRE
from review.markups.annotation import to_web_annotation
from tests.app.review_desk.makers import CLAUSE, RECT, Case, hand_to_designer, make_case

AUDIT = 4
"""Most statements one audit event takes."""
BUDGET = {
    "access": 1,  # the revision, its sheet, the submission with project, rounds and track reviews
    "list markups": 1 + 3,  # access, the markups, their authors' names, their comments' texts
    "create markup": 1 + 1 + AUDIT,  # access, the row, the audit event
    "list comments": 1 + 4,  # access, the comments, their threads, the names, their markups
    "list unchanged": 1 + 1,  # access, the list's ETag figures (count, highest id, sum of versions)
    "create comment": 1 + 1 + 1 + 1 + 1 + AUDIT,  # access, markups named, template counted, the row, markups linked
    "answer": 3 + 2 + AUDIT,  # the comment, access, its thread; the entry, the comment's version; the audit event
}


@pytest.fixture
def case(session: Session) -> Case:
    return make_case(session, "SB")


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The statements run on ``engine`` inside the block (BEGIN and SAVEPOINT bookkeeping left out)."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append(" ".join(statement.split())[:120])

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def within(engine: Engine, session: Session, name: str, call: Callable[[], Any]) -> Any:
    session.expunge_all()  # nothing from the identity map: every row is read as a fresh request reads it
    with counted(engine) as seen:
        result = call()
        session.flush()
    assert len(seen) <= BUDGET[name], f"{name}: {len(seen)} statements, budget {BUDGET[name]}:\n" + "\n".join(seen)
    return result


def test_the_review_desk_stays_within_its_statement_budget(engine: Engine, session: Session, case: Case) -> None:
    for _ in range(3):
        markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    kept = templates.create_template(session, case.fire, track=FIRE, severity="general", text="疏散宽度不足")
    session.flush()

    from app.review_desk.access import revision_view

    within(engine, session, "access", lambda: revision_view(session, case.fire, case.revision_id))
    drawn = within(
        engine,
        session,
        "create markup",
        lambda: markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT),
    )
    comment = within(
        engine,
        session,
        "create comment",
        lambda: comments.create_comment(
            session,
            case.fire,
            case.revision_id,
            track=FIRE,
            severity="mandatory",
            text="疏散宽度不足",
            clause_ids=[CLAUSE],
            markup_ids=[drawn.id],
            template_id=kept.id,
        ),
    )
    listed = within(engine, session, "list markups", lambda: markups.list_markups(session, case.fire, case.revision_id))
    assert len(listed) == 4
    assert [m["liantu"]["comment_id"] for m in listed].count(comment.id) == 1
    shown = within(
        engine, session, "list comments", lambda: comments.list_revision_comments(session, case.fire, case.revision_id)
    )
    assert [c["markup_ids"] for c in shown] == [[drawn.id]]
    for tagged in (markups.list_markups_tagged, comments.list_revision_comments_tagged):
        tag, items = tagged(session, case.fire, case.revision_id)
        assert items == (listed if tagged is markups.list_markups_tagged else shown)
        kept_tag, nothing = within(
            engine,
            session,
            "list unchanged",
            lambda tagged=tagged, tag=tag: tagged(session, case.fire, case.revision_id, if_none_match=tag),
        )
        assert (kept_tag, nothing) == (tag, None)
    # The API's bodies, assembled from cached JSON, say what the lists say (twice: uncached, then cached).
    for _ in range(2):
        assert json.loads(markups.list_markups_body(session, case.fire, case.revision_id)[1] or b"") == {
            "items": listed
        }
        body = comments.list_revision_comments_body(session, case.fire, case.revision_id)[1]
        assert json.loads(body or b"") == {"items": shown}

    comments.issue_comments(session, case.fire_lead, case.round_id, FIRE)
    hand_to_designer(session, case)
    version = comments.get_comment(session, case.designer, comment.id)["version"]
    answered = within(
        engine,
        session,
        "answer",
        lambda: comments.act_on_comment(
            session, None, case.designer, comment.id, expected_version=version, action="answer", text="已加宽"
        ),
    )
    assert answered.status == "answered"


def test_a_created_markup_is_answered_without_reading_anything(engine: Engine, session: Session, case: Case) -> None:
    row = markups.create_markup(session, case.fire, case.revision_id, FIRE, RECT)
    session.flush()
    with counted(engine) as seen:
        made = created_annotation(row, case.fire, base="http://x")
    assert seen == []
    assert made == markups.get_markup(session, case.fire, row.id, base="http://x")


def test_a_drawn_annotation_is_the_web_annotation_of_its_shape(session: Session, case: Case) -> None:
    """The cached SVG selector is what :func:`to_web_annotation` draws, and follows a change of the shape."""
    cloud = {"kind": "cloud", "points": [[100, 60], [200, 60], [200, 120], [100, 120]], "cloud_arc": 12}
    row = markups.create_markup(session, case.fire, case.revision_id, FIRE, cloud)
    session.flush()
    for _ in range(2):  # drawn, then from the cache
        made = annotation(row, author_name="甲", comment_text="见大样", editable=True, base="")
        expected = to_web_annotation(
            stored_shape(row),
            annotation_id=f"/api/v1/markups/{row.id}",
            sheet_revision_iri=f"/api/v1/sheet-revisions/{case.revision_id}",
            creator="甲",
            created=markups.aware(row.created_at),
            modified=markups.aware(row.updated_at),
            comment_text="见大样",
        )
        assert {key: value for key, value in made.items() if key != "liantu"} == expected
    before = made["target"]["selector"][0]["value"]
    # Another database may hold a different markup under the same id and version: its shape is drawn afresh.
    row.shape = {**row.shape, "points": [[10, 10], [300, 10], [300, 200], [10, 200]]}
    again = annotation(row, author_name="甲", comment_text="", editable=True, base="")
    assert again["target"]["selector"][0]["value"] != before
    assert again["liantu"]["markup"]["points"][1] == [300, 10]
