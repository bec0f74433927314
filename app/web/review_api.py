"""Online review API (在线联审接口): markups, comments, clauses, comment templates and live updates.

Markups and comments carry their version as a strong ETag; changing one needs ``If-Match`` with that
version (428 without it, 412 when someone changed it first: nothing is stored). Bad geometry and other
broken rules are answered 422 with the rule's code. ``…/events`` streams the revision's changes as
server-sent events, read from the database so that every web process sees every change.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from app.errors import Invalid
from app.identity.principal import Principal
from app.review_desk import comments, context, events, markups, templates, transactions
from app.review_desk.errors import PreconditionFailed, PreconditionRequired, Rejected
from app.web.auth import principal
from app.web.errors import json_error
from app.web.rendering import platform_of
from storage.blobstore import content_disposition
from storage.models import Markup

MAX_JSON_BYTES = 8 * 1024 * 1024
"""Largest JSON body read (a megabyte of Chinese text, escaped, is six): a comment's own limit is far below and is
told with its own message, in characters."""
MAX_MULTIPART_BYTES = comments.MAX_ATTACHMENT_BYTES + 1024 * 1024
POLL_SECONDS = 0.25
"""How often a live view reads the database for changes."""
KEEPALIVE_SECONDS = 15.0
"""How often a quiet live view sends a comment line, so that proxies keep the connection."""

Handler = Callable[[Request], Awaitable[Response]]


class BodyTooLarge(Invalid):
    """A request body over the limit; it was not read to the end."""

    def __init__(self, limit: int) -> None:
        megabytes = limit // (1024 * 1024)
        super().__init__(f"请求内容过大（上限 {megabytes} MB）", f"the request is too large (at most {megabytes} MB)")


def _special(handler: Handler) -> Handler:
    """Answer the review desk's own refusals with their statuses (422, 428, 412) and codes."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Rejected as exc:
            return json_error(422, exc.code, exc.zh, exc.en)
        except BodyTooLarge as exc:
            return json_error(413, "too_large", exc.zh, exc.en)
        except PreconditionRequired as exc:
            return json_error(428, "precondition_required", exc.zh, exc.en)
        except PreconditionFailed as exc:
            headers = {"ETag": _etag(exc.current_version)} if exc.current_version is not None else None
            return json_error(412, "precondition_failed", exc.zh, exc.en, headers)

    return wrapped


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(request: Request) -> int:
    value = request.headers.get("if-match", "").strip()
    if not value:
        raise PreconditionRequired
    if value.startswith("W/"):
        value = value[2:]
    try:
        return int(value.strip('"'))
    except ValueError:
        raise PreconditionFailed from None


async def _json_body(request: Request) -> dict[str, Any]:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise BodyTooLarge(MAX_JSON_BYTES)
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"null")
    except ValueError as exc:
        raise Invalid("请求内容不是有效的 JSON", "the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise Invalid("请求内容必须是 JSON 对象", "the request body must be a JSON object")
    return body


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _run(request: Request, work: Callable[..., Any], *args: Any, commit: bool = False) -> Awaitable[Any]:
    """Run ``work(db, who, *args)`` in a worker thread with its own session; with ``commit``, as one write.

    A write returns ids; the answer is read after the commit, so that no lock is held while it is built.
    """
    who = principal(request)
    platform = platform_of(request)

    def call() -> Any:
        if commit:
            return transactions.write(platform.sessions, lambda db: work(db, who, *args))
        with platform.sessions() as db:
            return work(db, who, *args)

    return run_in_threadpool(call)


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"参数 {name} 必须是整数", f"the parameter {name} must be an integer") from None


# Sheet revision context ------------------------------------------------------------------------------


@_special
async def revision_context(request: Request) -> Response:
    """审查上下文 / What the viewer needs about a sheet revision: size, scale, tracks, changes, sibling sheets."""
    found = await _run(request, context.revision_context, request.path_params["revision_id"])
    return JSONResponse(found)


# Markups --------------------------------------------------------------------------------------------------


