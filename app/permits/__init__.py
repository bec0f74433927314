"""Construction permits (施工许可) and the e-licence library (电子证照库).

The bureau officer issues the permit only on a result that verifies now: :func:`request_permit` (the
pages) re-verifies the stored result (and its manifest) in one transaction, keeps that verification,
and only when it was valid queues the worker job that issues (:mod:`app.permits.tasks`);
:func:`verify_and_issue` does both steps in the caller's process. Issuing numbers the permit, composes its
PDF, seals it with the bureau's identity (a certification signature that allows no change, with an
RFC 3161 timestamp, validation data and a document timestamp: PAdES B-LTA), stores it, records the
permit and the library entries, moves the submission to PERMITTED and tells the designers.

Permit numbers (施工许可证编号) read ``SGXK-<year>-<sequence>``: ``SGXK`` for 施工许可, the year of
issue in Beijing time, and a five-digit sequence that starts at 00001 every year
(``SGXK-2026-00001``). They are unique; two permits issued at the same moment cannot share one
(the second is refused with a conflict and may simply be issued again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from pyhanko.sign import signers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app import audit, policy, submissions
from app.errors import Conflict, Forbidden, NotFound
from app.identity.principal import Principal
from app.notifications import Message, NotificationKind, notify
from app.permits.document import PermitData, compose_permit
from app.policy import Action
from app.settings import Settings
from app.tasks.dispatch import enqueue
from app.tasks.runs import OPEN_STATES
from app.verification import Outcome, read_result, result_of_submission, trust_roots, verify_stored_result
from signing.errors import SigningProblem
from signing.sign import SignatureRole, StampText, sign
from storage.blobstore import BlobStore
from storage.db import transaction
from storage.models import (
    Licence,
    Organization,
    Permit,
    Project,
    ReviewResult,
    Role,
    RoleGrant,
    Submission,
    SubmissionState,
    TaskRun,
    User,
    Verification,
    utcnow,
)

NUMBER_PREFIX = "SGXK"
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
VERIFICATION_MAX_AGE = dt.timedelta(minutes=10)
"""A verification older than this is not enough to issue on: the officer verifies again."""
PERMIT_KIND = "construction_permit"
RESULT_KIND = "review_result"
PDF = "application/pdf"
ISSUE_PERMIT = "permits.issue"
_NUMBER = re.compile(rf"{NUMBER_PREFIX}-(\d{{4}})-(\d{{5}})")


# The bureau's seal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BureauSeal:
    """What the bureau seals the permit with."""

    signer: signers.Signer
    """The bureau's signer (PKCS#12 or PKCS#11 behind pyHanko's interface)."""
    seal_png: bytes
    """The seal image shown in the signature field."""


SealSource = Callable[[Session, Organization], AbstractContextManager[BureauSeal]]
"""Opens an organisation's signing identity and seal image (a token session closes on exit);
raises :class:`Conflict` when it has none."""

_seal_source: SealSource | None = None


def use_seal_source(source: SealSource | None) -> None:
    """Install where bureau seals come from (the platform's identity store, or a test PKI)."""
    global _seal_source  # noqa: PLW0603 - one source per process, like the platform itself
    _seal_source = source


def bureau_seal(
    session: Session, organization: Organization, settings: Settings, store: BlobStore
) -> AbstractContextManager[BureauSeal]:
    """The installed source's seal, else the organisation's active identity and seal image."""
    if _seal_source is not None:
        return _seal_source(session, organization)
    return _stored_seal(session, organization, settings, store)


@contextmanager
def _stored_seal(
    session: Session, organization: Organization, settings: Settings, store: BlobStore
) -> Iterator[BureauSeal]:
    from app.sealing import identities, seals

    identity = identities.active_identity(session, organization.id)
    image = seals.active_seal(session, organization.id)
    if identity is None or image is None:
        raise Conflict(
            f"{organization.name}尚未配置电子签章证书或印章图片，无法签发施工许可证",
            f"{organization.name} has no signing identity or seal image; the permit cannot be sealed",
        )
    with identities.open_signer(settings, identity) as signer:
        yield BureauSeal(signer, seals.seal_png(store, image))


# Numbers ----------------------------------------------------------------------------------------


def next_permit_number(session: Session, issued_at: dt.datetime) -> str:
    """The next number of the year of ``issued_at`` (Beijing time)."""
    year = issued_at.astimezone(BEIJING).year
    prefix = f"{NUMBER_PREFIX}-{year}-"
    last = session.scalar(select(func.max(Permit.number)).where(Permit.number.like(f"{prefix}%")))
    sequence = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{sequence:05d}"


# Issuing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """The outcome of :func:`verify_and_issue`."""

    verification: Outcome
    """The verification made at issue time (kept whatever it said)."""
    permit_id: int | None
    """The new permit, or None when the result did not verify."""


def verify_and_issue(
    sessions: sessionmaker[Session],
    store: BlobStore,
    settings: Settings,
    who: Principal,
    submission_id: int,
    *,
    roots: list[bytes],
    expected_version: int | None = None,
) -> Issued:
    """核发施工许可: verify the stored result again, then issue if and only if it is valid."""
    with transaction(sessions) as db:
        _check_issuable(db, who, submission_id)
        outcome = verify_stored_result(db, store, who, submission_id, roots)
    if not outcome.valid:
        return Issued(outcome, None)
    with transaction(sessions) as db:
        permit = issue_permit(
            db,
            store,
            settings,
            who,
            submission_id,
            verification_id=outcome.verification.id,
            expected_version=expected_version,
        )
        return Issued(outcome, permit.id)


@dataclass(frozen=True)
class Requested:
    """The outcome of :func:`request_permit`."""

    verification: Outcome
    """The verification made at request time (kept whatever it said)."""
    run_id: str | None
    """The queued issuing job, or None when the result did not verify."""


def request_permit(
    sessions: sessionmaker[Session],
    store: BlobStore,
    settings: Settings,
    who: Principal,
    submission_id: int,
    *,
    roots: list[bytes],
) -> Requested:
    """核发施工许可 from a page: verify now, and queue the issuing job only when the result is valid.

    Composing and sealing the permit is heavy work (PyMuPDF, the timestamp authority), done by a worker.
    """
    with transaction(sessions) as db:
        _check_issuable(db, who, submission_id)
        _refuse_if_pending(db, submission_id)
        outcome = verify_stored_result(db, store, who, submission_id, roots)
    if not outcome.valid:
        return Requested(outcome, None)
    with transaction(sessions) as db:
        _check_issuable(db, who, submission_id)
        _refuse_if_pending(db, submission_id)
        run = enqueue(
            db,
            ISSUE_PERMIT,
            object_type="submission",
            object_id=submission_id,
            submission_id=submission_id,
            verification_id=outcome.verification.id,
            user_id=who.user_id,
        )
        return Requested(outcome, run.id)


def pending_issue(session: Session, submission_id: int) -> TaskRun | None:
    """The newest issuing job of the submission (open, failed or done), if any."""
    return session.scalars(
        select(TaskRun)
        .where(TaskRun.name == ISSUE_PERMIT, TaskRun.object_id == str(submission_id))
        .order_by(TaskRun.created_at.desc())
        .limit(1)
    ).first()


def _refuse_if_pending(session: Session, submission_id: int) -> None:
    run = pending_issue(session, submission_id)
    if run is not None and run.state in OPEN_STATES:
        raise Conflict("施工许可证正在签发中，请稍候", "The permit is being issued; please wait")


def _check_issuable(session: Session, who: Principal, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.ISSUE_PERMIT, submission=submission)
    if session.scalar(select(Permit.id).where(Permit.submission_id == submission_id)) is not None:
        raise Conflict("该报审已核发施工许可证", "A permit has already been issued for this submission")
    if submission.state is not SubmissionState.SEALED:
        raise Conflict(
            "只有各部门签章完成的报审才能核发施工许可证",
            "A permit is issued only once every department has sealed the result",
        )
    return submission


def issue_permit(
    session: Session,
    store: BlobStore,
    settings: Settings,
    who: Principal,
    submission_id: int,
    *,
    verification_id: int,
    expected_version: int | None = None,
) -> Permit:
    """Issue the permit on a fresh, valid verification of the submission's stored result."""
    submission = _check_issuable(session, who, submission_id)
    result = result_of_submission(session, submission_id)
    verification = session.get(Verification, verification_id)
    if (
        verification is None
        or verification.result_id != result.id
        or verification.sha256 != result.sha256
        or verification.verdict != "valid"
        or _aware(verification.at) < utcnow() - VERIFICATION_MAX_AGE
    ):
        raise Conflict(
            "联审结果须在核发前重新验证且验证有效",
            "The result must be verified again, and be valid, right before the permit is issued",
        )
    organization = session.get(Organization, who.organization_id)
    if organization is None:  # pragma: no cover - a principal always has an organisation
        raise Forbidden("您无权执行此操作", "you are not allowed to do this")
    project = submission.project
    issued_at = utcnow()
    number = next_permit_number(session, issued_at)
    review_number = submission.review_number or str(submission.id)
    data = PermitData(
        number=number,
        construction_unit=_construction_unit(session, project),
        project_name=project.name,
        project_code=project.code,
        address=project.address,
        scale=_scale(project),
        design_institute=_organisation_name(session, project.organization_id),
        review_number=review_number,
        result_sha256=result.sha256,
        bureau=organization.name,
        issued_on=issued_at.astimezone(BEIJING).date(),
        verification_url=f"{settings.effective_public_url}/verify/{review_number}",
    )
    try:
        with bureau_seal(session, organization, settings, store) as seal:
            pdf = sign(
                compose_permit(data),
                field_name="bureau",
                signer=seal.signer,
                seal_png=seal.seal_png,
                role=SignatureRole.SOLE_CERTIFY,
                timestamper_url=settings.tsa_url or None,
                trust_roots=trust_roots(settings),
                stamp=StampText(reason="核发建筑工程施工许可证", location=organization.name),
            )
    except SigningProblem as exc:
        raise Conflict(f"施工许可证签章失败：{exc.zh}", f"Sealing the permit failed: {exc.en}") from exc
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = f"permits/{submission.id}/{number}.pdf"
    store.put_stream(key, io.BytesIO(pdf), content_type=PDF, expected_size=len(pdf), expected_sha256=sha256)
    permit = Permit(
        number=number,
        submission_id=submission.id,
        result_id=result.id,
        verification_id=verification.id,
        object_key=key,
        sha256=sha256,
        issued_at=issued_at,
        issued_by_id=who.user_id,
    )
    session.add(permit)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "施工许可证编号或报审已被同时占用，请重试", "The permit was issued at the same moment; try again"
        ) from exc
    holder = data.construction_unit
    session.add(
        Licence(
            kind=PERMIT_KIND,
            number=number,
            project_code=project.code,
            project_name=project.name,
            holder=holder,
            permit_id=permit.id,
            result_id=result.id,
            object_key=key,
            sha256=sha256,
            issued_at=issued_at,
        )
    )
    record_result_licence(session, result, submission, project, holder)
    submissions.issue_permit(session, who, submission.id, expected_version=expected_version)
    _tell_designers(session, submission, project, number)
    audit.record(
        session,
        actor_id=who.user_id,
        actor_name=who.username,
        action="permit.issue",
        object_type="permit",
        object_id=str(permit.id),
        summary=f"{number}；{project.code} {project.name}；联审结果 {review_number}",
    )
    return permit


