"""An uploaded PDF goes through the intake jobs on a real worker process until its sheets are ready."""

from __future__ import annotations

import io

from sqlalchemy import select

from app.drawings import add_original
from app.intake.tasks import PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION
from storage.db import transaction
from storage.models import Sheet, SheetRevision, TaskRun, TaskState
from tests.app.intake.makers import designer_and_submission, title_block_pdf
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
