"""Upload API (上传接口) under ``/api/v1``: resumable chunked uploads and a one-shot upload for scripts.

Request bodies are streamed: Starlette's async body is read from a worker thread
(:class:`BodyReader`) straight into the object store, so no more than one network chunk is held
in memory. No database transaction stays open while bytes stream: the handlers check in one
short transaction and record in another. Sniffing and hashing are the only work done here;
verification and rendering are queued for the workers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio.from_thread
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import uploads
from app.drawings import AddedFile, add_original
from app.errors import Invalid, LiantuError
from app.projects import FileRow, submission_files
from app.web.auth import principal
from app.web.rendering import platform_of
from storage.db import transaction
from storage.models import DrawingFile

MAX_JSON_BYTES = 64 * 1024
SNAPSHOT_ATTEMPTS = 3

T = TypeVar("T")


def retry_outdated_snapshot(work: Callable[[], T]) -> T:
    """Run ``work`` again when SQLite refuses a write from a snapshot another writer has overtaken.

    Joining chunks reads the submission, streams for a while, then writes; on SQLite (WAL) a
    second upload committing in between makes that write fail at once. Repeating is safe: the
    chunks are still there and the store keeps one copy of an original however often it is sent.
    """
    for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
        try:
            return work()
        except OperationalError as exc:
            outdated = getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY_SNAPSHOT
            if not outdated or attempt == SNAPSHOT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


class BodyReader:
    """A blocking ``read(size)`` over a request's async body, for use from a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def read(self, size: int = -1, /) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < 1):
            piece = anyio.from_thread.run(self._next)
            if piece is None:
                self._done = True
            else:
                self._buffer += piece
                if size >= 0:
                    break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def drawing_json(drawing: DrawingFile, *, duplicate: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": drawing.id,
        "submission_id": drawing.submission_id,
        "original_name": drawing.original_name,
        "size": drawing.size,
        "sha256": drawing.sha256,
        "media_type": drawing.media_type,
        "kind": (drawing.findings or {}).get("kind"),
        "status": drawing.status,
        "uploaded_at": drawing.uploaded_at.isoformat(),
        "verified_at": drawing.verified_at.isoformat() if drawing.verified_at else None,
    }
    if duplicate is not None:
        body["duplicate"] = duplicate
    return body


def status_json(status: uploads.UploadStatus) -> dict[str, Any]:
    return {
        "upload_id": status.upload_id,
        "submission_id": status.submission_id,
        "file_name": status.file_name,
        "size": status.size,
        "chunk_size": status.chunk_size,
        "chunk_count": status.chunk_count,
        "received": list(status.received),
        "state": status.state.value,
        "drawing_file_id": status.drawing_file_id,
    }


