"""The progress page of a submission (办理进度): a timeline across tracks, what waits on whom, days left."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.progress import progress
from app.web.auth import principal
from app.web.rendering import platform_of, render
from review.workflow import Event

EVENT_ACTIONS = frozenset(f"submission.{event.value}" for event in Event)


def progress_page(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    platform = platform_of(request)
    with platform.sessions() as db:
        view = progress(db, who, submission_id, settings=platform.settings)
        return render(
            request,
            "progress/progress.html",
            view=view,
            submission=view.submission,
            project=view.submission.project,
            event_actions=EVENT_ACTIONS,
        )


routes: list[BaseRoute] = [
    Route("/submissions/{submission_id:int}/progress", progress_page, methods=["GET"], name="submission_progress"),
]
