"""Sheets of a submission (图纸目录), intake progress, the sheet viewer and its Deep Zoom tiles.

- ``/submissions/{id}/sheets``: every sheet of the current round with its thumbnail, identity, tracks,
  status and findings; the page polls ``/api/v1/submissions/{id}/intake`` while work is under way.
- ``/sheet-revisions/{id}``: the viewer page (OpenSeadragon from ``/vendor/openseadragon/``).
- ``/api/v1/sheet-revisions/{id}/tiles.dzi`` and ``…/tiles/{level}/{col}_{row}.png``, ``…/thumbnail.png``:
  derived artefacts from the object store. Their keys are content-addressed, so a response never changes:
  a strong ETag and an immutable, private cache lifetime let the browser keep every tile.

Every route checks that the principal may view the submission; an object of another organisation is 404.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import policy
from app.errors import NotFound
from app.etags import none_match_names
from app.identity.principal import Principal
from app.intake.keys import tile_key
from app.intake.steps_record import READY, REJECTED, SPLIT
from app.intake.steps_render import tile_prefix_of
from app.intake_desk import numbering_report
from app.policy import Action
from app.web.auth import principal, principal_cache
from app.web.i18n import catalogue, other_locale, translate
from app.web.rendering import locale_of, platform_of, render
from review.sheets.disciplines import discipline_by_code
from storage.blobstore import BlobStore
from storage.errors import BlobNotFound
from storage.models import DrawingFile, Round, Sheet, SheetRevision, Submission, TaskRun, TaskState

IMMUTABLE = "private, max-age=31536000, immutable"
OPEN_RUN_STATES = (TaskState.QUEUED, TaskState.RUNNING, TaskState.RETRYING)
WORKING = frozenset({"pending", SPLIT})
"""Sheet revision states in which more work is still to come."""


@dataclass
class SheetRow:
    """One sheet as the list shows it."""

    sheet: Sheet
    revision: SheetRevision
    tracks: list[str]
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IntakeView:
    submission: Submission
    round_number: int | None
    rows: list[SheetRow]
    files: list[DrawingFile]
    runs: list[TaskRun]


def _submission(db: Session, who: Principal, submission_id: int) -> Submission:
    submission = db.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.VIEW_SUBMISSION, submission=submission)
    return submission


def _revision(db: Session, who: Principal, revision_id: int) -> SheetRevision:
    revision = db.get(SheetRevision, revision_id)
    if revision is None:
        raise NotFound("没有该图纸", "no such sheet")
    _submission(db, who, revision.sheet.submission_id)
    return revision


def intake_view(db: Session, who: Principal, submission_id: int) -> IntakeView:
    """The sheets of the submission's latest round, its files and the intake runs about them."""
    submission = _submission(db, who, submission_id)
    latest = db.scalar(select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc()).limit(1))
    rows: list[SheetRow] = []
    if latest is not None:
        pairs = db.execute(
            select(Sheet, SheetRevision)
            .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
            .where(Sheet.submission_id == submission_id, SheetRevision.round_id == latest.id)
            .order_by(SheetRevision.drawing_file_id, SheetRevision.source_index)
        ).all()
        rows = [
            SheetRow(sheet, revision, [t.track_code for t in sheet.tracks], revision.findings)
            for sheet, revision in pairs
        ]
    files = list(
        db.scalars(select(DrawingFile).where(DrawingFile.submission_id == submission_id).order_by(DrawingFile.id))
    )
    objects = [("drawing_file", str(f.id)) for f in files] + [("sheet_revision", str(r.revision.id)) for r in rows]
    runs: list[TaskRun] = []
    if objects:
        ids_by_type: dict[str, list[str]] = {}
        for kind, object_id in objects:
            ids_by_type.setdefault(kind, []).append(object_id)
        for kind, ids in ids_by_type.items():
            runs.extend(
                db.scalars(
                    select(TaskRun)
                    .where(TaskRun.object_type == kind, TaskRun.object_id.in_(ids))
                    .order_by(TaskRun.created_at)
                )
            )
    return IntakeView(submission, latest.number if latest else None, rows, files, runs)


def _label(code: str, locale: str) -> str:
    discipline = discipline_by_code(code) if code else None
    if discipline is None:
        return code
    return discipline.en if locale == "en" else discipline.zh


