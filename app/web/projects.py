"""The designer's pages: new project (新建项目), editing it (编辑项目), a project and its submissions, a submission
with its drawings.

Handlers stay thin: they read the form, call the use cases of :mod:`app.projects` and
:mod:`app.submissions` in one transaction, and render or redirect. A form with wrong fields is
shown again with the values kept and each problem beside its field.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy, projects, submissions
from app.drawings import UPLOAD_STATES
from app.errors import Forbidden, Invalid
from app.policy import SEALING_OR_LATER, Action
from app.uploads import DEFAULT_CHUNK_SIZE
from app.web.auth import principal
from app.web.errors import status_for
from app.web.rendering import locale_of, platform_of, render
from review.workflow import Event
from storage.db import transaction
from storage.models import FeeInvoice, Project, Submission


def _form_page(
    request: Request,
    values: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
    *,
    project: Project | None = None,
) -> Response:
    """The project form: empty for a new project, or filled with ``project``'s details to edit them."""
    return render(
        request,
        "projects/new.html",
        status_code=status,
        values=values,
        problems=problems,
        ratings=projects.FIRE_RESISTANCE_RATINGS,
        fields=projects.PROJECT_FIELDS,
        project=project,
    )


def _problems(request: Request, exc: projects.ProjectInvalid) -> dict[str, str]:
    locale = locale_of(request)
    return {key: (en if locale == "en" else zh) for key, (zh, en) in exc.fields.items()}


def _shown(value: object) -> str:
    """A stored value as the form shows it: 12500.0 as 12500, other numbers in full."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def new_project_form(request: Request) -> Response:
    who = principal(request)
    if not policy.can(who, Action.CREATE_PROJECT):
        raise Forbidden("只有设计单位可以新建项目", "only design institutes can create projects")
    return _form_page(request, dict.fromkeys(projects.PROJECT_FIELDS, ""), {})


async def create_project(request: Request) -> Response:
    who = principal(request)
    async with request.form() as form:
        values = {key: str(form.get(key, "")) for key in projects.PROJECT_FIELDS}
    platform = platform_of(request)

    def work() -> int:
        details = projects.parse_project(values)
        with transaction(platform.sessions) as db:
            return projects.create_project(db, who, details).id

    try:
        project_id = await run_in_threadpool(work)
    except projects.ProjectInvalid as exc:
        return _form_page(request, values, _problems(request, exc), status=status_for(exc))
    return RedirectResponse(f"/projects/{project_id}", status_code=303)


def edit_project_form(request: Request) -> Response:
    who = principal(request)
    project_id: int = request.path_params["project_id"]
    with platform_of(request).sessions() as db:
        project = projects.editable_project(db, who, project_id)
        values = {key: _shown(getattr(project, key)) for key in projects.PROJECT_FIELDS}
        return _form_page(request, values, {}, project=project)


async def update_project(request: Request) -> Response:
    who = principal(request)
    project_id: int = request.path_params["project_id"]
    async with request.form() as form:
        values = {key: str(form.get(key, "")) for key in projects.PROJECT_FIELDS}
    platform = platform_of(request)

    def work() -> None:
        with transaction(platform.sessions) as db:
            # The code is fixed at creation: the form shows it read-only and the stored one is used.
            values["code"] = projects.editable_project(db, who, project_id).code
            projects.update_project(db, who, project_id, projects.parse_project(values))

    try:
        await run_in_threadpool(work)
    except projects.ProjectInvalid as exc:
        with platform.sessions() as db:
            project = projects.editable_project(db, who, project_id)
            return _form_page(request, values, _problems(request, exc), status=status_for(exc), project=project)
    return RedirectResponse(f"/projects/{project_id}", status_code=303)


def show_project(request: Request) -> Response:
    who = principal(request)
    project_id: int = request.path_params["project_id"]
    with platform_of(request).sessions() as db:
        view = projects.project_view(db, who, project_id)
        can_open = policy.can(who, Action.EDIT_PROJECT, project=view.project)
        return render(request, "projects/show.html", view=view, project=view.project, can_open=can_open)


async def open_submission(request: Request) -> Response:
    who = principal(request)
    project_id: int = request.path_params["project_id"]
    platform = platform_of(request)

    def work() -> int:
        with transaction(platform.sessions) as db:
            return projects.open_submission(db, who, project_id).id

    submission_id = await run_in_threadpool(work)
    return RedirectResponse(f"/submissions/{submission_id}", status_code=303)


def case_links(submission: Submission, *, has_invoice: bool) -> list[tuple[str, str, str]]:
    """The other pages of a case as (catalogue key, path, test id), those that have something to show."""
    base = f"/submissions/{submission.id}"
    links = [("progress.link", f"{base}/progress", "progress-link"), ("sheets.link", f"{base}/sheets", "sheets-link")]
    if submission.rounds:
        links.append(("case.rounds", f"/rounds/submissions/{submission.id}", "rounds-link"))
    if has_invoice:
        links.append(("case.fee", f"{base}/fee", "fee-link"))
    if submission.state in SEALING_OR_LATER:
        links.append(("case.result", f"{base}/result", "result-link"))
    return links


def show_submission(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    platform = platform_of(request)
    with platform.sessions() as db:
        submission = projects.load_submission(db, who, submission_id)
        files = projects.submission_files(db, who, submission_id)
        can_upload = submission.state in UPLOAD_STATES and policy.can(who, Action.SUBMIT, submission=submission)
        can_submit = Event.SUBMIT in submissions.possible_events(db, who, submission_id)
        upload_config: dict[str, Any] = {
            "submission_id": submission.id,
            "chunk_size": DEFAULT_CHUNK_SIZE,
            "max_bytes": platform.settings.max_upload_bytes,
        }
        has_invoice = db.scalar(select(FeeInvoice.id).where(FeeInvoice.submission_id == submission.id)) is not None
        return render(
            request,
            "projects/submission.html",
            case_links=case_links(submission, has_invoice=has_invoice),
            submission=submission,
            project=submission.project,
            files=files,
            can_upload=can_upload,
            can_submit=can_submit,
            upload_config=upload_config,
        )


async def submit_submission(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        raw_version = str(form.get("version", ""))
    try:
        version = int(raw_version)
    except ValueError as exc:
        raise Invalid("表单已失效，请刷新页面后重试", "the form is out of date; reload the page and try again") from exc
    platform = platform_of(request)

    def work() -> None:
        with transaction(platform.sessions) as db:
            if not projects.submission_files(db, who, submission_id):
                raise Invalid("请先上传图纸再提交审查", "upload the drawings before submitting for review")
            submissions.submit(db, who, submission_id, expected_version=version)

    await run_in_threadpool(work)
    return RedirectResponse(f"/submissions/{submission_id}", status_code=303)


routes = [
    Route("/projects/new", new_project_form, methods=["GET"], name="project_new"),
    Route("/projects", create_project, methods=["POST"], name="project_create"),
    Route("/projects/{project_id:int}", show_project, methods=["GET"], name="project"),
    Route("/projects/{project_id:int}/edit", edit_project_form, methods=["GET"], name="project_edit"),
    Route("/projects/{project_id:int}", update_project, methods=["POST"], name="project_update"),
    Route("/projects/{project_id:int}/submissions", open_submission, methods=["POST"], name="submission_open"),
    Route("/submissions/{submission_id:int}", show_submission, methods=["GET"], name="submission"),
    Route("/submissions/{submission_id:int}/submit", submit_submission, methods=["POST"], name="submission_submit"),
]
