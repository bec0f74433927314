"""The access policy: decisions about single objects agree with the SQL list filters, on both databases."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, NotFound
from app.identity import Principal
from app.policy import Action, can, require, visible_projects, visible_submissions
from app.tracks import ensure_tracks
from storage.models import (
    Organization,
    OrgKind,
    Project,
    Role,
    Round,
    Submission,
    SubmissionState,
    TrackReview,
)


@dataclass
class World:
    """Two design institutes' projects and four submissions in different states and tracks."""

    orgs: dict[str, Organization]
    projects: dict[str, Project]
    submissions: dict[str, Submission]
    people: dict[str, Principal]


def _principal(name: str, organization: Organization, *roles: tuple[Role, str | None]) -> Principal:
    return Principal(
        user_id=hash(name) % 10_000,
        username=name,
        display_name=name,
        organization_id=organization.id,
        organization_kind=organization.kind,
        organization_name=organization.name,
        roles=frozenset(roles),
    )


def _submission(session: Session, project: Project, state: SubmissionState, *rounds: tuple[str, ...]) -> Submission:
    submission = Submission(project=project, state=state)
    session.add(submission)
    for number, tracks in enumerate(rounds, start=1):
        round_ = Round(submission=submission, number=number)
        round_.track_reviews = [TrackReview(track_code=track) for track in tracks]
        session.add(round_)
    session.flush()
    return submission


@pytest.fixture
def world(session: Session) -> World:
    ensure_tracks(session)
    orgs = {
        "design_a": Organization(name="甲设计院", kind=OrgKind.DESIGN_INSTITUTE),
        "design_b": Organization(name="乙设计院", kind=OrgKind.DESIGN_INSTITUTE),
        "agency": Organization(name="审查中心", kind=OrgKind.REVIEW_AGENCY),
        "fire_dept": Organization(name="消防救援支队", kind=OrgKind.DEPARTMENT, department_code="fire"),
        "bureau": Organization(name="住建局", kind=OrgKind.BUREAU),
        "platform": Organization(name="平台运维", kind=OrgKind.PLATFORM),
    }
    session.add_all(orgs.values())
    session.flush()
    projects = {
        "a": Project(organization_id=orgs["design_a"].id, code="JC-A-001", name="甲项目"),
        "b": Project(organization_id=orgs["design_b"].id, code="JC-B-001", name="乙项目"),
        "b_empty": Project(organization_id=orgs["design_b"].id, code="JC-B-002", name="乙项目二"),
    }
    session.add_all(projects.values())
    session.flush()
    submissions = {
        "a_draft": _submission(session, projects["a"], SubmissionState.DRAFT),
        "a_fire": _submission(session, projects["a"], SubmissionState.IN_REVIEW, ("fire",)),
        "b_cad": _submission(session, projects["b"], SubmissionState.REVISING, ("civil_air_defence",), ()),
        "b_sealing": _submission(
            session, projects["b"], SubmissionState.SEALING, ("construction",), ("fire", "construction")
        ),
    }
    people = {
        "designer_a": _principal("designer.a", orgs["design_a"], (Role.DESIGNER, None)),
        "designer_b": _principal("designer.b", orgs["design_b"], (Role.DESIGNER, None)),
        "clerk": _principal("clerk", orgs["agency"], (Role.INTAKE_CLERK, None)),
        "fire_reviewer": _principal("fire.reviewer", orgs["agency"], (Role.REVIEWER, "fire")),
        "fire_lead": _principal("fire.lead", orgs["agency"], (Role.TRACK_LEAD, "fire")),
        "cad_reviewer": _principal("cad.reviewer", orgs["agency"], (Role.REVIEWER, "civil_air_defence")),
        "fire_signer": _principal("fire.signer", orgs["fire_dept"], (Role.DEPARTMENT_SIGNER, "fire")),
        "bureau": _principal("bureau", orgs["bureau"], (Role.BUREAU_OFFICER, None)),
        "admin": _principal("admin", orgs["platform"], (Role.ADMIN, None)),
    }
    return World(orgs, projects, submissions, people)


