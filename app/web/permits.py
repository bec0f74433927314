"""Permit pages: issuing (核发施工许可), downloads of result and permit, the e-licence library (电子证照库)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.permits import (
    licence_download,
    permit_download,
    request_permit,
    result_download,
    search_licences,
)
from app.verification import trust_roots
from app.web.auth import principal
from app.web.rendering import platform_of, render
from app.web.verification import pdf_response
from storage.models import Licence


async def issue(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]

    def run() -> int:
        requested = request_permit(
            platform.sessions,
            platform.store,
            platform.settings,
            who,
            submission_id,
            roots=trust_roots(platform.settings),
        )
        return requested.verification.verification.id

    verification_id = await run_in_threadpool(run)
    return RedirectResponse(f"/verification/{verification_id}", status_code=303)


def download_result(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    with platform.sessions() as db:
        download = result_download(db, platform.store, who, request.path_params["submission_id"])
    return pdf_response(download.data, download.file_name)


def download_permit(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    with platform.sessions() as db:
        download = permit_download(db, platform.store, who, request.path_params["submission_id"])
    return pdf_response(download.data, download.file_name)


def download_licence(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    with platform.sessions() as db:
        download = licence_download(db, platform.store, who, request.path_params["licence_id"])
    return pdf_response(download.data, download.file_name)


def library(request: Request) -> Response:
    who = principal(request)
    code = request.query_params.get("project_code", "")
    with platform_of(request).sessions() as db:
        entries = search_licences(db, who, code)
        return render(request, "permits/library.html", entries=entries, project_code=code)


def _entry(entry: Licence) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "number": entry.number,
        "project_code": entry.project_code,
        "project_name": entry.project_name,
        "holder": entry.holder,
        "permit_id": entry.permit_id,
        "result_id": entry.result_id,
        "sha256": entry.sha256,
        "issued_at": entry.issued_at.isoformat(),
        "revoked_at": entry.revoked_at.isoformat() if entry.revoked_at else None,
        "download": f"/licences/{entry.id}/file",
    }


def list_licences(request: Request) -> Response:
    """电子证照库 / Entries of the e-licence library.

    Query ``project_code`` (part of the code, case-insensitive); permits and sealed results, newest first,
    with their SHA-256 and a download link. Construction bureau officers only.
    """
    who = principal(request)
    with platform_of(request).sessions() as db:
        entries = search_licences(db, who, request.query_params.get("project_code", ""))
        return JSONResponse({"licences": [_entry(e) for e in entries]})


routes: list[BaseRoute] = [
    Route("/submissions/{submission_id:int}/permit", issue, methods=["POST"], name="issue_permit"),
    Route("/submissions/{submission_id:int}/result.pdf", download_result, methods=["GET"]),
    Route("/submissions/{submission_id:int}/permit.pdf", download_permit, methods=["GET"]),
    Route("/licences", library, methods=["GET"], name="licence_library"),
    Route("/licences/{licence_id:int}/file", download_licence, methods=["GET"]),
]

api_routes: list[BaseRoute] = [
    Route("/licences", list_licences, methods=["GET"]),
]
