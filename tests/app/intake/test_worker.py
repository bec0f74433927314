"""Uploaded drawings go through the intake jobs on a real worker process until their sheets are ready or refused."""

from __future__ import annotations

import hashlib
import io

from sqlalchemy import select

from app.drawings import add_original
from app.intake.keys import entity_index_key
from app.intake.steps_read import ENTITY_INDEX_VERSION
from app.intake.tasks import INDEX_DRAWING_FILE, PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION
from review.compare.index import EntityIndex
from storage.db import transaction
from storage.models import DrawingFile, Sheet, SheetRevision, TaskRun, TaskState
from tests.app.intake.makers import SHEETS, designer_and_submission, layout_dxf, title_block_pdf
from tests.support.workers import WorkerEnvironment, wait_for


def test_an_uploaded_pdf_becomes_ready_sheets(worker_environment: WorkerEnvironment) -> None:
    env = worker_environment
    with transaction(env.sessions) as session:
        designer, submission_id = designer_and_submission(session, "JC-2026-0201")
        added = add_original(
            session,
            env.platform.store,
            designer,
            submission_id,
            io.BytesIO(title_block_pdf()),
            file_name="建施.pdf",
            max_bytes=10**8,
        )
        drawing_file_id = added.drawing_file.id
    env.start_worker()

    def ready() -> list[tuple[str, str]] | None:
        with env.sessions() as session:
            rows = session.execute(
                select(Sheet.number, SheetRevision.status)
                .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
                .where(Sheet.submission_id == submission_id)
                .order_by(Sheet.number)
            ).all()
        states = [(str(number), str(status)) for number, status in rows]
        return states if len(states) == 2 and all(status == "ready" for _, status in states) else None

    states = wait_for(ready, timeout=60, what="both sheets to be ready")
    assert states == [("建施-01", "ready"), ("建施-02", "ready")]
    with env.sessions() as session:
        runs = session.scalars(select(TaskRun).where(TaskRun.name.in_([PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION])))
        by_name: dict[str, list[TaskRun]] = {}
        for run in runs:
            by_name.setdefault(run.name, []).append(run)
        [process] = by_name[PROCESS_DRAWING_FILE]
        assert process.object_id == str(drawing_file_id)
        assert process.state is TaskState.SUCCEEDED, process.message
        assert "2" in process.message
        assert len(by_name[RENDER_SHEET_REVISION]) == 2
        assert all(run.state is TaskState.SUCCEEDED for run in by_name[RENDER_SHEET_REVISION])
        revisions = session.scalars(select(SheetRevision)).all()
        assert all(env.platform.store.exists(r.tiles_key or "-") for r in revisions)


def test_bad_files_end_in_a_message_and_the_worker_goes_on(worker_environment: WorkerEnvironment) -> None:
    """An encrypted PDF, a 250-inch page and a good sheet in one submission, on one worker."""
    from tests.app.intake.test_bad_inputs import big_page_pdf

    env = worker_environment
    files = {
        "加密.pdf": title_block_pdf(SHEETS[:1], password="secret"),
        "超大.pdf": big_page_pdf(250.0),
        "建施-02.pdf": title_block_pdf(SHEETS[1:]),
    }
    with transaction(env.sessions) as session:
        designer, submission_id = designer_and_submission(session, "JC-2026-0202")
        ids = {
            name: add_original(
                session, env.platform.store, designer, submission_id, io.BytesIO(data), file_name=name, max_bytes=10**8
            ).drawing_file.id
            for name, data in files.items()
        }
    worker = env.start_worker()

    def settled() -> dict[str, str] | None:
        with env.sessions() as session:
            rows = session.execute(
                select(Sheet.number, SheetRevision.status)
                .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
                .where(Sheet.submission_id == submission_id)
            ).all()
            encrypted = session.get_one(DrawingFile, ids["加密.pdf"]).status
        states = {str(number): str(status) for number, status in rows}
        done = encrypted == "rejected" and len(states) == 2 and "split" not in states.values()
        return states if done else None

    states = wait_for(settled, timeout=60, what="the three files to settle")
    assert states == {"建施-09": "unrenderable", "建施-02": "ready"}
    with env.sessions() as session:
        [refusal] = session.get_one(DrawingFile, ids["加密.pdf"]).findings["intake"]
        assert "加密" in refusal["zh"]
        assert "encrypted" in refusal["en"]
        runs = session.scalars(select(TaskRun).where(TaskRun.name.in_([PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION])))
        # Refusals are outcomes of the jobs, not failures of the worker.
        assert {run.state for run in runs} == {TaskState.SUCCEEDED}
    assert worker.process.poll() is None
    assert worker.pool_processes()


def test_an_uploaded_dxf_is_ready_then_indexed_by_its_own_job(worker_environment: WorkerEnvironment) -> None:
    env = worker_environment
    dxf = layout_dxf()
    with transaction(env.sessions) as session:
        designer, submission_id = designer_and_submission(session, "JC-2026-0203")
        drawing_file_id = add_original(
            session, env.platform.store, designer, submission_id, io.BytesIO(dxf), file_name="建施.dxf", max_bytes=10**8
        ).drawing_file.id
    env.start_worker()
    names = [PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION, INDEX_DRAWING_FILE]

    def settled() -> dict[str, TaskRun] | None:
        with env.sessions() as session:
            runs = {run.name: run for run in session.scalars(select(TaskRun).where(TaskRun.name.in_(names)))}
        finished = len(runs) == 3 and all(run.state is TaskState.SUCCEEDED for run in runs.values())
        return runs if finished else None

    runs = wait_for(settled, timeout=90, what="the split, render and index jobs to succeed")
    index_run, render_run = runs[INDEX_DRAWING_FILE], runs[RENDER_SHEET_REVISION]
    assert index_run.object_id == str(drawing_file_id)
    assert "1 entity indexes built" in index_run.message
    # Queued after the render job on the one first-in, first-out queue.
    assert index_run.started_at is not None
    assert render_run.started_at is not None
    assert index_run.started_at >= render_run.started_at
    with env.sessions() as session:
        [revision] = session.scalars(select(SheetRevision)).all()
        assert revision.status == "ready"
    key = entity_index_key(hashlib.sha256(dxf).hexdigest(), 0, ENTITY_INDEX_VERSION)
    with env.platform.store.open(key) as stream:
        assert EntityIndex.from_bytes(stream.read()).layout_name == "建施-03"
