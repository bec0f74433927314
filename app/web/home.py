"""What each role sees on its home page (工作台): the queues and counts it works from.

Each function returns plain rows for the template; an empty list is shown as an honest empty state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.policy import visible_projects, visible_submissions
from storage.models import (
    Organization,
    Project,
    Role,
    RoleGrant,
    Round,
    Submission,
    SubmissionState,
    Track,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
    utcnow,
)

if TYPE_CHECKING:
    from app.identity import Principal

LIST_LIMIT = 50
OPEN_REVIEW_STATES = (TrackReviewState.PENDING, TrackReviewState.IN_REVIEW)


@dataclass(frozen=True)
class TrackQueue:
    """Open track reviews of one track."""

    track_code: str
    """Code of the track."""
    rows: list[dict[str, Any]]
    """One row per open track review: project, review number, round, state, due date."""


@dataclass
class HomeData:
    """Everything the home page shows for one principal."""

    projects: list[dict[str, Any]] | None = None
    intake: list[dict[str, Any]] | None = None
    review_queues: list[TrackQueue] = field(default_factory=list)
    lead_queues: list[TrackQueue] = field(default_factory=list)
    signing: list[dict[str, Any]] | None = None
    overview: dict[str, Any] | None = None
    organizations: list[dict[str, Any]] | None = None
    users: list[dict[str, Any]] | None = None


def track_names(session: Session) -> dict[str, tuple[str, str]]:
    """Track code → (Chinese name, English name)."""
    return {row.code: (row.name_zh, row.name_en) for row in session.scalars(select(Track))}


def home_data(session: Session, principal: Principal) -> HomeData:
    data = HomeData()
    if principal.has_role(Role.DESIGNER):
        data.projects = my_projects(session, principal)
    if principal.has_role(Role.INTAKE_CLERK):
        # Accepted cases stay on the desk until the clerk starts their review.
        data.intake = submissions_in(session, principal, (SubmissionState.SUBMITTED, SubmissionState.ACCEPTED))
    for track in sorted(principal.tracks_for(Role.REVIEWER)):
        data.review_queues.append(TrackQueue(track, open_track_reviews(session, track, reviewer_id=principal.user_id)))
    for track in sorted(principal.tracks_for(Role.TRACK_LEAD)):
        data.lead_queues.append(TrackQueue(track, open_track_reviews(session, track)))
    if principal.has_role(Role.DEPARTMENT_SIGNER):
        data.signing = submissions_in(session, principal, (SubmissionState.SEALING,))
    if principal.has_role(Role.BUREAU_OFFICER):
        data.overview = overview(session)
    if principal.is_admin:
        data.organizations = organizations(session)
        data.users = users(session)
    return data


def my_projects(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The projects of the designer's own organisation, newest first, with their latest submission state."""
    latest = (
        select(Submission.project_id, func.max(Submission.id).label("submission_id"))
        .group_by(Submission.project_id)
        .subquery()
    )
    rows = session.execute(
        select(Project, Submission.state)
        .outerjoin(latest, latest.c.project_id == Project.id)
        .outerjoin(Submission, Submission.id == latest.c.submission_id)
        .where(Project.organization_id == principal.organization_id, visible_projects(principal))
        .order_by(Project.created_at.desc(), Project.id.desc())
        .limit(LIST_LIMIT)
    )
    return [
        {"id": project.id, "code": project.code, "name": project.name, "state": state, "created_at": project.created_at}
        for project, state in rows
    ]


def submissions_in(session: Session, principal: Principal, states: tuple[SubmissionState, ...]) -> list[dict[str, Any]]:
    """Submissions in ``states`` that the policy lets ``principal`` see, oldest change first."""
    rows = session.execute(
        select(Submission, Project)
        .join(Project, Project.id == Submission.project_id)
        .where(Submission.state.in_(states), visible_submissions(principal))
        .order_by(Submission.updated_at)
        .limit(LIST_LIMIT)
    )
    return [
        {
            "id": submission.id,
            "review_number": submission.review_number or "—",
            "project_code": project.code,
            "project_name": project.name,
            "state": submission.state,
            "updated_at": submission.updated_at,
        }
        for submission, project in rows
    ]


def open_track_reviews(session: Session, track: str, *, reviewer_id: int | None = None) -> list[dict[str, Any]]:
    """Open reviews of a track in open rounds; for a reviewer, those assigned to them.

    Only called for tracks the principal holds a reviewer or track-lead role for, which is what
    the policy's visibility of routed submissions amounts to.
    """
    query = (
        select(TrackReview, Round, Submission, Project)
        .join(Round, Round.id == TrackReview.round_id)
        .join(Submission, Submission.id == Round.submission_id)
        .join(Project, Project.id == Submission.project_id)
        .where(TrackReview.track_code == track, TrackReview.state.in_(OPEN_REVIEW_STATES), Round.closed_at.is_(None))
        .order_by(TrackReview.due_at.is_(None), TrackReview.due_at, TrackReview.id)
        .limit(LIST_LIMIT)
    )
    if reviewer_id is not None:
        query = query.join(TrackReviewer, TrackReviewer.track_review_id == TrackReview.id).where(
            TrackReviewer.user_id == reviewer_id
        )
    now = utcnow()
    return [
        {
            "id": review.id,
            "submission_id": submission.id,
            "project_name": project.name,
            "review_number": submission.review_number or "—",
            "round": round_.number,
            "state": review.state,
            "due_at": review.due_at,
            "overdue": review.due_at is not None and _aware(review.due_at) < now,
        }
        for review, round_, submission, project in session.execute(query)
    ]


def overview(session: Session) -> dict[str, Any]:
    """Counts for supervision (电子监察): submissions per state and overdue track reviews."""
    counts = dict.fromkeys(SubmissionState, 0)
    for state, count in session.execute(select(Submission.state, func.count()).group_by(Submission.state)):
        counts[state] = count
    overdue = session.scalar(
        select(func.count())
        .select_from(TrackReview)
        .where(TrackReview.state.in_(OPEN_REVIEW_STATES), TrackReview.due_at < utcnow())
    )
    return {
        "by_state": counts,
        "projects": session.scalar(select(func.count()).select_from(Project)) or 0,
        "overdue": overdue or 0,
    }


def organizations(session: Session) -> list[dict[str, Any]]:
    user_count = (
        select(func.count())
        .select_from(User)
        .where(User.organization_id == Organization.id, User.deleted_at.is_(None))
        .scalar_subquery()
    )
    rows = session.execute(select(Organization, user_count).order_by(Organization.kind, Organization.name))
    return [
        {"id": org.id, "name": org.name, "kind": org.kind, "department_code": org.department_code, "users": n}
        for org, n in rows
    ]


def users(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(User, Organization.name)
        .join(Organization, Organization.id == User.organization_id)
        .where(User.deleted_at.is_(None))
        .order_by(Organization.name, User.username)
        .limit(200)
    )
    result = []
    for user, org_name in rows:
        grants = session.execute(select(RoleGrant.role, RoleGrant.track_code).where(RoleGrant.user_id == user.id))
        result.append(
            {
                "username": user.username,
                "display_name": user.display_name,
                "organization": org_name,
                "active": user.is_active,
                "roles": sorted(((role, track) for role, track in grants), key=lambda g: (g[0].value, g[1] or "")),
            }
        )
    return result


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
