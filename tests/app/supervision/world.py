"""A small world for deadline, fee and supervision tests: people with real user rows, a project, a submission."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.identity.principal import Principal, principal_from_user
from app.tracks import ensure_tracks
from review.deadlines.clock import SHANGHAI
from storage.models import (
    Organization,
    OrgKind,
    Project,
    Role,
    RoleGrant,
    Round,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
)


def cst(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A Beijing time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class World:
    designer: Principal
    clerk: Principal
    bureau: Principal
    fire_reviewer: Principal
    fire_lead: Principal
    construction_reviewer: Principal
    institute_id: int


def _user(session: Session, org: Organization, username: str, name: str, role: Role, track: str | None) -> Principal:
    user = User(
        organization_id=org.id,
        username=username,
        display_name=name,
        password_hash="-",
        roles=[RoleGrant(role=role, track_code=track)],
    )
    session.add(user)
    session.flush()
    session.refresh(user)
    return principal_from_user(user)


def make_world(session: Session) -> World:
    ensure_tracks(session)
    institute = Organization(name="市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE)
    agency = Organization(name="施工图审查中心", kind=OrgKind.REVIEW_AGENCY)
    bureau = Organization(name="市住房和城乡建设局", kind=OrgKind.BUREAU)
    session.add_all([institute, agency, bureau])
    session.flush()
    world = World(
        designer=_user(session, institute, "designer", "王建国", Role.DESIGNER, None),
        clerk=_user(session, agency, "clerk", "刘敏", Role.INTAKE_CLERK, None),
        bureau=_user(session, bureau, "bureau", "林晓", Role.BUREAU_OFFICER, None),
        fire_reviewer=_user(session, agency, "fire.reviewer", "赵磊", Role.REVIEWER, "fire"),
        fire_lead=_user(session, agency, "fire.lead", "钱伟", Role.TRACK_LEAD, "fire"),
        construction_reviewer=_user(session, agency, "construction.reviewer", "吴静", Role.REVIEWER, "construction"),
        institute_id=institute.id,
    )
    session.commit()
    return world


def make_submission(
    session: Session,
    world: World,
    *,
    code: str = "P-2026-001",
    area: float = 5000.0,
    tracks: tuple[str, ...] = ("fire", "construction"),
    state: SubmissionState = SubmissionState.ACCEPTED,
) -> Submission:
    """An accepted submission with round 1 open and a pending review for each track."""
    project = Project(
        code=code, name=f"滨江小学{code[-3:]}", organization_id=world.institute_id, gross_floor_area_m2=area
    )
    submission = Submission(state=state)
    project.submissions.append(submission)
    session.add(project)
    session.flush()
    round_ = Round(submission_id=submission.id, number=1)
    session.add(round_)
    session.flush()
    session.add_all(TrackReview(round_id=round_.id, track_code=code_) for code_ in tracks)
    session.commit()
    return submission


def concluded_review(
    session: Session,
    submission: Submission,
    number: int,
    track: str,
    started: dt.datetime,
    concluded: dt.datetime,
    *,
    reviewers: tuple[Principal, ...] = (),
    state: TrackReviewState = TrackReviewState.PASSED,
) -> TrackReview:
    """A track review of round ``number`` that started and concluded at the given times."""
    round_ = session.query(Round).filter_by(submission_id=submission.id, number=number).one_or_none()
    if round_ is None:
        round_ = Round(submission_id=submission.id, number=number)
        session.add(round_)
        session.flush()
    review = session.query(TrackReview).filter_by(round_id=round_.id, track_code=track).one_or_none()
    if review is None:
        review = TrackReview(round_id=round_.id, track_code=track)
        session.add(review)
    review.state = state
    review.started_at = started
    review.concluded_at = concluded
    session.flush()
    session.add_all(TrackReviewer(track_review_id=review.id, user_id=who.user_id) for who in reviewers)
    session.flush()
    return review
