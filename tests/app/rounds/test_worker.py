"""The rounds jobs on a real worker: letters after the conclusions, compare and carry-over after resubmission."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from app.drawings import add_original
from app.rounds.answers import answer_comment, resubmit
from app.rounds.conclude import conclude_track
from app.tasks.runs import OPEN_STATES
from app.tracks import CIVIL_AIR_DEFENCE, FIRE
from storage.db import transaction
from storage.models import Comment, Markup, OpinionLetter, RevisionComparison, TaskRun
from tests.app.rounds.conftest import build_case, sheet_dxf
from tests.app.rounds.helpers import comment_with_box
from tests.app.rounds.test_resubmission import NEAR_CHANGE
from tests.support.workers import WorkerEnvironment, wait_for


def test_letters_and_comparison_are_made_by_the_worker(worker_environment: WorkerEnvironment) -> None:
    env = worker_environment
    store = env.platform.store
    case = build_case(env.sessions, store)
    env.start_worker()

    def idle() -> bool | None:
        # SQLite takes one writer at a time: the test writes only while the worker has nothing to do.
        with env.sessions() as db:
            busy = db.scalar(select(func.count()).select_from(TaskRun).where(TaskRun.state.in_(OPEN_STATES)))
        return True if busy == 0 else None

    wait_for(idle, timeout=120, what="intake of the first round")
    comment_id, _ = comment_with_box(
        env.sessions, case.fire_reviewer, case.revisions["建施-03"], FIRE, NEAR_CHANGE, "加疏散口"
    )
    with transaction(env.sessions) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "revise")
        conclude_track(db, case.airdef_lead, case.round_id, CIVIL_AIR_DEFENCE, "passed")
    wait_for(idle, timeout=180, what="the letters job")
    with env.sessions() as db:
        assert {row.track_code for row in db.scalars(select(OpinionLetter))} == {FIRE, CIVIL_AIR_DEFENCE, None}

    with transaction(env.sessions) as db:
        version = db.get_one(Comment, comment_id).version
        answer_comment(db, None, case.designer, comment_id, expected_version=version, text="已增设疏散口")
        add_original(
            db,
            store,
            case.designer,
            case.submission_id,
            io.BytesIO(sheet_dxf("建施-03", added_circle=True)),
            file_name="建施-03 修改.dxf",
            max_bytes=10**8,
        )
    wait_for(idle, timeout=120, what="intake of the revised sheet")
    with transaction(env.sessions) as db:
        done = resubmit(db, store, case.designer, case.submission_id)
    assert len(done.matches.by_number) == 1
    revision_id = done.matches.by_number[0]

    def compared() -> RevisionComparison | None:
        with env.sessions() as db:
            row = db.get(RevisionComparison, revision_id)
            return row if row is not None and row.computed_at is not None else None

    comparison = wait_for(compared, timeout=120, what="the comparison of the revised sheet")
    assert comparison.method == "entities"
    assert comparison.regions
    with env.sessions() as db:
        carried = db.scalars(select(Markup).where(Markup.sheet_revision_id == revision_id)).one()
        assert carried.region_changed is True
