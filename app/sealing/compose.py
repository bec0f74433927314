"""Composing the result (联审结果) once every track has passed.

:func:`queue_composition` is called in the transaction that passes the submission; the worker job
(:mod:`app.sealing.tasks`) runs :func:`compose_result`, which reads the approved sheets, composes
the PDF with every department's empty signature field (:func:`signing.compose.compose_and_prepare`),
stores it, writes the :class:`~storage.models.ReviewResult` and one
:class:`~storage.models.ResultSignature` per department in signing order, moves the submission to
SEALING and tells the first department's signers. Run twice, it finds the result and does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import notifications, submissions
from app.errors import Conflict, Invalid, NotFound
from app.notifications import Message, NotificationKind
from app.settings import Settings
from app.tasks.dispatch import enqueue
from signing.compose import ApprovedSheet, ResultData, TrackConclusion, compose_and_prepare, seal_slots
from signing.errors import SigningProblem
from storage.blobstore.base import BlobStore
from storage.models import (
    DrawingFile,
    Organization,
    OrgKind,
    ResultSignature,
    ReviewResult,
    Role,
    RoleGrant,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    Track,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
)

COMPOSE_RESULT = "sealing.compose_result"
CHINA_TIME = dt.timezone(dt.timedelta(hours=8))
NOT_RECORDED = "（未登记）"


@dataclass(frozen=True)
class Department:
    """A department that seals the result, in signing order."""

    organization_id: int
    name: str
    track_code: str
    field_name: str


def queue_composition(session: Session, submission_id: int) -> None:
    """Queue the job composing the result; sent once the caller's transaction commits."""
    enqueue(session, COMPOSE_RESULT, object_type="submission", object_id=submission_id, submission_id=submission_id)


def signing_departments(session: Session, settings: Settings, submission: Submission) -> list[Department]:
    """The departments of the submission's passed tracks, in the configured signing order."""
    codes = _passed_tracks(session, submission)
    order = {code: index for index, code in enumerate(settings.signing_order)}
    sort_keys = dict(session.execute(select(Track.code, Track.sort_order)).tuples().all())
    codes.sort(key=lambda code: (order.get(code, len(order)), sort_keys.get(code, 0), code))
    departments: list[Department] = []
    for code in codes:
        organization = session.scalars(
            select(Organization)
            .where(Organization.kind == OrgKind.DEPARTMENT, Organization.department_code == code)
            .order_by(Organization.id)
            .limit(1)
        ).first()
        if organization is None:
            raise Invalid(
                f"专项 {code} 没有负责签章的主管部门", f"No department is responsible for sealing track {code}"
            )
        if any(d.organization_id == organization.id for d in departments):
            continue
        field = f"seal_{len(departments) + 1}_{code}"[:40]
        departments.append(Department(organization.id, organization.name, code, field))
    if not departments:
        raise Invalid("没有通过的审查专项", "No review track has passed")
    return departments


def compose_result(session: Session, store: BlobStore, settings: Settings, submission_id: int) -> ReviewResult:
    """Compose and store the result of a passed submission (idempotent: an existing result is returned)."""
    existing = session.scalar(select(ReviewResult).where(ReviewResult.submission_id == submission_id))
    if existing is not None:
        return existing
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    if submission.state is not SubmissionState.PASSED:
        raise Conflict(
            "只有各专项均已通过的报审才能生成联审结果",
            "A result is composed only once every track of the submission has passed",
        )
    departments = signing_departments(session, settings, submission)
    data = _result_data(session, settings, submission, [d.track_code for d in departments])
    sheets, manifest = _approved_sheets(session, store, submission)
    slots = seal_slots([(d.field_name, d.name) for d in departments])
    try:
        pdf = compose_and_prepare(data, sheets, slots)
    except SigningProblem as problem:
        raise Invalid(problem.zh, problem.en) from problem
    digest = hashlib.sha256(pdf).hexdigest()
    key = result_key(submission.id, 0, digest)
    store.put_stream(key, io.BytesIO(pdf), content_type="application/pdf", expected_sha256=digest)
    result = ReviewResult(
        submission_id=submission.id,
        state="signing",
        object_key=key,
        sha256=digest,
        signing_order=[d.track_code for d in departments],
        manifest=manifest,
    )
    session.add(result)
    session.flush()
    for position, department in enumerate(departments):
        session.add(
            ResultSignature(
                result_id=result.id,
                position=position,
                field_name=department.field_name,
                organization_id=department.organization_id,
            )
        )
    session.flush()
    submissions.start_sealing(session, submissions.SYSTEM, submission.id)
    notify_signers(session, submission, departments[0].organization_id, departments[0].track_code)
    return result


def result_key(submission_id: int, revision: int, sha256: str) -> str:
    """Where one revision of a result is kept; every revision under its own key."""
    return f"results/{submission_id}/r{revision}-{sha256}.pdf"


