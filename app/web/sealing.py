"""Seal pages: the administrators' identities and seal images, and the departments' signing page.

- ``/admin/seals``: every organisation that seals, its active certificate and seal image (preview);
  import a PKCS#12 file or register a PKCS#11 token key, deactivate a certificate, upload a seal PNG
  or generate the red round seal.
- ``/submissions/{id}/result``: the result in the browser (the PDF in a frame), who has sealed and
  who is next; the department whose turn it is presses 签章 / Sign.

A refused form shows the page again with the reason in both languages and the error's status;
nothing is changed then. Handlers stay thin: :mod:`app.sealing` decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.errors import Conflict, Forbidden, Invalid, LiantuError, NotFound, ServiceUnavailable
from app.identity.principal import Principal
from app.sealing import identities, seals
from app.sealing.compose import COMPOSE_RESULT, queue_composition
from app.sealing.identities import SEALING_KINDS
from app.sealing.signing import check_turn, may_view, next_signature, result_for, sign_result
from app.web.auth import principal
from app.web.errors import status_for
from app.web.rendering import platform_of, render
from storage.db import transaction
from storage.models import (
    Organization,
    ResultSignature,
    ReviewResult,
    Role,
    SealImage,
    SigningIdentity,
    Submission,
    SubmissionState,
    TaskRun,
    TaskState,
    User,
)

ADMIN_DONE = frozenset({"imported", "token", "deactivated", "uploaded", "generated"})
SIGN_DONE = frozenset({"signed", "sealed"})
REFUSALS = (Invalid, Conflict, Forbidden, NotFound, ServiceUnavailable)
MAX_FORM_FILE = 4 * 1024 * 1024
"""Largest file read from an admin form (certificate or seal image); the use cases check tighter limits."""


# Administration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgRow:
    organization: Organization
    identity: SigningIdentity | None
    seal: SealImage | None
    days_left: int | None


def _require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("只有系统管理员可以管理签章证书与印章", "only administrators manage certificates and seals")


def _admin_page(request: Request, *, status: int = 200, problem: LiantuError | None = None) -> Response:
    who = principal(request)
    _require_admin(who)
    platform = platform_of(request)
    with platform.sessions() as db:
        organizations = db.scalars(
            select(Organization)
            .where(Organization.kind.in_(SEALING_KINDS))
            .order_by(Organization.kind, Organization.id)
        ).all()
        rows = []
        for organization in organizations:
            identity = identities.active_identity(db, organization.id)
            rows.append(
                OrgRow(
                    organization,
                    identity,
                    seals.active_seal(db, organization.id),
                    identities.days_left(identity) if identity else None,
                )
            )
        names = {o.id: o.name for o in organizations}
        done = request.query_params.get("done", "")
        return render(
            request,
            "sealing/admin.html",
            status_code=status,
            rows=rows,
            all_identities=identities.list_identities(db),
            org_names=names,
            token_enabled=platform.settings.pkcs11_module is not None,
            done=done if done in ADMIN_DONE and problem is None else "",
            problem=problem,
        )


def admin_page(request: Request) -> Response:
    return _admin_page(request)


async def _admin_act(request: Request, work: Callable[[Session, Principal], str]) -> Response:
    who = principal(request)
    _require_admin(who)
    platform = platform_of(request)

    def run() -> str:
        with transaction(platform.sessions) as db:
            return work(db, who)

    try:
        done = await run_in_threadpool(run)
    except REFUSALS as exc:
        return await run_in_threadpool(_admin_page, request, status=status_for(exc), problem=exc)
    return RedirectResponse(f"/admin/seals?done={done}", status_code=303)


def _organization_id(form: Any) -> int:
    try:
        return int(str(form.get("organization_id", "")))
    except ValueError as exc:
        raise Invalid("请选择单位", "Choose an organisation") from exc


async def _file(form: Any, name: str) -> bytes:
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        return b""
    data = await upload.read(MAX_FORM_FILE + 1)
    if len(data) > MAX_FORM_FILE:
        raise Invalid(
            f"文件过大（上限 {MAX_FORM_FILE // 1024 // 1024} MiB）",
            f"The file is too large (limit {MAX_FORM_FILE // 1024 // 1024} MiB)",
        )
    return bytes(data)


async def import_identity(request: Request) -> Response:
    platform = platform_of(request)
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            organization_id = _organization_id(form)
            data = await _file(form, "pkcs12")
            password = str(form.get("password", ""))
    except Invalid as exc:
        return await run_in_threadpool(_admin_page, request, status=status_for(exc), problem=exc)

    def work(db: Session, who: Principal) -> str:
        identities.import_pkcs12(db, platform.settings, who, organization_id, data=data, password=password)
        return "imported"

    return await _admin_act(request, work)


async def import_token(request: Request) -> Response:
    platform = platform_of(request)
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            organization_id = form.get("organization_id", "")
            token_label = str(form.get("token_label", ""))
            key_label = str(form.get("key_label", ""))
            chain_pem = await _file(form, "chain")
    except Invalid as exc:
        return await run_in_threadpool(_admin_page, request, status=status_for(exc), problem=exc)

    def work(db: Session, who: Principal) -> str:
        identities.import_token(
            db,
            platform.settings,
            who,
            _organization_id({"organization_id": organization_id}),
            token_label=token_label,
            key_label=key_label,
            chain_pem=chain_pem,
        )
        return "token"

    return await _admin_act(request, work)


async def deactivate_identity(request: Request) -> Response:
    identity_id: int = request.path_params["identity_id"]

    def work(db: Session, who: Principal) -> str:
        identities.deactivate(db, who, identity_id)
        return "deactivated"

    return await _admin_act(request, work)


async def upload_seal(request: Request) -> Response:
    platform = platform_of(request)
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            organization_id = _organization_id(form)
            png = await _file(form, "seal")
            purpose = str(form.get("purpose", ""))
    except Invalid as exc:
        return await run_in_threadpool(_admin_page, request, status=status_for(exc), problem=exc)

    def work(db: Session, who: Principal) -> str:
        seals.upload_seal(db, platform.store, who, organization_id, png=png, purpose=purpose)
        return "uploaded"

    return await _admin_act(request, work)


async def generate_seal(request: Request) -> Response:
    platform = platform_of(request)
    async with request.form() as form:
        organization_id = form.get("organization_id", "")
        purpose = str(form.get("purpose", ""))

    def work(db: Session, who: Principal) -> str:
        seals.generate_seal(
            db, platform.store, who, _organization_id({"organization_id": organization_id}), purpose=purpose
        )
        return "generated"

    return await _admin_act(request, work)


def seal_image(request: Request) -> Response:
    """A seal image, for previews (any signed-in user: seals are printed on every result anyway)."""
    principal(request)
    platform = platform_of(request)
    with platform.sessions() as db:
        seal = db.get(SealImage, request.path_params["seal_id"])
        if seal is None:
            raise NotFound("没有该印章图像", "no such seal image")
        key = seal.object_key
    with platform.store.open(key) as stream:
        png = stream.read()
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


# Signing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureRow:
    position: int
    organization: str
    signer: str
    signed_at: Any
    timestamp_at: Any
    waiting: bool


def _load(db: Session, who: Principal, submission_id: int) -> tuple[Submission, ReviewResult | None]:
    submission = db.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    result = result_for(db, submission_id)
    if result is None:
        from app import policy
        from app.policy import Action

        policy.require(who, Action.VIEW_SUBMISSION, submission=submission)
    elif not may_view(who, db, submission, result):
        raise NotFound("没有该报审", "no such submission")
    return submission, result


def _signing_page(
    request: Request, submission_id: int, *, status: int = 200, problem: LiantuError | None = None
) -> Response:
    who = principal(request)
    with platform_of(request).sessions() as db:
        submission, result = _load(db, who, submission_id)
        rows: list[SignatureRow] = []
        my_turn = False
        turn_problem: LiantuError | None = None
        if result is not None:
            names = dict(db.execute(select(Organization.id, Organization.name)).tuples().all())
            signer_ids = [row.signer_id for row in result.signatures if row.signer_id]
            people = dict(db.execute(select(User.id, User.display_name).where(User.id.in_(signer_ids))).tuples().all())
            waiting = next_signature(result)
            rows = [_row(row, names, people, waiting) for row in result.signatures]
            try:
                check_turn(db, who, result)
                my_turn = True
            except (Conflict, Forbidden) as exc:
                turn_problem = exc
        compose_failure = _compose_failure(db, submission_id) if result is None else ""
        done = request.query_params.get("done", "")
        return render(
            request,
            "sealing/result.html",
            status_code=status,
            submission=submission,
            project=submission.project,
            result=result,
            rows=rows,
            my_turn=my_turn,
            compose_failure=compose_failure,
            may_recompose=who.is_admin and submission.state is SubmissionState.PASSED,
            turn_problem=turn_problem if who.has_role(Role.DEPARTMENT_SIGNER) else None,
            done=done if done in SIGN_DONE and problem is None else "",
            problem=problem,
        )


def _compose_failure(db: Session, submission_id: int) -> str:
    """The message of the newest composition run, when it failed (shown so that someone can act on it)."""
    run = db.scalars(
        select(TaskRun)
        .where(
            TaskRun.name == COMPOSE_RESULT,
            TaskRun.object_type == "submission",
            TaskRun.object_id == str(submission_id),
        )
        .order_by(TaskRun.created_at.desc())
        .limit(1)
    ).first()
    return run.message if run is not None and run.state is TaskState.FAILED else ""


async def recompose(request: Request) -> Response:
    """Queue the composition again (administrators), e.g. after a missing certificate was imported."""
    who = principal(request)
    _require_admin(who)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]

    def run() -> None:
        with transaction(platform.sessions) as db:
            submission = db.get(Submission, submission_id)
            if submission is None:
                raise NotFound("没有该报审", "no such submission")
            if submission.state is not SubmissionState.PASSED or result_for(db, submission_id) is not None:
                raise Conflict("该报审不在待生成联审结果的状态", "the submission is not waiting for its result")
            queue_composition(db, submission_id)

    try:
        await run_in_threadpool(run)
    except REFUSALS as exc:
        return await run_in_threadpool(_signing_page, request, submission_id, status=status_for(exc), problem=exc)
    return RedirectResponse(f"/submissions/{submission_id}/result", status_code=303)


def _row(
    row: ResultSignature, names: dict[int, str], people: dict[int, str], waiting: ResultSignature | None
) -> SignatureRow:
    return SignatureRow(
        position=row.position + 1,
        organization=names.get(row.organization_id, ""),
        signer=people.get(row.signer_id or 0, ""),
        signed_at=row.signed_at,
        timestamp_at=row.timestamp_at,
        waiting=waiting is not None and waiting.id == row.id,
    )


def signing_page(request: Request) -> Response:
    return _signing_page(request, request.path_params["submission_id"])


def result_pdf(request: Request) -> Response:
    """The newest revision of the result, shown inline (framed by the signing page only)."""
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]
    with platform.sessions() as db:
        submission, result = _load(db, who, submission_id)
        if result is None:
            raise NotFound("联审结果尚未生成", "the result has not been composed yet")
        key, number = result.object_key, submission.review_number or str(submission.id)
    with platform.store.open(key) as stream:
        pdf = stream.read()
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="result-{number}.pdf"',
            "Cache-Control": "private, no-store",
            # The signing page frames this file; nothing else may.
            "X-Frame-Options": "SAMEORIGIN",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'",
        },
    )


async def sign(request: Request) -> Response:
    who = principal(request)
    platform = platform_of(request)
    submission_id: int = request.path_params["submission_id"]
    async with request.form() as form:
        raw_version = str(form.get("version", ""))

    def run() -> str:
        try:
            version = int(raw_version)
        except ValueError as exc:
            raise Invalid(
                "表单已失效，请刷新页面后重试", "the form is out of date; reload the page and try again"
            ) from exc
        result = sign_result(
            platform.sessions, platform.store, platform.settings, who, submission_id, expected_version=version
        )
        return "sealed" if result.state == "sealed" else "signed"

    try:
        done = await run_in_threadpool(run)
    except REFUSALS as exc:
        return await run_in_threadpool(_signing_page, request, submission_id, status=status_for(exc), problem=exc)
    return RedirectResponse(f"/submissions/{submission_id}/result?done={done}", status_code=303)


routes: list[BaseRoute] = [
    Route("/admin/seals", admin_page, methods=["GET"], name="sealing_admin"),
    Route("/admin/seals/identities", import_identity, methods=["POST"], name="sealing_import"),
    Route("/admin/seals/tokens", import_token, methods=["POST"], name="sealing_token"),
    Route(
        "/admin/seals/identities/{identity_id:int}/deactivate",
        deactivate_identity,
        methods=["POST"],
        name="sealing_deactivate",
    ),
    Route("/admin/seals/images", upload_seal, methods=["POST"], name="sealing_upload"),
    Route("/admin/seals/images/generate", generate_seal, methods=["POST"], name="sealing_generate"),
    Route("/seals/{seal_id:int}.png", seal_image, methods=["GET"], name="sealing_image"),
    Route("/submissions/{submission_id:int}/result", signing_page, methods=["GET"], name="sealing_result"),
    Route("/submissions/{submission_id:int}/result/view.pdf", result_pdf, methods=["GET"], name="sealing_result_pdf"),
    Route("/submissions/{submission_id:int}/result/sign", sign, methods=["POST"], name="sealing_sign"),
    Route("/submissions/{submission_id:int}/result/compose", recompose, methods=["POST"], name="sealing_compose"),
]
