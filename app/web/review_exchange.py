"""Exchange endpoints (数据交换): XFDF in and out, the annotated sheet PDF, the comment list as CSV and XLSX.

Every answer is built by :mod:`app.review_exchange`; this module reads requests and shapes responses.
A refused XFDF file (hostile XML, too large, not XFDF) is answered 422 with the domain's own code
(``XML_DOCTYPE_REFUSED``, ``XML_TOO_LARGE``…), so that a script can tell the reasons apart.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.errors import Invalid
from app.review_desk import transactions
from app.review_desk.errors import Rejected
from app.review_exchange import (
    MAX_XFDF_BYTES,
    CommentFilter,
    CommentLine,
    ImportOutcome,
    ThreadEntry,
    annotated_pdf,
    comment_lines,
    format_time,
    import_markups_xfdf,
    markups_xfdf,
    table_csv,
    table_xlsx,
    thread_text,
)
from app.web.auth import principal
from app.web.errors import json_error
from app.web.i18n import Translator
from app.web.rendering import locale_of, platform_of
from storage.blobstore import content_disposition

XFDF_MEDIA_TYPE = "application/vnd.adobe.xfdf"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_STORE = "private, no-store"

SEVERITY_KEYS = {
    "mandatory": "exchange.severity.mandatory",
    "general": "exchange.severity.general",
    "suggestion": "exchange.severity.suggestion",
}
STATUS_KEYS = {
    "open": "exchange.status.open",
    "answered": "exchange.status.answered",
    "resolved": "exchange.status.resolved",
    "reopened": "exchange.status.reopened",
    "withdrawn": "exchange.status.withdrawn",
}
ACTION_KEYS = {
    "answer": "exchange.action.answer",
    "reply": "exchange.action.reply",
    "resolve": "exchange.action.resolve",
    "reopen": "exchange.action.reopen",
    "withdraw": "exchange.action.withdraw",
}
COLUMN_WIDTHS = (6, 10, 6, 12, 20, 14, 12, 40, 60, 10, 10, 60, 17, 17, 17)


def _download(body: bytes, media_type: str, file_name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(file_name), "Cache-Control": NO_STORE},
    )


def export_markups(request: Request) -> Response:
    """导出 XFDF 批注 / The sheet's markups as XFDF (ISO 19444-1).

    Every markup the user may read on this sheet revision, for Acrobat, Bluebeam or Foxit: shapes in PDF
    user space of the one-page sheet PDF, author, track as subject, linked comment text as contents.
    """
    with platform_of(request).sessions() as db:
        data, name = markups_xfdf(db, principal(request), request.path_params["revision_id"])
    return _download(data, XFDF_MEDIA_TYPE, name)


async def _body_up_to(request: Request, limit: int) -> bytes:
    """The request body, reading at most ``limit + 1`` bytes so that an oversized file is never held."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(
            f"XFDF 文件过大（{int(declared)} 字节，上限 {limit} 字节）",
            f"the XFDF document is {int(declared)} bytes; at most {limit} are accepted",
            "XML_TOO_LARGE",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]


def _import(request: Request, track: str, data: bytes) -> ImportOutcome:
    who = principal(request)
    revision_id = request.path_params["revision_id"]
    # The review desk's write unit: on SQLite it waits for the write lock before reading, and a write
    # overtaken by another one is run again on fresh rows.
    return transactions.write(
        platform_of(request).sessions, lambda db: import_markups_xfdf(db, who, revision_id, track, data)
    )


async def import_markups(request: Request) -> Response:
    """导入 XFDF 批注 / Import markups from an XFDF file.

    The body is an XFDF file (at most 10 MB); query parameter ``track`` names the user's track the markups
    go to. Annotations of page 1 that pass the geometry checks become the user's markups; the others are
    listed under ``skipped`` with a code and the reason in Chinese and English. A file with a DOCTYPE or
    entities, larger than the limit or not XFDF is refused with 422 and nothing is stored.
    """
    track = request.query_params.get("track", "").strip()
    try:
        data = await _body_up_to(request, MAX_XFDF_BYTES)
        if not data.strip():
            raise Invalid("请求正文应为 XFDF 文件", "the request body must be an XFDF file")
        outcome = await run_in_threadpool(_import, request, track, data)
    except Rejected as exc:
        return json_error(422, exc.code, exc.zh, exc.en)
    return JSONResponse(
        {
            "imported": len(outcome.markup_ids),
            "markup_ids": list(outcome.markup_ids),
            "notes": [{"markup_id": markup_id, "text": text} for markup_id, text in outcome.notes],
            "skipped": [
                {"code": f.code, "message_zh": f.zh, "message_en": f.en, "name": f.name} for f in outcome.skipped
            ],
        },
        status_code=201 if outcome.markup_ids else 200,
    )