def notify_signers(session: Session, submission: Submission, organization_id: int, track_code: str) -> None:
    """Tell the department's signers that the result waits for their seal."""
    users = session.scalars(
        select(User.id)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(
            User.organization_id == organization_id,
            RoleGrant.role == Role.DEPARTMENT_SIGNER,
            (RoleGrant.track_code == track_code) | RoleGrant.track_code.is_(None),
        )
    ).all()
    number = submission.review_number or str(submission.id)
    notifications.notify(
        session,
        users,
        Message(
            kind=NotificationKind.RESULT_READY_TO_SIGN,
            subject_zh=f"联审结果 {number} 待您签章",
            subject_en=f"Result {number} is ready for your seal",
            body_zh="请阅读联审结果（施工图联合审查合格书）并加盖本部门电子签章。",
            body_en="Please read the joint review result and apply your department's electronic seal.",
            link=f"/submissions/{submission.id}/result",
            submission_id=submission.id,
        ),
        dedupe_key=f"result-to-sign:{submission.id}:{organization_id}",
    )


# Reading the submission ------------------------------------------------------------------------


def _passed_tracks(session: Session, submission: Submission) -> list[str]:
    last_round = session.scalars(
        select(Round).where(Round.submission_id == submission.id).order_by(Round.number.desc()).limit(1)
    ).first()
    if last_round is None:
        return []
    return list(
        session.scalars(
            select(TrackReview.track_code).where(
                TrackReview.round_id == last_round.id, TrackReview.state == TrackReviewState.PASSED
            )
        )
    )


def _result_data(session: Session, settings: Settings, submission: Submission, codes: Sequence[str]) -> ResultData:
    project = submission.project
    if not submission.review_number:
        raise Invalid("报审尚无审查编号", "The submission has no review number yet")
    institute = session.get(Organization, project.organization_id)
    today = dt.datetime.now(CHINA_TIME).date()
    return ResultData(
        project_name=project.name,
        project_code=project.code,
        address=project.address or NOT_RECORDED,
        building_use=project.building_use or NOT_RECORDED,
        floors_above=project.floors_above,
        floors_below=project.floors_below,
        height_m=project.height_m,
        gross_floor_area_m2=project.gross_floor_area_m2,
        fire_resistance_rating=project.fire_resistance_rating or NOT_RECORDED,
        civil_air_defence_area_m2=project.civil_air_defence_area_m2,
        review_number=submission.review_number,
        issued_on=today,
        construction_unit=project.construction_unit or NOT_RECORDED,
        design_institute=institute.name if institute else NOT_RECORDED,
        tracks=tuple(_conclusion(session, submission, code, today) for code in codes),
        verification_url=f"{settings.effective_public_url}/verify/{submission.review_number}",
    )


def _conclusion(session: Session, submission: Submission, code: str, today: dt.date) -> TrackConclusion:
    reviews = session.scalars(
        select(TrackReview)
        .join(Round, Round.id == TrackReview.round_id)
        .where(Round.submission_id == submission.id, TrackReview.track_code == code)
        .order_by(Round.number)
    ).all()
    last = reviews[-1]
    track = session.get(Track, code)
    reviewer_ids = session.scalars(
        select(TrackReviewer.user_id).where(TrackReviewer.track_review_id.in_([r.id for r in reviews]))
    ).all()
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(reviewer_ids))).tuples().all())
    reviewers = tuple(dict.fromkeys(names[i] for i in reviewer_ids if i in names))
    lead = session.get(User, last.concluded_by_id) if last.concluded_by_id else None
    concluded = last.concluded_at.astimezone(CHINA_TIME).date() if last.concluded_at else today
    return TrackConclusion(
        name_zh=f"{track.name_zh}审查" if track else code,
        name_en=track.name_en if track else code,
        conclusion="合格",
        reviewers=reviewers,
        lead=lead.display_name if lead else NOT_RECORDED,
        concluded_on=min(concluded, today),
        rounds=len(reviews),
    )


def _approved_sheets(
    session: Session, store: BlobStore, submission: Submission
) -> tuple[list[ApprovedSheet], list[dict[str, object]]]:
    rows = session.execute(
        select(Sheet, SheetRevision, Round.number, DrawingFile.sha256)
        .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
        .join(Round, Round.id == SheetRevision.round_id)
        .join(DrawingFile, DrawingFile.id == SheetRevision.drawing_file_id)
        .where(Sheet.submission_id == submission.id, SheetRevision.pdf_key.is_not(None))
        .order_by(Sheet.number, Round.number)
    ).all()
    latest: dict[int, tuple[Sheet, SheetRevision, int, str]] = {}
    for sheet, revision, round_number, original in rows:
        latest[sheet.id] = (sheet, revision, round_number, original)
    sheets: list[ApprovedSheet] = []
    manifest: list[dict[str, object]] = []
    for sheet, revision, round_number, original in sorted(latest.values(), key=lambda row: row[0].number):
        assert revision.pdf_key is not None
        with store.open(revision.pdf_key) as stream:
            pdf = stream.read()
        sheet_sha = hashlib.sha256(pdf).hexdigest()
        title = sheet.title or str(revision.title_block.get("title", "")) or sheet.number
        sheets.append(ApprovedSheet(sheet.number, title, round_number, original, sheet_sha, pdf))
        manifest.append(
            {
                "number": sheet.number,
                "title": title,
                "round": round_number,
                "original_sha256": original,
                "sheet_sha256": sheet_sha,
                "sheet_revision_id": revision.id,
            }
        )
    if not sheets:
        raise Invalid("报审没有可列入结果的图纸", "The submission has no sheets to put into the result")
    return sheets, manifest