def record_result_licence(
    session: Session, result: ReviewResult, submission: Submission, project: Project, holder: str
) -> Licence:
    """The library entry of a sealed result (once per result)."""
    number = submission.review_number or f"RESULT-{result.id}"
    existing = session.scalars(
        select(Licence).where(Licence.kind == RESULT_KIND, Licence.result_id == result.id)
    ).first()
    if existing is not None:
        return existing
    entry = Licence(
        kind=RESULT_KIND,
        number=number,
        project_code=project.code,
        project_name=project.name,
        holder=holder,
        result_id=result.id,
        object_key=result.object_key,
        sha256=result.sha256,
        issued_at=result.sealed_at or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def _construction_unit(session: Session, project: Project) -> str:
    # Projects created before the construction unit was asked have none: the permit then names the
    # applicant organisation, as it always did for them.
    return project.construction_unit or _organisation_name(session, project.organization_id)


def _organisation_name(session: Session, organization_id: int) -> str:
    organization = session.get(Organization, organization_id)
    return organization.name if organization is not None else ""


def _scale(project: Project) -> str:
    parts = []
    if project.gross_floor_area_m2:
        parts.append(f"总建筑面积 {project.gross_floor_area_m2:,.1f} m²")
    if project.floors_above or project.floors_below:
        parts.append(f"地上 {project.floors_above} 层、地下 {project.floors_below} 层")
    if project.height_m:
        parts.append(f"建筑高度 {project.height_m:g} m")
    return "，".join(parts)


def _tell_designers(session: Session, submission: Submission, project: Project, number: str) -> None:
    designers = set(
        session.scalars(
            select(User.id)
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(User.organization_id == project.organization_id, RoleGrant.role == Role.DESIGNER)
        )
    )
    notify(
        session,
        designers,
        Message(
            kind=NotificationKind.PERMIT_ISSUED,
            subject_zh=f"施工许可证已核发：{project.name}（{number}）",
            subject_en=f"Construction permit issued: {project.name} ({number})",
            body_zh="联审结果与施工许可证可在报审页面下载。",
            body_en="The joint review result and the permit can be downloaded from the submission page.",
            link=f"/submissions/{submission.id}",
        ),
        dedupe_key=f"permit:{submission.id}",
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# Downloads and the library -----------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """A file to hand to the browser."""

    data: bytes
    file_name: str
    sha256: str


def result_download(session: Session, store: BlobStore, who: Principal, submission_id: int) -> Download:
    """The sealed result, for anyone who may see the submission."""
    submission = _visible(session, who, submission_id)
    result = result_of_submission(session, submission_id)
    if result.state != "sealed":
        raise NotFound("联审结果尚未签章完成", "The joint review result is not sealed yet")
    name = f"联审结果-{submission.review_number or submission.id}.pdf"
    return Download(read_result(store, result), name, result.sha256)


def permit_of(session: Session, submission_id: int) -> Permit | None:
    return session.scalars(select(Permit).where(Permit.submission_id == submission_id)).first()


def permit_download(session: Session, store: BlobStore, who: Principal, submission_id: int) -> Download:
    """The sealed permit, for anyone who may see the submission."""
    _visible(session, who, submission_id)
    permit = permit_of(session, submission_id)
    if permit is None:
        raise NotFound("该报审尚未核发施工许可证", "No permit has been issued for this submission")
    with store.open(permit.object_key) as stream:
        data = stream.read()
    return Download(data, f"施工许可证-{permit.number}.pdf", permit.sha256)


def _visible(session: Session, who: Principal, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.VIEW_SUBMISSION, submission=submission)
    return submission


LIBRARY_LIMIT = 200


def search_licences(session: Session, who: Principal, project_code: str) -> list[Licence]:
    """电子证照库: entries whose project code contains ``project_code`` (case-insensitive), newest first."""
    if not who.has_role(Role.BUREAU_OFFICER):
        raise Forbidden(
            "只有住建局经办人可以查阅电子证照库", "Only construction bureau officers use the e-licence library"
        )
    query = select(Licence).order_by(Licence.issued_at.desc(), Licence.id.desc()).limit(LIBRARY_LIMIT)
    code = project_code.strip()[:64]
    if code:
        escaped = code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Licence.project_code.ilike(f"%{escaped}%", escape="\\"))
    return list(session.scalars(query))


def licence_download(session: Session, store: BlobStore, who: Principal, licence_id: int) -> Download:
    if not who.has_role(Role.BUREAU_OFFICER):
        raise Forbidden(
            "只有住建局经办人可以查阅电子证照库", "Only construction bureau officers use the e-licence library"
        )
    entry = session.get(Licence, licence_id)
    if entry is None:
        raise NotFound("没有该证照", "no such licence")
    with store.open(entry.object_key) as stream:
        data = stream.read()
    prefix = "施工许可证" if entry.kind == PERMIT_KIND else "联审结果"
    return Download(data, f"{prefix}-{entry.number}.pdf", entry.sha256)