def _progress(view: IntakeView, locale: str) -> dict[str, Any]:
    text = "en" if locale == "en" else "zh"
    open_runs = [run for run in view.runs if run.state in OPEN_RUN_STATES]
    return {
        "busy": bool(open_runs) or any(row.revision.status in WORKING for row in view.rows),
        "sheets": [
            {
                "revision_id": row.revision.id,
                "number": row.sheet.number,
                "status": row.revision.status,
                "thumbnail": bool(row.revision.thumbnail_key),
            }
            for row in view.rows
        ],
        "files": [
            {
                "id": f.id,
                "name": f.original_name,
                "status": f.status,
                "findings": [item[text] for item in f.findings.get("intake", []) if isinstance(item, dict)],
            }
            for f in view.files
        ],
        "runs": [
            {
                "name": run.name,
                "object": f"{run.object_type}:{run.object_id}",
                "state": run.state.value,
                "progress": run.progress,
                "message": run.message,
            }
            for run in open_runs
        ],
        "counts": {"sheets": len(view.rows), "ready": sum(1 for row in view.rows if row.revision.status == READY)},
        "rejected": [f.original_name for f in view.files if f.status == REJECTED],
    }


def sheet_list(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    locale = locale_of(request)
    with platform_of(request).sessions() as db:
        view = intake_view(db, who, submission_id)
        return render(
            request,
            "sheets/list.html",
            view=view,
            submission=view.submission,
            project=view.submission.project,
            discipline_label=lambda code: _label(code, locale),
            text_key="en" if locale == "en" else "zh",
            progress=_progress(view, locale),
            numbering=numbering_report((row.sheet.number, row.revision.title_block) for row in view.rows),
        )


def intake_progress(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    with platform_of(request).sessions() as db:
        view = intake_view(db, who, submission_id)
        response = JSONResponse(_progress(view, locale_of(request)))
    response.headers["Cache-Control"] = "no-store"
    return response


VIEWER_MESSAGES = "viewer.ui."
"""Prefix of the catalogue keys the viewer's scripts show; the page hands them over as JSON."""
BILINGUAL_MESSAGES = ("viewer.ui.conflict", "viewer.ui.failed")


def _viewer_config(db: Session, revision: SheetRevision, locale: str) -> dict[str, Any]:
    """What the viewer's scripts start from before (or without) the review context of the API."""
    siblings = db.execute(
        select(Sheet, SheetRevision)
        .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
        .where(Sheet.submission_id == revision.sheet.submission_id, SheetRevision.round_id == revision.round_id)
        .order_by(Sheet.number)
    ).all()
    api = f"/api/v1/sheet-revisions/{revision.id}"
    return {
        "revision_id": revision.id,
        "number": revision.sheet.number,
        "title": revision.sheet.title,
        "width_pt": revision.width_pt,
        "height_pt": revision.height_pt,
        "units_per_point": revision.units_per_point,
        "units": revision.units,
        "scale": revision.scale,
        "dzi": f"{api}/tiles.dzi",
        "images": "/vendor/openseadragon/images/",
        "sheets": [
            {
                "revision_id": other.id,
                "number": sheet.number,
                "title": sheet.title,
                "thumbnail": f"/api/v1/sheet-revisions/{other.id}/thumbnail.png" if other.thumbnail_key else None,
            }
            for sheet, other in siblings
        ],
        "locale": locale,
        "messages": {k: v for k, v in catalogue(locale).items() if k.startswith(VIEWER_MESSAGES)},
        # Conflicts are told in both languages, the current one first.
        "other_messages": {k: translate(other_locale(locale), k) for k in BILINGUAL_MESSAGES},
    }


def sheet_viewer(request: Request) -> Response:
    who = principal(request)
    revision_id: int = request.path_params["revision_id"]
    locale = locale_of(request)
    with platform_of(request).sessions() as db:
        revision = _revision(db, who, revision_id)
        submission = db.get_one(Submission, revision.sheet.submission_id)
        return render(
            request,
            "sheets/viewer.html",
            revision=revision,
            sheet=revision.sheet,
            submission=submission,
            project=submission.project,
            text_key="en" if locale == "en" else "zh",
            viewer_config=_viewer_config(db, revision, locale),
        )


def _etag(key: str) -> str:
    # Derived keys name their content (source hash, versions, parameters): the key identifies the bytes.
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:40] + '"'


def _read(store: BlobStore, key: str) -> bytes:
    try:
        with store.open(key) as stream:
            return stream.read()
    except BlobNotFound as exc:
        raise NotFound("该图纸尚未生成", "this sheet has not been rendered yet") from exc


def _blob(request: Request, key: str | None, media_type: str) -> Response:
    if not key:
        raise NotFound("该图纸尚未生成", "this sheet has not been rendered yet")
    etag = _etag(key)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if none_match_names(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(_read(platform_of(request).store, key), media_type=media_type, headers=headers)


def _revision_keys(request: Request) -> tuple[str | None, str | None]:
    who = principal(request)
    revision_id: int = request.path_params["revision_id"]
    with platform_of(request).sessions() as db:
        revision = _revision(db, who, revision_id)
        return revision.tiles_key, revision.thumbnail_key


def tiles_descriptor(request: Request) -> Response:
    dzi, _ = _revision_keys(request)
    return _blob(request, dzi, "application/xml")


def _tile_pyramid(request: Request, who: Principal, revision_id: int) -> str | None:
    # One query, with the policy's SQL face of the same rules as ``_revision``, both decides access
    # and finds the pyramid.
    with platform_of(request).sessions() as db:
        return db.scalar(
            select(SheetRevision.tiles_key)
            .join(Sheet, Sheet.id == SheetRevision.sheet_id)
            .join(Submission, Submission.id == Sheet.submission_id)
            .where(SheetRevision.id == revision_id, policy.visible_submissions(who))
        )


async def tile(request: Request) -> Response:
    """One tile of the pyramid; a viewer asks for hundreds per sheet, so the common case does no database work.

    "This principal may read revision R, whose pyramid is P" is kept in the principal cache for its
    lifetime (and forgotten with the principal when the user changes): only the first tile of a sheet
    pays for the access query. A tile of a store that reads without blocking (the local folder) is read
    on the event loop: a stat and a read of a small file in the page cache cost less than the hop to a
    worker thread. Other stores are read in a worker thread.
    """
    who = principal(request)
    revision_id: int = request.path_params["revision_id"]
    cache = principal_cache(request)
    fact = ("tiles", revision_id)
    dzi: str | None = cache.recall(who.user_id, fact)
    if dzi is None:
        generation = cache.generation
        dzi = await run_in_threadpool(_tile_pyramid, request, who, revision_id)
        if not dzi:
            raise NotFound("没有该图纸，或尚未生成", "no such sheet, or it has not been rendered yet")
        cache.remember(who.user_id, fact, dzi, generation)
    params = request.path_params
    key = tile_key(tile_prefix_of(dzi), f"{params['level']}/{params['col']}_{params['row']}.png")
    etag = _etag(key)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if none_match_names(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    store = platform_of(request).store
    if store.reads_without_blocking:
        body = _read(store, key)
    else:
        body = await run_in_threadpool(_read, store, key)
    return Response(body, media_type="image/png", headers=headers)


def thumbnail(request: Request) -> Response:
    _, key = _revision_keys(request)
    return _blob(request, key, "image/png")


routes = [
    Route("/submissions/{submission_id:int}/sheets", sheet_list, methods=["GET"], name="sheet_list"),
    Route("/sheet-revisions/{revision_id:int}", sheet_viewer, methods=["GET"], name="sheet_viewer"),
    Route("/api/v1/submissions/{submission_id:int}/intake", intake_progress, methods=["GET"], name="intake_progress"),
    Route("/api/v1/sheet-revisions/{revision_id:int}/tiles.dzi", tiles_descriptor, methods=["GET"], name="sheet_dzi"),
    Route(
        "/api/v1/sheet-revisions/{revision_id:int}/tiles/{level:int}/{col:int}_{row:int}.png",
        tile,
        methods=["GET"],
        name="sheet_tile",
    ),
    Route(
        "/api/v1/sheet-revisions/{revision_id:int}/thumbnail.png", thumbnail, methods=["GET"], name="sheet_thumbnail"
    ),
]
