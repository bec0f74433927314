"""A submission in review with one sheet revision and the people around it, for the review desk tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.platform import Platform
from app.tracks import CIVIL_AIR_DEFENCE, FIRE, ensure_tracks
from storage.models import (
    DrawingFile,
    Organization,
    OrgKind,
    Project,
    Role,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
)

WIDTH, HEIGHT = 595.0, 420.0
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"
CLAUSE = "GB 50016-2014:5.5.17"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
RECT = {"kind": "rectangle", "points": [[100, 60], [200, 120]], "colour": "#e60012", "stroke_width": 2}


@dataclass(frozen=True)
class Case:
    submission_id: int
    round_id: int
    sheet_id: int
    revision_id: int
    designer: Principal
    fire: Principal
    fire2: Principal
    fire_lead: Principal
    airdef: Principal
    bureau: Principal
    clerk: Principal
    outsider: Principal


def _person(session: Session, org, username: str, role: Role, track: str | None = None) -> Principal:  # type: ignore[no-untyped-def]
    new = check_new_user(session, org, username, f"{username}-名", [(role, track)])
    return principal_from_user(insert_user(session, org, new, PASSWORD_HASH))


def make_case(session: Session, tag: str) -> Case:
    """Organisations, people, a project whose submission is in review in round 1 (fire, civil air defence)."""
    ensure_tracks(session)
    institute = create_organization(session, f"设计院{tag}", OrgKind.DESIGN_INSTITUTE)
    agency = create_organization(session, f"审查中心{tag}", OrgKind.REVIEW_AGENCY)
    bureau_org = create_organization(session, f"住建局{tag}", OrgKind.BUREAU)
    other = create_organization(session, f"别的设计院{tag}", OrgKind.DESIGN_INSTITUTE)
    people = {
        "designer": _person(session, institute, f"d{tag}", Role.DESIGNER),
        "fire": _person(session, agency, f"f{tag}", Role.REVIEWER, FIRE),
        "fire2": _person(session, agency, f"g{tag}", Role.REVIEWER, FIRE),
        "fire_lead": _person(session, agency, f"l{tag}", Role.TRACK_LEAD, FIRE),
        "airdef": _person(session, agency, f"a{tag}", Role.REVIEWER, CIVIL_AIR_DEFENCE),
        "bureau": _person(session, bureau_org, f"b{tag}", Role.BUREAU_OFFICER),
        "clerk": _person(session, agency, f"c{tag}", Role.INTAKE_CLERK),
        "outsider": _person(session, other, f"o{tag}", Role.DESIGNER),
    }
    ids = sheet_in_review(session, institute.id, f"JC-{tag}", f"SC-{tag}")
    return Case(ids.submission_id, ids.round_id, ids.sheet_id, ids.revision_id, **people)


def set_track_state(session: Session, case: Case, track: str, state: TrackReviewState) -> None:
    review = session.scalars(
        select(TrackReview).where(TrackReview.round_id == case.round_id, TrackReview.track_code == track)
    ).one()
    review.state = state
    session.flush()


def hand_to_designer(session: Session, case: Case | WebCase) -> None:
    """Put the submission in the designer's hands (修改中), where they answer and reply."""
    submission = session.get_one(Submission, case.submission_id)
    submission.state = SubmissionState.REVISING
    session.flush()


def issued_at(session: Session, case: Case, track: str) -> dt.datetime | None:
    return session.scalars(
        select(TrackReview.comments_issued_at).where(
            TrackReview.round_id == case.round_id, TrackReview.track_code == track
        )
    ).one()


@dataclass(frozen=True)
class WebCase:
    submission_id: int
    round_id: int
    sheet_id: int
    revision_id: int


def make_web_case(platform: Platform, *, pdf: bytes | None = None) -> WebCase:
    """A demo-institute submission in review (fire and civil air defence) with one sheet revision.

    With ``pdf`` the sheet's original and sheet PDF are that file, stored; without, the revision points at an
    original that is not stored (enough for everything but reading the sheet).
    """
    import io
    import uuid

    from app.seed import DESIGN_INSTITUTE

    key, sha256, size = "originals/00/" + "0" * 64, "0" * 64, 1
    if pdf is not None:
        info = platform.store.put_original(io.BytesIO(pdf), content_type="application/pdf")
        key, sha256, size = info.key, info.sha256 or "", info.size
    tag = uuid.uuid4().hex[:8]
    with platform.sessions() as db, db.begin():
        institute = db.scalars(select(Organization).where(Organization.name == DESIGN_INSTITUTE)).one()
        return sheet_in_review(
            db,
            institute.id,
            f"RV-{tag}",
            f"SC-{tag}",
            original=(key, sha256, size),
            pdf_key=key if pdf is not None else None,
            scale="1:100",
            units="mm",
            units_per_point=35.28,
        )


def sheet_in_review(
    session: Session,
    institute_id: int,
    project_code: str,
    review_number: str,
    *,
    original: tuple[str, str, int] = ("originals/00/" + "0" * 64, "0" * 64, 1),
    **revision: Any,
) -> WebCase:
    """A project of ``institute_id`` whose submission is in review in round 1 (fire, civil air defence), with one
    sheet whose ready revision comes from ``original`` (object key, SHA-256, size); ``revision`` adds columns."""
    key, sha256, size = original
    project = Project(organization_id=institute_id, code=project_code, name="滨江小学")
    session.add(project)
    session.flush()
    submission = Submission(project_id=project.id, state=SubmissionState.IN_REVIEW, review_number=review_number)
    session.add(submission)
    session.flush()
    round_ = Round(submission_id=submission.id, number=1)
    round_.track_reviews = [
        TrackReview(track_code=FIRE, state=TrackReviewState.IN_REVIEW),
        TrackReview(track_code=CIVIL_AIR_DEFENCE, state=TrackReviewState.IN_REVIEW),
    ]
    session.add(round_)
    sheet = Sheet(submission_id=submission.id, number="建施-01", title="一层平面图")
    session.add(sheet)
    session.flush()
    drawing = DrawingFile(
        submission_id=submission.id,
        round_id=round_.id,
        sha256=sha256,
        size=size,
        original_name="建施.pdf",
        media_type="application/pdf",
        object_key=key,
    )
    session.add(drawing)
    session.flush()
    row = SheetRevision(
        sheet_id=sheet.id,
        round_id=round_.id,
        drawing_file_id=drawing.id,
        width_pt=WIDTH,
        height_pt=HEIGHT,
        status="ready",
        **revision,
    )
    session.add(row)
    session.flush()
    return WebCase(submission.id, round_.id, sheet.id, row.id)
