"""An uploaded PDF goes through the intake jobs on a real worker process until its sheets are ready."""

from __future__ import annotations

import io

from sqlalchemy import select

from app.drawings import add_original
from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import principal_from_user
from app.intake.tasks import PROCESS_DRAWING_FILE, RENDER_SHEET_REVISION
from app.tracks import ensure_tracks
from storage.db import transaction
from storage.models import OrgKind, Project, Role, Sheet, SheetRevision, Submission, TaskRun, TaskState
from tests.app.intake.makers import title_block_pdf
from tests.support.workers import WorkerEnvironment, wait_for

# A fixed hash: hashing a password is slow on purpose and not under test here.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"


def test_an_uploaded_pdf_becomes_ready_sheets(worker_environment: WorkerEnvironment) -> None:
    env = worker_environment
    with transaction(env.sessions) as session:
        ensure_tracks(session)
        institute = create_organization(session, "联图测试设计院", OrgKind.DESIGN_INSTITUTE)
        new = check_new_user(session, institute, "d.li", "d.li", [(Role.DESIGNER, None)])
        designer = principal_from_user(insert_user(session, institute, new, PASSWORD_HASH))
        project = Project(organization_id=institute.id, code="JC-2026-0201", name="滨江小学")
        session.add(project)
        session.flush()
        submission = Submission(project_id=project.id)
        session.add(submission)
        session.flush()
        submission_id = submission.id
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
