"""Round pages (审查轮次): conclusions and letters, the designer's answers and resubmission, the clerk's matches.

- ``/rounds/submissions/{id}``: every round with each track's state, conclusion and letters; the track lead
  issues the comments and concludes (通过 / 需修改) from here;
- ``/rounds/submissions/{id}/answers``: the designer answers each open comment (text and an optional file)
  and resubmits once the revised sheets are uploaded (on the submission page, through the upload API);
- ``/rounds/submissions/{id}/matches``: the intake clerk confirms or changes how resubmitted sheets were
  matched to the previous round (renumbered and unmatched sheets first);
- ``/rounds/letters/{id}``: a letter's PDF; ``/api/v1/sheet-revisions/{rev}/compare/overlay.png``: old and
  new revision in two colours; ``…/compare/side-by-side.pdf``: both on one wide page, the changes outlined.

Handlers stay thin: :mod:`app.rounds` decides. A refused form shows the page again with the reason in both
languages and the status of the error; nothing is changed then.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import policy
from app.errors import Invalid, LiantuError, NotFound
from app.etags import none_match_names
from app.identity.principal import Principal
from app.policy import Action
from app.review_desk.access import revision_view
from app.review_desk.comments import MAX_ATTACHMENT_BYTES, Attachment
from app.rounds.answers import answer_comment, answer_desk, resubmit
from app.rounds.conclude import conclude_track
from app.rounds.letters import letters_of, readable_letter
from app.rounds.matching import match_view, set_match
from app.web.auth import principal
from app.web.rendering import form_action, locale_of, platform_of, render
from review.compare import ChangeKind, ChangeRect, side_by_side
from storage.blobstore import BlobStore, content_disposition
from storage.models import (
    RevisionComparison,
    Round,
    SheetRevision,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
    User,
)

DONE = frozenset({"concluded", "answered", "resubmitted", "matched"})


def _keys(request: Request) -> dict[str, str]:
    en = locale_of(request) == "en"
    return {"text_key": "en" if en else "zh", "other_key": "zh" if en else "en"}


def _version(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise Invalid("表单已失效，请刷新页面后重试", "the form is out of date; reload the page and try again") from exc


def _done(request: Request, problem: LiantuError | None) -> str:
    done = request.query_params.get("done", "")
    return done if done in DONE and problem is None else ""


# Rounds and conclusions ------------------------------------------------------------------------------


def _rounds_page(request: Request, *, status: int = 200, problem: LiantuError | None = None) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    with platform_of(request).sessions() as db:
        submission = db.get(Submission, submission_id)
        if submission is None:
            raise NotFound("没有该报审", "no such submission")
        policy.require(who, Action.VIEW_SUBMISSION, submission=submission)
        rounds = db.scalars(select(Round).where(Round.submission_id == submission_id).order_by(Round.number)).all()
        reviews = db.scalars(
            select(TrackReview).where(TrackReview.round_id.in_([r.id for r in rounds])).order_by(TrackReview.track_code)
        ).all()
        names = dict(db.execute(select(User.id, User.display_name)).tuples().all())
        in_review = submission.state is SubmissionState.IN_REVIEW
        concludable = {
            r.id
            for r in reviews
            if in_review
            and r.state in (TrackReviewState.PENDING, TrackReviewState.IN_REVIEW)
            and policy.can(who, Action.ISSUE_OPINION, submission=submission, track=r.track_code)
        }
        return render(
            request,
            "rounds/rounds.html",
            status_code=status,
            submission=submission,
            project=submission.project,
            rounds=rounds,
            reviews={r.id: [v for v in reviews if v.round_id == r.id] for r in rounds},
            names=names,
            letters=letters_of(db, submission_id),
            concludable=concludable,
            designer=policy.can(who, Action.RESPOND, submission=submission),
            clerk=policy.can(who, Action.INTAKE, submission=submission),
            done=_done(request, problem),
            problem=problem,
            **_keys(request),
        )


def show_rounds(request: Request) -> Response:
    return _rounds_page(request)


async def conclude(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    round_id: int = request.path_params["round_id"]
    track: str = request.path_params["track"]
    async with request.form() as form:
        outcome = str(form.get("outcome", ""))
        note = str(form.get("note", ""))

    def work(db: Any) -> str:
        round_ = db.get(Round, round_id)
        if round_ is None or round_.submission_id != submission_id:
            raise NotFound("没有该轮次", "no such round")
        conclude_track(db, who, round_id, track, outcome, note=note)
        return "concluded"

    return await form_action(request, work, _rounds_page, f"/rounds/submissions/{submission_id}")


def download_letter(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    with platform.sessions() as db:
        row = readable_letter(db, who, request.path_params["letter_id"])
        round_ = db.get_one(Round, row.round_id)
        number = db.get_one(Submission, round_.submission_id).review_number or str(round_.submission_id)
        name = f"{number}-第{round_.number}轮-{row.track_code or '联合'}审查意见书.pdf"
        key = row.object_key
    with platform.store.open(key) as stream:
        data = stream.read()
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(name), "Cache-Control": "no-store"},
    )


# Answers and resubmission ------------------------------------------------------------------------------


def _answers_page(
    request: Request, *, status: int = 200, problem: LiantuError | None = None, problem_comment: int | None = None
) -> Response:
    who = principal(request)
    with platform_of(request).sessions() as db:
        desk = answer_desk(db, who, request.path_params["submission_id"])
        return render(
            request,
            "rounds/answers.html",
            status_code=status,
            desk=desk,
            submission=desk.submission,
            project=desk.project,
            done=_done(request, problem),
            problem=problem,
            problem_comment=problem_comment,
            **_keys(request),
        )


def show_answers(request: Request) -> Response:
    return _answers_page(request)


async def answer(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    comment_id: int = request.path_params["comment_id"]
    platform = platform_of(request)
    async with request.form(max_part_size=MAX_ATTACHMENT_BYTES + 1) as form:
        text = str(form.get("text", ""))
        version = form.get("version", "")
        upload = form.get("attachment")
        attachment = None
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            if data:
                attachment = Attachment(upload.filename, upload.content_type or "application/octet-stream", data)

    def work(db: Any) -> str:
        answer_comment(
            db, platform.store, who, comment_id, expected_version=_version(version), text=text, attachment=attachment
        )
        return "answered"

    def again(request: Request, **kwargs: Any) -> Response:
        return _answers_page(request, problem_comment=comment_id, **kwargs)

    return await form_action(request, work, again, f"/rounds/submissions/{submission_id}/answers")


async def resubmit_form(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    platform = platform_of(request)
    async with request.form() as form:
        version = form.get("version", "")

    def work(db: Any) -> str:
        resubmit(db, platform.store, who, submission_id, expected_version=_version(version))
        return "resubmitted"

    return await form_action(request, work, _answers_page, f"/rounds/submissions/{submission_id}/answers")


# The clerk's matches -------------------------------------------------------------------------------------


def _matches_page(request: Request, *, status: int = 200, problem: LiantuError | None = None) -> Response:
    who = principal(request)
    with platform_of(request).sessions() as db:
        view = match_view(db, who, request.path_params["submission_id"])
        return render(
            request,
            "rounds/matches.html",
            status_code=status,
            view=view,
            submission=view.submission,
            project=view.submission.project,
            done=_done(request, problem),
            problem=problem,
            **_keys(request),
        )


def show_matches(request: Request) -> Response:
    return _matches_page(request)


async def match(request: Request) -> Response:
    who = principal(request)
    submission_id: int = request.path_params["submission_id"]
    revision_id: int = request.path_params["revision_id"]
    async with request.form() as form:
        chosen = str(form.get("previous", ""))

    def work(db: Any) -> str:
        previous = None if chosen in ("", "none") else _version(chosen)
        set_match(db, who, submission_id, revision_id, previous)
        return "matched"

    return await form_action(request, work, _matches_page, f"/rounds/submissions/{submission_id}/matches")


# API -------------------------------------------------------------------------------------------------------


def compare_overlay(request: Request) -> Response:
    """对比叠加图 / The previous revision and this one overlaid: old red, new blue, both black."""
    who: Principal = principal(request)
    revision_id: int = request.path_params["revision_id"]
    platform = platform_of(request)
    with platform.sessions() as db:
        revision_view(db, who, revision_id)
        comparison = db.get(RevisionComparison, revision_id)
        if comparison is None or not comparison.overlay_key:
            raise NotFound("该图纸尚无修改对比", "the sheet has no comparison yet")
        key = comparison.overlay_key
    etag = f'"{key.rsplit("/", 1)[-1].removesuffix(".png")}"'
    if none_match_names(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    with platform.store.open(key) as stream:
        data = stream.read()
    return Response(data, media_type="image/png", headers={"ETag": etag, "Cache-Control": "private, max-age=3600"})


def compare_side_by_side(request: Request) -> Response:
    """并排对比 / The previous revision and this one side by side, as one PDF page."""
    who: Principal = principal(request)
    revision_id: int = request.path_params["revision_id"]
    platform = platform_of(request)
    with platform.sessions() as db:
        view = revision_view(db, who, revision_id)
        comparison = db.get(RevisionComparison, revision_id)
        if comparison is None:
            raise NotFound("该图纸没有可对比的上一版", "the sheet has no previous revision to compare with")
        previous = db.get_one(SheetRevision, comparison.previous_revision_id)
        keys = [previous.pdf_key, view.revision.pdf_key]
        regions = [ChangeRect(r["x0"], r["y0"], r["x1"], r["y1"], ChangeKind(r["what"])) for r in comparison.regions]
    if not all(keys):
        raise NotFound("该图纸尚未生成图纸 PDF", "the sheet has no sheet PDF yet")
    old, new = (_read(platform.store, key) for key in keys if key)
    pdf = side_by_side(old, 0, new, 0, regions)
    return Response(pdf, media_type="application/pdf", headers={"Cache-Control": "private, no-cache"})


def _read(store: BlobStore, key: str) -> bytes:
    with store.open(key) as stream:
        data: bytes = stream.read()
    return data


routes = [
    Route("/rounds/submissions/{submission_id:int}", show_rounds, methods=["GET"], name="rounds"),
    Route(
        "/rounds/submissions/{submission_id:int}/rounds/{round_id:int}/tracks/{track:str}/conclude",
        conclude,
        methods=["POST"],
        name="rounds_conclude",
    ),
    Route("/rounds/submissions/{submission_id:int}/answers", show_answers, methods=["GET"], name="rounds_answers"),
    Route(
        "/rounds/submissions/{submission_id:int}/answers/{comment_id:int}",
        answer,
        methods=["POST"],
        name="rounds_answer",
    ),
    Route("/rounds/submissions/{submission_id:int}/resubmit", resubmit_form, methods=["POST"], name="rounds_resubmit"),
    Route("/rounds/submissions/{submission_id:int}/matches", show_matches, methods=["GET"], name="rounds_matches"),
    Route(
        "/rounds/submissions/{submission_id:int}/matches/{revision_id:int}",
        match,
        methods=["POST"],
        name="rounds_match",
    ),
    Route("/rounds/letters/{letter_id:int}", download_letter, methods=["GET"], name="rounds_letter"),
]

api_routes = [
    Route(
        "/sheet-revisions/{revision_id:int}/compare/side-by-side.pdf",
        compare_side_by_side,
        methods=["GET"],
        name="api_compare_side_by_side",
    ),
    Route(
        "/sheet-revisions/{revision_id:int}/compare/overlay.png",
        compare_overlay,
        methods=["GET"],
        name="api_compare_overlay",
    ),
]
