"""Verification pages (签章验证): the bureau's desk, and the public page the result's QR code points to.

The public pages need no login. They accept only PDFs up to ``verify_max_bytes``, are rate-limited
per client address, and show of the platform's records only what the sealed document itself states
(review number, project name and code, the departments' seals).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.errors import Invalid, NotFound
from app.permits import pending_issue
from app.ratelimit import SharedLimiter
from app.tasks.runs import OPEN_STATES
from app.verification import (
    get_verification,
    latest_verification,
    public_record,
    read_result,
    require_bureau,
    trust_roots,
    verify_stored_result,
    verify_upload,
)
from app.web.auth import principal
from app.web.rendering import locale_of, platform_of, render, when
from storage.blobstore import content_disposition
from storage.db import transaction
from storage.models import Permit, ReviewResult, Submission, SubmissionState

PUBLIC_MAX_AGE = dt.timedelta(hours=1)
"""The public page re-verifies the stored result when its last verification is older than this."""
FORM_OVERHEAD = 64 * 1024

limiter = SharedLimiter(
    "verify", ("验证次数过多，请稍后再试。", "Too many verifications from your address; please try again later.")
)
"""Public verifications per client address, shared by every web process (see :mod:`app.ratelimit`)."""


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _uploaded_pdf(request: Request) -> tuple[bytes, str]:
    """The PDF of a ``file`` form field, refused early when the request is larger than allowed."""
    limit = platform_of(request).settings.verify_max_bytes
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        # A body of unknown length would be spooled whole before its size is known.
        raise Invalid(
            "请求缺少内容长度，请用浏览器表单上传文件。",
            "The request has no Content-Length; upload the file with the form.",
        )
    if int(length) > limit + FORM_OVERHEAD:
        mb = limit // (1024 * 1024)
        raise Invalid(f"文件超过 {mb} MB，无法验证。", f"The file is larger than {mb} MB and cannot be verified.")
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("请选择要验证的 PDF 文件。", "Choose the PDF file to verify.")
        data = await upload.read(limit + 1)
        name = upload.filename or "upload.pdf"
    return data, name


def report_view(report: dict[str, Any], locale: str) -> dict[str, Any]:
    """The stored report as the templates show it, reasons in the page's language first."""
    english = locale == "en"

    def text(reason: dict[str, str]) -> tuple[str, str]:
        return (reason["en"], reason["zh"]) if english else (reason["zh"], reason["en"])

    signatures = []
    for item in report.get("signatures", []):
        stamped = item.get("timestamp_time")
        signatures.append(
            {
                **item,
                "timestamp_shown": when(dt.datetime.fromisoformat(stamped)) if stamped else "—",
                "reason_texts": [text(r) for r in item.get("reasons", [])],
            }
        )
    return {
        "valid": bool(report.get("valid")),
        "status": report.get("status", "invalid"),
        "signatures": signatures,
        "unsigned_fields": report.get("unsigned_fields", []),
        "reasons": [text(r) for r in report.get("reasons", [])],
        "manifest_checked": report.get("manifest_checked", False),
        "manifest_problems": report.get("manifest_problems", []),
        "matches_record": report.get("matches_record", False),
    }


# The bureau's desk ------------------------------------------------------------------------------


def desk(request: Request) -> Response:
    who = principal(request)
    with platform_of(request).sessions() as db:
        require_bureau(who)
        rows = []
        found = db.execute(
            select(Submission, ReviewResult)
            .join(ReviewResult, ReviewResult.submission_id == Submission.id)
            .where(Submission.state.in_([SubmissionState.SEALED, SubmissionState.PERMITTED]))
            .order_by(Submission.id.desc())
            .limit(200)
        ).all()
        for submission, result in found:
            permit = db.scalars(select(Permit).where(Permit.submission_id == submission.id)).first()
            rows.append(
                {
                    "submission": submission,
                    "project": submission.project,
                    "result": result,
                    "latest": latest_verification(db, result.id, public=False, sha256=result.sha256),
                    "permit": permit,
                }
            )
        return render(request, "verification/desk.html", rows=rows)


async def verify_stored(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]

    def run() -> int:
        with transaction(platform.sessions) as db:
            outcome = verify_stored_result(db, platform.store, who, submission_id, trust_roots(platform.settings))
            return outcome.verification.id

    verification_id = await run_in_threadpool(run)
    return RedirectResponse(f"/verification/{verification_id}", status_code=303)


