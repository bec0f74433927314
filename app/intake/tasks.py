"""The intake jobs: ``drawing_file.process`` per uploaded file, ``sheet_revision.render`` per sheet, and
``drawing_file.entity_index`` per DXF file, queued after its render jobs.

A ZIP archive sent to ``drawing_file.process`` is expanded (:mod:`app.intake.archive`) instead of split:
its drawings become drawing files of their own, each with its own ``drawing_file.process``.

Both are thin: they run a pipeline function (:mod:`app.intake.pipeline`) and mark themselves done in the
transaction that records its effect. The job time limit of the worker applies (``LIANTU_TASK_TIME_LIMIT_SECONDS``).

Memory: a damaged or hostile drawing can make a renderer allocate without bound. Before the work, the pool
process caps its own address space (``RLIMIT_AS``) at :data:`ADDRESS_SPACE_LIMIT_BYTES`, so such a file ends
in a ``MemoryError`` (the run fails with its message) instead of the machine swapping. The cap is set once
and stays for the life of that pool process; it is only lowered, never raised.
"""

from __future__ import annotations

import logging
import resource

from sqlalchemy.orm import Session

from app.intake.dwg import DwgConverter
from app.intake.pipeline import ProcessOutcome, index_drawing_file, process_drawing_file, render_sheet_revision
from app.settings import Settings
from app.tasks.dispatch import enqueue
from app.tasks.jobs import VERIFY_DRAWING_FILE
from app.tasks.runs import JobRun, job
from review.archives import ArchiveLimits

log = logging.getLogger(__name__)

PROCESS_DRAWING_FILE = "drawing_file.process"
RENDER_SHEET_REVISION = "sheet_revision.render"
INDEX_DRAWING_FILE = "drawing_file.entity_index"

ADDRESS_SPACE_LIMIT_BYTES = 8 * 1024**3
"""Virtual memory a pool process may reserve while it renders (tile bands, MuPDF display lists, threads)."""


def queue_new_original(session: Session, drawing_file_id: int) -> None:
    """Queue what every newly stored original goes through: verification, then processing (sent after commit)."""
    for task in (VERIFY_DRAWING_FILE, PROCESS_DRAWING_FILE):
        enqueue(session, task, object_type="drawing_file", object_id=drawing_file_id, drawing_file_id=drawing_file_id)


def limit_memory(limit: int = ADDRESS_SPACE_LIMIT_BYTES) -> None:
    """Lower this process's address-space cap to ``limit`` unless it is already lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        return
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        log.warning("could not cap the address space at %d bytes", limit)


def dwg_converter(settings: Settings) -> DwgConverter | None:
    """The configured DWG converter, or None when DWG originals cannot be converted."""
    if settings.oda_converter is None:
        return None
    return DwgConverter(settings.oda_converter, settings.dwg_timeout_seconds)


@job(PROCESS_DRAWING_FILE)
def process_drawing_file_job(run: JobRun, drawing_file_id: int) -> str:
    """拆分并识别图纸 / Split an uploaded file into sheets and identify them by their title blocks."""
    limit_memory()
    # Imported here: the archive step queues this very job for each member it adds.
    from app.intake.archive import expand_archive, holds_archive

    platform = run.platform
    if holds_archive(platform.sessions, platform.store, drawing_file_id):
        expanded = expand_archive(
            platform.sessions,
            platform.store,
            drawing_file_id,
            limits=ArchiveLimits.for_upload(platform.settings.max_upload_bytes),
            report=run.report,
            finish=lambda session, outcome: run.complete(session, outcome.message),
        )
        return expanded.message

    def finish(session: Session, outcome: ProcessOutcome) -> None:
        for revision_id in outcome.revision_ids:
            enqueue(
                session,
                RENDER_SHEET_REVISION,
                object_type="sheet_revision",
                object_id=revision_id,
                sheet_revision_id=revision_id,
            )
        if outcome.indexable:
            # The one queue is first in, first out: queued last, the index waits for the tiling.
            enqueue(
                session,
                INDEX_DRAWING_FILE,
                object_type="drawing_file",
                object_id=drawing_file_id,
                drawing_file_id=drawing_file_id,
            )
        run.complete(session, outcome.message)

    outcome = process_drawing_file(
        platform.sessions,
        platform.store,
        drawing_file_id,
        report=run.report,
        finish=finish,
        dwg=dwg_converter(platform.settings),
    )
    return outcome.message


@job(RENDER_SHEET_REVISION)
def render_sheet_revision_job(run: JobRun, sheet_revision_id: int) -> str:
    """生成图纸切片与缩略图 / Tile a sheet for the viewer, make its thumbnail and index its text."""
    limit_memory()
    platform = run.platform
    return render_sheet_revision(
        platform.sessions,
        platform.store,
        sheet_revision_id,
        report=run.report,
        finish=run.complete,
        dwg=dwg_converter(platform.settings),
    )


@job(INDEX_DRAWING_FILE)
def index_drawing_file_job(run: JobRun, drawing_file_id: int) -> str:
    """建立图元索引 / Index the entities of each DXF layout for fast revision compares."""
    limit_memory()
    platform = run.platform
    return index_drawing_file(
        platform.sessions,
        platform.store,
        drawing_file_id,
        report=run.report,
        dwg=dwg_converter(platform.settings),
    )