def _markup_response(annotation: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(annotation, status_code=status, headers={"ETag": _etag(annotation["liantu"]["version"])})


@_special
async def list_markups(request: Request) -> Response:
    """批注列表 / The markups of a sheet revision as W3C Web Annotations, in the tracks the user reads."""
    if_none_match = request.headers.get("if-none-match", "")
    base = _base(request)

    def work(db: Any, who: Principal, revision_id: int) -> tuple[str, bytes | None]:
        return markups.list_markups_body(db, who, revision_id, if_none_match=if_none_match, base=base)

    return _body_response(await _run(request, work, request.path_params["revision_id"]))


LIST_CACHE_CONTROL = "private, no-cache"
"""Lists may be kept by the browser but are revalidated each time: the browser sends ``If-None-Match`` itself."""


def _tagged(request: Request, work: Callable[..., Any]) -> Callable[..., Any]:
    if_none_match = request.headers.get("if-none-match", "")
    return lambda db, who, *args: work(db, who, *args, if_none_match=if_none_match)


def _body_response(tagged: tuple[str, bytes | None]) -> Response:
    """200 with the list's JSON, or 304 without a body when the client's ``If-None-Match`` named the list's ETag."""
    tag, body = tagged
    headers = {"ETag": tag, "Cache-Control": LIST_CACHE_CONTROL}
    if body is None:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _rebase(items: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Make the annotations' IRIs absolute, on the address the client used."""
    for item in items:
        item["id"] = base + item["id"]
        item["target"]["source"] = base + item["target"]["source"]
    return items


@_special
async def create_markup(request: Request) -> Response:
    """新建批注 / Draw a markup in one of the user's tracks: body ``{"track", "markup"}``; 422 on bad geometry."""
    who = principal(request)
    body = await _json_body(request)
    revision_id = request.path_params["revision_id"]
    # Parsed before the write begins; the write checks it against the sheet and stores it.
    shape = markups.parse_value(body.get("markup"))

    def work(db: Any, who: Principal) -> Markup:
        return markups.create_markup(db, who, revision_id, body.get("track"), shape)

    row = await _run(request, work, commit=True)
    # Built from the row in hand, after the commit: nothing is read again and no lock is held meanwhile.
    found = markups.created_annotation(row, who)
    return _markup_response(_rebase([found], _base(request))[0], 201)


@_special
async def get_markup(request: Request) -> Response:
    """批注 / One markup as a Web Annotation, with its version as ETag."""
    found = await _run(request, markups.get_markup, request.path_params["markup_id"])
    return _markup_response(_rebase([found], _base(request))[0])


@_special
async def update_markup(request: Request) -> Response:
    """修改批注 / Change one's own markup: ``If-Match`` required (428 without, 412 when stale); body ``{"markup"}``."""
    expected = _if_match(request)
    body = await _json_body(request)
    markup_id = request.path_params["markup_id"]

    def work(db: Any, who: Principal) -> None:
        markups.update_markup(db, who, markup_id, expected, body.get("markup"))

    await _run(request, work, commit=True)
    found = await _run(request, markups.get_markup, markup_id)
    return _markup_response(_rebase([found], _base(request))[0])


@_special
async def delete_markup(request: Request) -> Response:
    """删除批注 / Delete one's own markup (kept, marked deleted): ``If-Match`` required."""
    expected = _if_match(request)
    await _run(request, markups.delete_markup, request.path_params["markup_id"], expected, commit=True)
    return Response(status_code=204)


# Comments -------------------------------------------------------------------------------------------------


def _comment_response(comment: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(comment, status_code=status, headers={"ETag": _etag(comment["version"])})


@_special
async def revision_comments(request: Request) -> Response:
    """图纸审查意见 / The comments on a sheet revision in the tracks the user reads."""
    work = _tagged(request, comments.list_revision_comments_body)
    return _body_response(await _run(request, work, request.path_params["revision_id"]))


@_special
async def submission_comments(request: Request) -> Response:
    """报审审查意见 / The comments of a submission; query ``round``, ``track``, ``status``.

    ``status=open`` lists open and reopened comments.
    """
    query = comments.CommentQuery(
        round_number=_int_param(request, "round"),
        track=request.query_params.get("track") or None,
        status=request.query_params.get("status") or None,
    )
    items = await _run(request, comments.list_submission_comments, request.path_params["submission_id"], query)
    return JSONResponse({"items": items})


def _comment_fields(body: dict[str, Any]) -> dict[str, Any]:
    """What a new comment's body gives, on a sheet or on the whole submission."""
    return {name: body.get(name) for name in ("track", "severity", "text", "clause_ids", "template_id")}


@_special
async def create_comment(request: Request) -> Response:
    """新建审查意见 / Write a comment: ``{"track", "severity", "text", "clause_ids", "markup_ids"}``.

    ``template_id`` (optional) names the comment template the text came from; its use is counted.
    """
    body = await _json_body(request)
    revision_id = request.path_params["revision_id"]

    def work(db: Any, who: Principal) -> comments.Written:
        return comments.write_comment(
            db,
            who,
            revision_id,
            markup_ids=body.get("markup_ids"),
            **_comment_fields(body),
        )

    written = await _run(request, work, commit=True)
    # Built from the rows in hand, after the commit: nothing is read again.
    return _comment_response(written.json(), 201)


@_special
async def create_submission_comment(request: Request) -> Response:
    """新建总体审查意见 / A comment on the whole submission, on no sheet, in its current round.

    Body ``{"track", "severity", "text", "clause_ids", "template_id"}``, the same rules as on a sheet.
    """
    body = await _json_body(request)
    submission_id = request.path_params["submission_id"]

    def work(db: Any, who: Principal) -> comments.Written:
        return comments.write_submission_comment(
            db,
            who,
            submission_id,
            **_comment_fields(body),
        )

    written = await _run(request, work, commit=True)
    return _comment_response(written.json(), 201)


@_special
async def get_comment(request: Request) -> Response:
    """审查意见 / One comment with its thread and the actions the user may take, its version as ETag."""
    return _comment_response(await _run(request, comments.get_comment, request.path_params["comment_id"]))


async def _action_body(request: Request) -> tuple[Any, Any, comments.Attachment | None]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        body = await _json_body(request)
        return body.get("action"), body.get("text", ""), None
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_MULTIPART_BYTES:
        raise BodyTooLarge(MAX_MULTIPART_BYTES)
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("attachment")
        attachment = None
        if isinstance(upload, UploadFile):
            data = await upload.read(comments.MAX_ATTACHMENT_BYTES + 1)
            attachment = comments.Attachment(
                upload.filename or "attachment", upload.content_type or "application/octet-stream", data
            )
        return form.get("action"), form.get("text", ""), attachment


@_special
async def comment_action(request: Request) -> Response:
    """意见往来 / Answer, reply, resolve, reopen or withdraw: ``If-Match`` required; an answer may carry a file."""
    expected = _if_match(request)
    action, text, attachment = await _action_body(request)
    comment_id = request.path_params["comment_id"]
    store = platform_of(request).store if attachment is not None else None

    def work(db: Any, who: Principal) -> None:
        comments.act_on_comment(
            db, store, who, comment_id, expected_version=expected, action=action, text=text, attachment=attachment
        )

    await _run(request, work, commit=True)
    return _comment_response(await _run(request, comments.get_comment, comment_id))


@_special
async def entry_attachment(request: Request) -> Response:
    """答复附件 / The file attached to an answer."""
    store = platform_of(request).store

    def work(db: Any, who: Principal) -> tuple[bytes, str, str]:
        stream, name, media_type = comments.attachment_of(db, store, who, request.path_params["entry_id"])
        with stream:
            return stream.read(), name, media_type

    data, name, media_type = await _run(request, work)
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(name), "Cache-Control": "private, no-store"},
    )


# Clauses and templates ------------------------------------------------------------------------------------


@_special
async def clauses(request: Request) -> Response:
    """规范条文 / Search the clause catalogue: ``q`` (words of topic, number or standard), ``track``, ``limit``."""
    principal(request)
    limit = _int_param(request, "limit") or 20
    found = comments.search_clauses(
        request.query_params.get("q", ""), track=request.query_params.get("track"), limit=limit
    )
    return JSONResponse({"items": found})


@_special
async def list_templates(request: Request) -> Response:
    """常用意见库 / The user's comment templates (of ``track``), most used first."""
    items = await _run(request, templates.list_templates, request.query_params.get("track") or None)
    return JSONResponse({"items": items})


@_special
async def create_template(request: Request) -> Response:
    """保存常用意见 / Keep a comment template: ``{"track", "severity", "text", "clause_ids"}``."""
    body = await _json_body(request)

    def work(db: Any, who: Principal) -> dict[str, Any]:
        row = templates.create_template(
            db,
            who,
            track=body.get("track"),
            severity=body.get("severity"),
            text=body.get("text"),
            clause_ids=body.get("clause_ids"),
        )
        return templates.template_json(row)

    return JSONResponse(await _run(request, work, commit=True), status_code=201)


@_special
async def delete_template(request: Request) -> Response:
    """删除常用意见 / Delete one of the user's comment templates."""
    await _run(request, templates.delete_template, request.path_params["template_id"], commit=True)
    return Response(status_code=204)


# Live updates ---------------------------------------------------------------------------------------------


def _event(change: events.Change) -> bytes:
    return f"event: {change.kind}\ndata: {json.dumps(change.data())}\n\n".encode()


@_special
async def revision_events(request: Request) -> Response:
    """实时更新 / Server-sent events of the revision's markups and comments (``markup``, ``comment``)."""
    platform = platform_of(request)
    cursor = await _run(request, events.open_cursor, request.path_params["revision_id"])

    def poll() -> list[events.Change]:
        with platform.sessions() as db:
            return events.changes(db, cursor)

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 1000\n: connected\n\n"
        quiet = 0.0
        while not await request.is_disconnected():
            found = await run_in_threadpool(poll)
            for change in found:
                yield _event(change)
            quiet = 0.0 if found else quiet + POLL_SECONDS
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield b": keepalive\n\n"
            await anyio.sleep(POLL_SECONDS)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


api_routes: list[BaseRoute] = [
    Route("/sheet-revisions/{revision_id:int}/context", revision_context, methods=["GET"], name="api_revision_context"),
    Route("/sheet-revisions/{revision_id:int}/markups", list_markups, methods=["GET"], name="api_markups"),
    Route("/sheet-revisions/{revision_id:int}/markups", create_markup, methods=["POST"], name="api_markup_create"),
    Route("/markups/{markup_id:int}", get_markup, methods=["GET"], name="api_markup"),
    Route("/markups/{markup_id:int}", update_markup, methods=["PUT"], name="api_markup_update"),
    Route("/markups/{markup_id:int}", delete_markup, methods=["DELETE"], name="api_markup_delete"),
    Route(
        "/sheet-revisions/{revision_id:int}/comments", revision_comments, methods=["GET"], name="api_revision_comments"
    ),
    Route("/sheet-revisions/{revision_id:int}/comments", create_comment, methods=["POST"], name="api_comment_create"),
    Route(
        "/submissions/{submission_id:int}/comments",
        submission_comments,
        methods=["GET"],
        name="api_submission_comments",
    ),
    Route(
        "/submissions/{submission_id:int}/comments",
        create_submission_comment,
        methods=["POST"],
        name="api_submission_comment_create",
    ),
    Route("/comments/{comment_id:int}", get_comment, methods=["GET"], name="api_comment"),
    Route("/comments/{comment_id:int}/actions", comment_action, methods=["POST"], name="api_comment_action"),
    Route("/comment-entries/{entry_id:int}/attachment", entry_attachment, methods=["GET"], name="api_entry_attachment"),
    Route("/clauses", clauses, methods=["GET"], name="api_clauses"),
    Route("/comment-templates", list_templates, methods=["GET"], name="api_comment_templates"),
    Route("/comment-templates", create_template, methods=["POST"], name="api_comment_template_create"),
    Route(
        "/comment-templates/{template_id:int}", delete_template, methods=["DELETE"], name="api_comment_template_delete"
    ),
    Route("/sheet-revisions/{revision_id:int}/events", revision_events, methods=["GET"], name="api_revision_events"),
]