VISIBLE_SUBMISSIONS = {
    "designer_a": {"a_draft", "a_fire"},
    "designer_b": {"b_cad", "b_sealing"},
    "clerk": {"a_fire", "b_cad", "b_sealing"},
    "fire_reviewer": {"a_fire", "b_sealing"},
    "fire_lead": {"a_fire", "b_sealing"},
    "cad_reviewer": {"b_cad"},
    "fire_signer": {"b_sealing"},
    "bureau": {"a_draft", "a_fire", "b_cad", "b_sealing"},
    "admin": {"a_draft", "a_fire", "b_cad", "b_sealing"},
}

VISIBLE_PROJECTS = {
    "designer_a": {"a"},
    "designer_b": {"b", "b_empty"},
    "clerk": {"a", "b"},
    "fire_reviewer": {"a", "b"},
    "fire_lead": {"a", "b"},
    "cad_reviewer": {"b"},
    "fire_signer": {"b"},
    "bureau": {"a", "b", "b_empty"},
    "admin": {"a", "b", "b_empty"},
}


@pytest.mark.parametrize("person", sorted(VISIBLE_SUBMISSIONS))
def test_submission_visibility_in_sql_and_in_python(session: Session, world: World, person: str) -> None:
    principal = world.people[person]
    names = {submission.id: name for name, submission in world.submissions.items()}
    listed = {names[i] for i in session.scalars(select(Submission.id).where(visible_submissions(principal)))}
    decided = {name for name, s in world.submissions.items() if can(principal, Action.VIEW_SUBMISSION, submission=s)}
    assert listed == VISIBLE_SUBMISSIONS[person]
    assert decided == VISIBLE_SUBMISSIONS[person]


@pytest.mark.parametrize("person", sorted(VISIBLE_PROJECTS))
def test_project_visibility_in_sql_and_in_python(session: Session, world: World, person: str) -> None:
    principal = world.people[person]
    names = {project.id: name for name, project in world.projects.items()}
    listed = {names[i] for i in session.scalars(select(Project.id).where(visible_projects(principal)))}
    decided = {name for name, p in world.projects.items() if can(principal, Action.VIEW_PROJECT, project=p)}
    assert listed == VISIBLE_PROJECTS[person]
    assert decided == VISIBLE_PROJECTS[person]


def test_nobody_sees_anything(session: Session, world: World) -> None:
    assert session.scalars(select(Submission.id).where(visible_submissions(None))).all() == []
    assert session.scalars(select(Project.id).where(visible_projects(None))).all() == []
    assert not can(None, Action.VIEW_PROJECT, project=world.projects["a"])
    with pytest.raises(NotFound):
        require(None, Action.VIEW_PROJECT, project=world.projects["a"])
    with pytest.raises(Forbidden):
        require(None, Action.CREATE_PROJECT)


def test_designers_of_another_organization_get_not_found(world: World) -> None:
    designer_a = world.people["designer_a"]
    require(designer_a, Action.EDIT_PROJECT, project=world.projects["a"])
    require(designer_a, Action.SUBMIT, submission=world.submissions["a_draft"])
    with pytest.raises(NotFound, match="no such project"):
        require(designer_a, Action.VIEW_PROJECT, project=world.projects["b"])
    with pytest.raises(NotFound, match="no such submission"):
        require(designer_a, Action.RESPOND, submission=world.submissions["b_cad"])


def test_a_submission_is_judged_by_its_own_project(world: World) -> None:
    designer_a = world.people["designer_a"]
    foreign = world.submissions["b_cad"]
    assert not can(designer_a, Action.SUBMIT, project=world.projects["a"], submission=foreign)
    with pytest.raises(NotFound):
        require(designer_a, Action.SUBMIT, project=world.projects["a"], submission=foreign)
    own = world.submissions["a_draft"]
    assert can(designer_a, Action.SUBMIT, project=world.projects["a"], submission=own)