def export_annotated_pdf(request: Request) -> Response:
    """带批注的图纸 PDF / The sheet PDF with its markups as PDF annotations.

    The one-page sheet PDF with every markup the user may read written in as a real annotation (square,
    circle, cloudy polygon, line, free text, ink, highlight), for any PDF viewer.
    """
    platform = platform_of(request)
    with platform.sessions() as db:
        data, name = annotated_pdf(db, platform.store, principal(request), request.path_params["revision_id"])
    return _download(data, "application/pdf", name)


def _filter(request: Request) -> CommentFilter:
    params = request.query_params
    round_text = params.get("round", "").strip()
    if round_text and not round_text.isdigit():
        raise Invalid("轮次应为正整数", "round must be a positive whole number")
    return CommentFilter(
        round_number=int(round_text) if round_text else None,
        track=params.get("track", "").strip() or None,
        status=params.get("status", "").strip() or None,
    )


def _table(lines: list[CommentLine], locale: str) -> list[list[str]]:
    t = Translator(locale)

    def label(keys: dict[str, str], value: str) -> str:
        return t(keys[value]) if value in keys else value

    def entry_label(entry: ThreadEntry) -> str:
        return label(ACTION_KEYS, entry.action)

    header = [
        t("exchange.col.number"),
        t("exchange.col.id"),
        t("exchange.col.round"),
        t("exchange.col.sheet"),
        t("exchange.col.sheet_title"),
        t("exchange.col.track"),
        t("exchange.col.severity"),
        t("exchange.col.clauses"),
        t("exchange.col.text"),
        t("exchange.col.status"),
        t("exchange.col.author"),
        t("exchange.col.answers"),
        t("exchange.col.created"),
        t("exchange.col.issued"),
        t("exchange.col.updated"),
    ]
    rows = [header]
    for number, line in enumerate(lines, start=1):
        rows.append(
            [
                str(number),
                str(line.comment_id),
                str(line.round_number),
                line.sheet_number or t("exchange.whole_submission"),
                line.sheet_title,
                line.track_name_en if locale == "en" else line.track_name_zh,
                label(SEVERITY_KEYS, line.severity),
                "\n".join(line.clauses),
                line.text,
                label(STATUS_KEYS, line.status),
                line.author,
                thread_text(line.entries, entry_label),
                format_time(line.created_at),
                format_time(line.issued_at),
                format_time(line.updated_at),
            ]
        )
    return rows


def _comment_export(
    request: Request, write: Callable[[list[list[str]], str], bytes], suffix: str, media: str
) -> Response:
    locale = locale_of(request)
    with platform_of(request).sessions() as db:
        submission, lines = comment_lines(
            db, principal(request), request.path_params["submission_id"], _filter(request)
        )
        name = (
            f"{submission.review_number or f'submission-{submission.id}'}-{Translator(locale)('exchange.sheet_title')}"
        )
    return _download(write(_table(lines, locale), locale), media, f"{name}.{suffix}")


def comments_csv(request: Request) -> Response:
    """审查意见 CSV / The submission's comments as CSV.

    UTF-8 with a byte order mark, one row per comment the user may read: number, sheet, track, severity,
    cited clauses, text, status, the answer thread and dates (China Standard Time). Headers follow the
    user's language. Cells that a spreadsheet would evaluate (starting with = + - @) begin with ``'``.
    Filters: ``round``, ``track``, ``status``.
    """
    return _comment_export(request, lambda rows, _: table_csv(rows), "csv", "text/csv; charset=utf-8")


def comments_xlsx(request: Request) -> Response:
    """审查意见 Excel / The submission's comments as an XLSX workbook.

    The same rows as the CSV export, every cell stored as text (never a formula), with a frozen header.
    """
    return _comment_export(
        request,
        lambda rows, locale: table_xlsx(
            rows, sheet_title=Translator(locale)("exchange.sheet_title"), widths=COLUMN_WIDTHS
        ),
        "xlsx",
        XLSX_MEDIA_TYPE,
    )


api_routes: list[BaseRoute] = [
    Route("/sheet-revisions/{revision_id:int}/markups.xfdf", export_markups, methods=["GET"], name="api_markups_xfdf"),
    Route(
        "/sheet-revisions/{revision_id:int}/markups.xfdf",
        import_markups,
        methods=["POST"],
        name="api_markups_xfdf_import",
    ),
    Route(
        "/sheet-revisions/{revision_id:int}/annotated.pdf",
        export_annotated_pdf,
        methods=["GET"],
        name="api_annotated_pdf",
    ),
    Route("/submissions/{submission_id:int}/comments.csv", comments_csv, methods=["GET"], name="api_comments_csv"),
    Route("/submissions/{submission_id:int}/comments.xlsx", comments_xlsx, methods=["GET"], name="api_comments_xlsx"),
]
