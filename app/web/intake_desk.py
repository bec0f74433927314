"""The intake clerk's page (受理窗口): ``/intake/submissions/{id}``.

Shows, per enabled track, the sheets routed to it and its completeness checklist, the uploaded
files and what went wrong with them, and numbering findings. Forms correct a sheet's number, title
and tracks, and take the intake decision: 受理, 容缺受理 (with the designer's commitment) or 退回补正
(with the missing items pre-filled as reasons). Handlers stay thin: :mod:`app.intake_desk` decides.

A refused decision (nothing changed) shows the page again with the reason and what was typed, with
the error's status: 400 for a form that cannot be taken as it is, 409 when the submission changed
meanwhile. Pages of submissions the user may not take intake decisions on are 404 or 403 per policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import intake_desk, submissions
from app.errors import Invalid, LiantuError
from app.identity.principal import Principal
from app.web.auth import principal
from app.web.rendering import form_action, locale_of, platform_of, render
from review.workflow import Event

DONE = frozenset({"accepted", "accepted_on_commitment", "returned", "corrected", "review_started"})
"""Outcomes announced after a redirect (``?done=…``)."""


def _page(
    request: Request,
    who: Principal,
    submission_id: int,
    *,
    status: int = 200,
    problem: LiantuError | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    locale = locale_of(request)
    with platform_of(request).sessions() as db:
        case = intake_desk.load_case(db, who, submission_id)
        events = submissions.possible_events(db, who, submission_id)
        done = request.query_params.get("done", "")
        return render(
            request,
            "intake/submission.html",
            status_code=status,
            case=case,
            submission=case.submission,
            project=case.project,
            text_key="en" if locale == "en" else "zh",
            other_key="zh" if locale == "en" else "en",
            can_start_review=Event.START_REVIEW in events,
            done=done if done in DONE and problem is None else "",
            problem=problem,
            typed=typed or {},
        )


def show(request: Request) -> Response:
    return _page(request, principal(request), request.path_params["submission_id"])


def _version(form: Any) -> int:
    try:
        return int(str(form.get("version", "")))
    except ValueError as exc:
        raise Invalid("表单已失效，请刷新页面后重试", "the form is out of date; reload the page and try again") from exc


async def _act(request: Request, work: Callable[[Any], str], typed: dict[str, Any]) -> Response:
    """Run a form's use case; on refusal the page comes back with what was typed and the problem."""
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]

    def again(req: Request, *, status: int, problem: LiantuError) -> Response:
        return _page(req, who, submission_id, status=status, problem=problem, typed=typed)

    return await form_action(request, work, again, f"/intake/submissions/{submission_id}")


async def correct_sheet(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    sheet_id: int = request.path_params["sheet_id"]
    async with request.form() as form:
        number = str(form.get("number", ""))
        title = str(form.get("title", ""))
        # The checkboxes come with a marker, so that unticking every track is told from not sending the list.
        tracks = [str(code) for code in form.getlist("tracks")] if form.get("tracks_shown") else None
        version = _version(form)

    def work(db: Any) -> str:
        intake_desk.correct_sheet(
            db, who, submission_id, sheet_id, number=number, title=title, tracks=tracks, expected_version=version
        )
        return "corrected"

    return await _act(request, work, {"sheet_id": sheet_id, "number": number, "title": title})


async def accept(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        on_commitment = form.get("mode") == "commitment"
        commitment = str(form.get("commitment", ""))
        version = _version(form)

    def work(db: Any) -> str:
        intake_desk.accept(
            db, who, submission_id, commitment=commitment if on_commitment else None, expected_version=version
        )
        return "accepted_on_commitment" if on_commitment else "accepted"

    return await _act(request, work, {"commitment": commitment})


async def return_submission(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        chosen = [str(reason) for reason in form.getlist("reason")]
        note = str(form.get("note", ""))
        version = _version(form)
    reasons = [*chosen, *note.splitlines()]

    def work(db: Any) -> str:
        intake_desk.return_submission(db, who, submission_id, reasons, expected_version=version)
        return "returned"

    return await _act(request, work, {"reasons": chosen, "note": note})


async def start_review(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        version = _version(form)

    def work(db: Any) -> str:
        intake_desk.start_review(db, who, submission_id, expected_version=version)
        return "review_started"

    return await _act(request, work, {})


routes = [
    Route("/intake/submissions/{submission_id:int}", show, methods=["GET"], name="intake_desk"),
    Route(
        "/intake/submissions/{submission_id:int}/sheets/{sheet_id:int}",
        correct_sheet,
        methods=["POST"],
        name="intake_correct_sheet",
    ),
    Route("/intake/submissions/{submission_id:int}/accept", accept, methods=["POST"], name="intake_accept"),
    Route("/intake/submissions/{submission_id:int}/return", return_submission, methods=["POST"], name="intake_return"),
    Route("/intake/submissions/{submission_id:int}/start-review", start_review, methods=["POST"], name="intake_start"),
]
