"""Search within a submission (图纸检索): the ``/submissions/{id}/search`` page and its JSON API.

Both go through :func:`app.search.search_sheets`; a submission the principal may not view is 404.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import policy
from app.errors import Invalid, NotFound
from app.policy import Action
from app.search import SearchHit, search_sheets
from app.web.auth import principal
from app.web.rendering import locale_of, platform_of, render
from storage.models import Submission


def _hits(request: Request, query: str) -> list[SearchHit]:
    with platform_of(request).sessions() as db:
        return search_sheets(db, principal(request), request.path_params["submission_id"], query)


def search_api(request: Request) -> Response:
    """检索图纸 / Search the sheets of a submission.

    按图号、图名和图面文字查找本报审的图纸（不区分大小写，支持中文子串）。
    Query parameter ``q`` (1–100 characters) is matched, case-insensitively and as a substring
    (Chinese included), against each sheet's number, title and drawing text. Returns up to 50 hits, each
    with the sheet number, title, revision id and a short snippet around the first match.
    """
    query = request.query_params.get("q", "")
    hits = _hits(request, query)
    response = JSONResponse({"query": query, "hits": [asdict(hit) for hit in hits]})
    response.headers["Cache-Control"] = "no-store"
    return response


def search_page(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    query = request.query_params.get("q", "")
    searched = bool(query.strip())
    error: str | None = None
    hits: list[SearchHit] = []
    with platform_of(request).sessions() as db:
        submission = db.get(Submission, submission_id)
        if submission is None or not policy.can(who, Action.VIEW_SUBMISSION, submission=submission):
            raise NotFound("没有该报审", "no such submission")
        if searched:
            try:
                hits = search_sheets(db, who, submission_id, query)
            except Invalid as exc:
                error = exc.message(locale_of(request))
        return render(
            request,
            "sheets/search.html",
            submission=submission,
            project=submission.project,
            query=query,
            hits=hits,
            searched=searched,
            error=error,
        )


routes: list[BaseRoute] = [
    Route("/submissions/{submission_id:int}/search", search_page, methods=["GET"], name="sheet_search"),
]
api_routes: list[BaseRoute] = [
    Route("/submissions/{submission_id:int}/search", search_api, methods=["GET"], name="api_sheet_search"),
]