async def verify_bureau_upload(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    data, name = await _uploaded_pdf(request)

    def run() -> int:
        with transaction(platform.sessions) as db:
            outcome = verify_upload(
                db,
                platform.store,
                data,
                trust_roots(platform.settings),
                name=name,
                max_bytes=platform.settings.verify_max_bytes,
                who=who,
            )
            return outcome.verification.id

    verification_id = await run_in_threadpool(run)
    return RedirectResponse(f"/verification/{verification_id}", status_code=303)


def show(request: Request) -> Response:
    who = principal(request)
    with platform_of(request).sessions() as db:
        row = get_verification(db, who, request.path_params["verification_id"])
        result = db.get(ReviewResult, row.result_id) if row.result_id else None
        submission = db.get(Submission, result.submission_id) if result else None
        permit = db.scalars(select(Permit).where(Permit.submission_id == submission.id)).first() if submission else None
        issuing = pending_issue(db, submission.id) if submission is not None and permit is None else None
        return render(
            request,
            "verification/report.html",
            row=row,
            view=report_view(row.report, locale_of(request)),
            submission=submission,
            project=submission.project if submission else None,
            permit=permit,
            issuing=issuing,
            issuing_open=issuing is not None and issuing.state in OPEN_STATES,
        )


# The public pages ---------------------------------------------------------------------------------


def public_form(request: Request) -> Response:
    return render(request, "verification/public.html", view=None, record=None, file_name="")


async def public_upload(request: Request) -> Response:
    platform = platform_of(request)
    settings = platform.settings
    limiter.hit(
        settings, _client(request), limit=settings.verify_attempts, window_seconds=settings.verify_window_seconds
    )
    data, name = await _uploaded_pdf(request)

    def run() -> dict[str, Any]:
        with transaction(platform.sessions) as db:
            outcome = verify_upload(
                db, platform.store, data, trust_roots(settings), name=name, max_bytes=settings.verify_max_bytes
            )
            return dict(outcome.verification.report)

    report = await run_in_threadpool(run)
    # Which record a file matched stays private: the visitor learns the verdict on their own file.
    return render(
        request, "verification/public.html", view=report_view(report, locale_of(request)), record=None, file_name=name
    )


async def public_record_page(request: Request) -> Response:
    platform = platform_of(request)
    review_number: str = request.path_params["review_number"][:40]

    def run() -> dict[str, Any]:
        with transaction(platform.sessions) as db:
            record = public_record(
                db, platform.store, review_number, trust_roots(platform.settings), max_age=PUBLIC_MAX_AGE
            )
            return {
                "review_number": record.review_number,
                "project_name": record.project_name,
                "project_code": record.project_code,
                "sha256": record.result.sha256,
                "verified_at": record.verification.at,
                "report": dict(record.verification.report),
            }

    record = await run_in_threadpool(run)
    return render(
        request,
        "verification/public.html",
        view=report_view(record["report"], locale_of(request)),
        record=record,
        file_name="",
    )


def public_download(request: Request) -> Response:
    platform = platform_of(request)
    review_number: str = request.path_params["review_number"][:40]
    with platform.sessions() as db:
        submission = db.scalars(select(Submission).where(Submission.review_number == review_number)).first()
        result = (
            db.scalars(select(ReviewResult).where(ReviewResult.submission_id == submission.id)).first()
            if submission
            else None
        )
        if result is None or result.state != "sealed":
            raise NotFound("没有该审查编号的已签章联审结果", "There is no sealed joint review result with this number")
        data = read_result(platform.store, result)
    return pdf_response(data, f"联审结果-{review_number}.pdf")


def pdf_response(data: bytes, file_name: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(file_name),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


routes: list[BaseRoute] = [
    Route("/verification", desk, methods=["GET"], name="verification_desk"),
    Route("/verification/upload", verify_bureau_upload, methods=["POST"]),
    Route("/verification/submissions/{submission_id:int}", verify_stored, methods=["POST"]),
    Route("/verification/{verification_id:int}", show, methods=["GET"], name="verification_report"),
    Route("/verify", public_form, methods=["GET"], name="public_verify"),
    Route("/verify", public_upload, methods=["POST"]),
    Route("/verify/{review_number}", public_record_page, methods=["GET"], name="public_record"),
    Route("/verify/{review_number}/result.pdf", public_download, methods=["GET"]),
]