def test_track_actions_need_the_routed_track(world: World) -> None:
    reviewer, lead = world.people["fire_reviewer"], world.people["fire_lead"]
    a_fire, b_sealing = world.submissions["a_fire"], world.submissions["b_sealing"]
    require(reviewer, Action.REVIEW_TRACK, submission=a_fire, track="fire")
    require(reviewer, Action.CONCLUDE_TRACK, submission=b_sealing, track="fire")
    # Visible to them, but not their track: forbidden, not hidden.
    with pytest.raises(Forbidden):
        require(reviewer, Action.REVIEW_TRACK, submission=b_sealing, track="construction")
    with pytest.raises(Forbidden):
        require(reviewer, Action.REVIEW_TRACK, submission=a_fire)
    with pytest.raises(Forbidden):
        require(reviewer, Action.ISSUE_OPINION, submission=a_fire, track="fire")
    require(lead, Action.ISSUE_OPINION, submission=a_fire, track="fire")
    require(lead, Action.ASSIGN_REVIEWERS, submission=a_fire, track="fire")
    with pytest.raises(NotFound):
        require(reviewer, Action.VIEW_SUBMISSION, submission=world.submissions["b_cad"])
    with pytest.raises(Forbidden):
        require(reviewer, Action.SUBMIT, submission=a_fire)


def test_signing_permits_and_intake(world: World) -> None:
    signer, bureau, clerk = world.people["fire_signer"], world.people["bureau"], world.people["clerk"]
    b_sealing, a_fire = world.submissions["b_sealing"], world.submissions["a_fire"]
    require(signer, Action.SIGN, submission=b_sealing, track="fire")
    with pytest.raises(Forbidden):
        require(signer, Action.SIGN, submission=b_sealing, track="construction")
    with pytest.raises(NotFound):
        require(signer, Action.SIGN, submission=a_fire, track="fire")
    require(bureau, Action.ISSUE_PERMIT, submission=b_sealing)
    require(bureau, Action.VERIFY, submission=b_sealing)
    with pytest.raises(Forbidden):
        require(bureau, Action.SIGN, submission=b_sealing, track="fire")
    with pytest.raises(Forbidden):
        require(bureau, Action.EDIT_PROJECT, project=world.projects["a"])
    require(clerk, Action.INTAKE, submission=a_fire)
    with pytest.raises(NotFound):
        require(clerk, Action.INTAKE, submission=world.submissions["a_draft"])
    with pytest.raises(Forbidden):
        require(clerk, Action.ISSUE_PERMIT, submission=a_fire)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (Action.CREATE_PROJECT, {"designer_a", "designer_b"}),
        (Action.ADMIN_USERS, {"admin"}),
        (Action.MANAGE_TRACKS, {"admin"}),
        (Action.VIEW_SUPERVISION, {"bureau", "admin"}),
        (Action.VIEW_AUDIT, {"bureau", "admin"}),
    ],
)
def test_platform_actions(world: World, action: Action, allowed: set[str]) -> None:
    assert {name for name, principal in world.people.items() if can(principal, action)} == allowed
    outsider = world.people["fire_reviewer"]
    if "fire_reviewer" not in allowed:
        with pytest.raises(Forbidden):
            require(outsider, action)


def test_admin_reads_but_does_not_act_on_cases(world: World) -> None:
    admin = world.people["admin"]
    b_sealing = world.submissions["b_sealing"]
    assert can(admin, Action.VIEW_SUBMISSION, submission=b_sealing)
    for action, track in [(Action.SIGN, "fire"), (Action.REVIEW_TRACK, "fire"), (Action.SUBMIT, None)]:
        assert not can(admin, action, submission=b_sealing, track=track)
    assert not can(admin, Action.ISSUE_PERMIT, submission=b_sealing)