async def _json_body(request: Request) -> dict[str, Any]:
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_JSON_BYTES:
            raise Invalid("请求内容过长", "the request body is too long")
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise Invalid("请求内容不是有效的 JSON", "the request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise Invalid("请求内容应为 JSON 对象", "the request body must be a JSON object")
    return value


def _integer(value: Any, zh: str, en: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{zh}应为整数", f"{en} must be an integer")
    return value


async def start_upload(request: Request) -> Response:
    """开始分块上传 / Start a resumable upload.

    JSON body: ``file_name``, ``size`` (bytes), optional ``chunk_size`` (bytes, default 8 MiB) and
    ``sha256`` (of the whole file, checked on completion). Answers 201 with the upload's id, its
    chunk size and count. 413 when the file exceeds the platform's limit, 409 when the submission
    is no longer with the designer, 404 for a submission the user may not upload to.
    """
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]
    body = await _json_body(request)
    size = _integer(body.get("size"), "文件大小", "size")
    chunk_size = None if body.get("chunk_size") is None else _integer(body["chunk_size"], "分块大小", "chunk_size")
    sha256 = body.get("sha256")

    def work() -> dict[str, Any]:
        with transaction(platform.sessions) as db:
            upload = uploads.start_upload(
                db,
                who,
                submission_id,
                file_name=str(body.get("file_name") or ""),
                size=size,
                chunk_size=chunk_size,
                sha256=str(sha256) if sha256 is not None else None,
                max_bytes=platform.settings.max_upload_bytes,
            )
            return status_json(uploads.status_of(upload))

    return JSONResponse(await run_in_threadpool(work), status_code=201)


async def get_upload(request: Request) -> Response:
    """上传进度 / The state of an upload and the chunks the server holds.

    A client that reconnects (after a page reload) sends only the chunks missing from ``received``.
    """
    who = principal(request)
    platform = platform_of(request)
    upload_id: str = request.path_params["upload_id"]

    def work() -> dict[str, Any]:
        with platform.sessions() as db:
            return status_json(uploads.upload_status(db, who, upload_id))

    return JSONResponse(await run_in_threadpool(work))


async def put_chunk(request: Request) -> Response:
    """上传分块 / Send one chunk of an upload (raw body).

    The body is the chunk's bytes: exactly ``chunk_size`` bytes, or the rest for the last chunk.
    An optional ``X-Chunk-SHA256`` header is checked; a mismatch answers 400 and keeps nothing.
    Sending a chunk again replaces it. 409 when the upload is completed or aborted.
    """
    who = principal(request)
    platform = platform_of(request)
    upload_id: str = request.path_params["upload_id"]
    index: int = request.path_params["index"]
    declared = request.headers.get("x-chunk-sha256")

    def prepare() -> uploads.ChunkTarget:
        with platform.sessions() as db:
            return uploads.chunk_target(db, who, upload_id, index)

    target = await run_in_threadpool(prepare)
    info = await run_in_threadpool(
        uploads.store_chunk, platform.store, target, BodyReader(request.stream()), sha256=declared
    )

    def save() -> dict[str, Any]:
        with transaction(platform.sessions) as db:
            chunk = uploads.record_chunk(db, who, target, info)
            return {"index": chunk.index, "size": chunk.size, "sha256": chunk.sha256}

    def record() -> dict[str, Any]:
        try:
            answer = retry_outdated_snapshot(save)
        except LiantuError:
            uploads.discard_objects(platform.store, [target.key])
            raise
        return answer

    return JSONResponse(await run_in_threadpool(record))


async def complete_upload(request: Request) -> Response:
    """完成分块上传 / Join the chunks into one drawing file.

    Every chunk must be present (409 otherwise). The joined file is sniffed, hashed and stored as
    an original; a declared size or SHA-256 that does not match answers 400 and stores nothing.
    Answers the drawing file, with ``duplicate: true`` when the submission already had the same file.
    """
    who = principal(request)
    platform = platform_of(request)
    upload_id: str = request.path_params["upload_id"]

    def work() -> tuple[dict[str, Any], tuple[str, ...]]:
        with transaction(platform.sessions) as db:
            done = uploads.complete_upload(
                db,
                platform.store,
                who,
                upload_id,
                max_bytes=platform.settings.max_upload_bytes,
                accept_dwg=platform.settings.oda_converter is not None,
            )
            answer = drawing_json(done.added.drawing_file, duplicate=done.added.duplicate)
        return answer, done.leftovers

    answer, leftovers = await run_in_threadpool(retry_outdated_snapshot, work)
    await run_in_threadpool(uploads.discard_objects, platform.store, leftovers)
    return JSONResponse(answer, status_code=200 if answer["duplicate"] else 201)


async def abort_upload(request: Request) -> Response:
    """放弃分块上传 / Abort an upload and delete its chunks.

    409 when the upload was already completed.
    """
    who = principal(request)
    platform = platform_of(request)
    upload_id: str = request.path_params["upload_id"]

    def work() -> tuple[str, ...]:
        with transaction(platform.sessions) as db:
            return uploads.abort_upload(db, who, upload_id)

    leftovers = await run_in_threadpool(work)
    await run_in_threadpool(uploads.discard_objects, platform.store, leftovers)
    return JSONResponse({"upload_id": upload_id, "state": "aborted"})


async def upload_file(request: Request) -> Response:
    """一次性上传文件 / Upload one file in a single request (for scripts).

    The raw body is the file; ``?name=`` gives its file name. The kind is judged by content (PDF,
    DXF, ZIP). 400 for other kinds, 413 above the size limit, 503 when the store is down (nothing
    is recorded then). Answers the drawing file, with ``duplicate``.
    """
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]
    name = request.query_params.get("name", "")
    reader = BodyReader(request.stream())

    def work() -> dict[str, Any]:
        with transaction(platform.sessions) as db:
            added: AddedFile = add_original(
                db,
                platform.store,
                who,
                submission_id,
                reader,
                file_name=name,
                max_bytes=platform.settings.max_upload_bytes,
                accept_dwg=platform.settings.oda_converter is not None,
            )
            return drawing_json(added.drawing_file, duplicate=added.duplicate)

    answer = await run_in_threadpool(work)
    return JSONResponse(answer, status_code=200 if answer["duplicate"] else 201)


async def list_files(request: Request) -> Response:
    """图纸文件列表 / The drawing files of a submission.

    Each with its size, SHA-256, kind, uploader and verification state (verified, queued,
    running, failed or corrupt).
    """
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]

    def work() -> list[dict[str, Any]]:
        with platform.sessions() as db:
            return [_file_row(row) for row in submission_files(db, who, submission_id)]

    return JSONResponse({"files": await run_in_threadpool(work)})


def _file_row(row: FileRow) -> dict[str, Any]:
    body = drawing_json(row.drawing_file)
    body.update({"uploaded_by": row.uploaded_by, "verification": row.verification, "progress": row.progress})
    return body


api_routes: list[BaseRoute] = [
    Route("/submissions/{submission_id:int}/uploads", start_upload, methods=["POST"], name="api_upload_start"),
    Route("/submissions/{submission_id:int}/files", upload_file, methods=["POST"], name="api_file_upload"),
    Route("/submissions/{submission_id:int}/files", list_files, methods=["GET"], name="api_files"),
    Route("/uploads/{upload_id:str}", get_upload, methods=["GET"], name="api_upload"),
    Route("/uploads/{upload_id:str}", abort_upload, methods=["DELETE"], name="api_upload_abort"),
    Route("/uploads/{upload_id:str}/chunks/{index:int}", put_chunk, methods=["PUT"], name="api_upload_chunk"),
    Route("/uploads/{upload_id:str}/complete", complete_upload, methods=["POST"], name="api_upload_complete"),
]
