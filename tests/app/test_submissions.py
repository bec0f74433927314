"""Submission use cases: the whole path to the permit, refusals that change nothing, stale writers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, submissions
from app.errors import Conflict, Forbidden, Invalid, LiantuError, NotFound
from app.identity.principal import Principal
from app.submissions import SYSTEM
from app.tracks import ensure_tracks
from review import workflow
from review.workflow import Event
from storage.models import (
    AuditEvent,
    Organization,
    OrgKind,
    Project,
    Role,
    Round,
    Submission,
    SubmissionState,
    TrackReview,
    TrackReviewState,
)

TRACKS = ("fire", "civil_air_defence", "construction")


@dataclass(frozen=True)
class Cast:
    designer: Principal
    other_designer: Principal
    clerk: Principal
    lead: Principal
    signer: Principal
    officer: Principal


def _principal(org: Organization, user_id: int, name: str, *roles: tuple[Role, str | None]) -> Principal:
    return Principal(
        user_id=user_id,
        username=f"user{user_id}",
        display_name=name,
        organization_id=org.id,
        organization_kind=org.kind,
        organization_name=org.name,
        roles=frozenset(roles),
    )


@pytest.fixture
def cast(session: Session) -> Cast:
    ensure_tracks(session)
    institute = Organization(name="市建筑设计研究院", kind=OrgKind.DESIGN_INSTITUTE)
    rival = Organization(name="另一家设计院", kind=OrgKind.DESIGN_INSTITUTE)
    agency = Organization(name="施工图审查中心", kind=OrgKind.REVIEW_AGENCY)
    fire = Organization(name="消防救援支队", kind=OrgKind.DEPARTMENT, department_code="fire")
    bureau = Organization(name="市住房和城乡建设局", kind=OrgKind.BUREAU)
    session.add_all([institute, rival, agency, fire, bureau])
    session.flush()
    return Cast(
        designer=_principal(institute, 1, "王设计", (Role.DESIGNER, None)),
        other_designer=_principal(rival, 2, "李设计", (Role.DESIGNER, None)),
        clerk=_principal(agency, 3, "赵受理", (Role.INTAKE_CLERK, None)),
        lead=_principal(agency, 4, "钱负责", (Role.TRACK_LEAD, "fire"), (Role.REVIEWER, "fire")),
        signer=_principal(fire, 5, "孙签章", (Role.DEPARTMENT_SIGNER, "fire")),
        officer=_principal(bureau, 6, "周经办", (Role.BUREAU_OFFICER, None)),
    )


@pytest.fixture
def submission_id(session: Session, cast: Cast) -> int:
    project = Project(code="P-2026-001", name="滨江小学新建工程", organization_id=cast.designer.organization_id)
    submission = Submission()
    project.submissions.append(submission)
    session.add(project)
    session.commit()
    return submission.id


def _open_round(session: Session, submission_id: int, number: int, states: dict[str, TrackReviewState]) -> None:
    round_ = Round(submission_id=submission_id, number=number)
    round_.track_reviews = [TrackReview(track_code=code, state=state) for code, state in states.items()]
    session.add(round_)
    session.flush()


def _conclude_tracks(session: Session, submission_id: int, state: TrackReviewState, only: str | None = None) -> None:
    reviews = session.scalars(select(TrackReview).join(Round).where(Round.submission_id == submission_id))
    for review in reviews:
        if only is None or review.track_code == only:
            review.state = state
    session.flush()


def _snapshot(session: Session, submission_id: int) -> tuple[SubmissionState, int, int]:
    session.expire_all()
    submission = session.get(Submission, submission_id)
    assert submission is not None
    return submission.state, submission.version, audit.event_count(session)


def test_domain_and_stored_enumerations_share_their_values() -> None:
    assert {s.value for s in workflow.SubmissionState} == {s.value for s in SubmissionState}
    assert {s.value for s in workflow.TrackState} == {s.value for s in TrackReviewState}
    assert {r.value for r in workflow.ActorRole} == {r.value for r in Role} | {"system"}
    for state in SubmissionState:
        assert submissions.stored_state(submissions.domain_state(state)) is state


def test_full_path_from_draft_to_permit(session: Session, cast: Cast, submission_id: int) -> None:
    taken = 0

    def then(submission: Submission, expected: SubmissionState) -> None:
        nonlocal taken
        taken += 1
        session.commit()
        assert submission.state is expected
        assert submission.version == 1 + taken
        assert audit.event_count(session) == taken

    sid = submission_id
    then(submissions.submit(session, cast.designer, sid), SubmissionState.SUBMITTED)
    then(submissions.return_submission(session, cast.clerk, sid, ["缺少消防设计专篇"]), SubmissionState.RETURNED)
    then(submissions.submit(session, cast.designer, sid), SubmissionState.SUBMITTED)
    commitment = "十个工作日内补交节能计算书"
    then(
        submissions.accept(session, cast.clerk, sid, deficiency_tolerated=True, commitment=commitment),
        SubmissionState.ACCEPTED,
    )
    then(submissions.start_review(session, cast.clerk, sid), SubmissionState.IN_REVIEW)
    _open_round(session, sid, 1, dict.fromkeys(TRACKS, TrackReviewState.PASSED) | {"fire": TrackReviewState.REVISE})
    then(submissions.conclude_round(session, cast.lead, sid), SubmissionState.REVISING)
    then(submissions.submit(session, cast.designer, sid), SubmissionState.SUBMITTED)
    then(submissions.accept(session, cast.clerk, sid), SubmissionState.ACCEPTED)
    then(submissions.start_review(session, SYSTEM, sid), SubmissionState.IN_REVIEW)
    _open_round(session, sid, 2, dict.fromkeys(TRACKS, TrackReviewState.PASSED))
    then(submissions.conclude_round(session, SYSTEM, sid), SubmissionState.PASSED)
    then(submissions.start_sealing(session, SYSTEM, sid), SubmissionState.SEALING)
    then(submissions.complete_sealing(session, cast.signer, sid), SubmissionState.SEALED)
    then(submissions.issue_permit(session, cast.officer, sid), SubmissionState.PERMITTED)

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "submission.submit",
        "submission.return",
        "submission.submit",
        "submission.accept",
        "submission.start_review",
        "submission.request_revision",
        "submission.submit",
        "submission.accept",
        "submission.start_review",
        "submission.pass_all",
        "submission.start_sealing",
        "submission.seal_complete",
        "submission.issue_permit",
    ]
    assert {e.object_id for e in events} == {str(submission_id)}
    assert events[0].actor_id == cast.designer.user_id
    assert events[0].actor_name == "user1"
    assert events[0].summary == "草稿 → 已提交 (draft → submitted)"
    assert "1. 缺少消防设计专篇" in events[1].summary
    assert "容缺受理，承诺：十个工作日内补交节能计算书" in events[3].summary
    assert "需修改 1" in events[5].summary
    assert (events[8].actor_id, events[8].actor_name) == (None, "system")

    rounds = session.scalars(select(Round).where(Round.submission_id == submission_id)).all()
    assert all(r.closed_at is not None for r in rounds)
    report = audit.verify(session)
    assert report.ok, report.problems
    assert report.count == 13


@pytest.mark.parametrize(
    ("state", "take_step", "error"),
    [
        # The step does not fit the state.
        (SubmissionState.SUBMITTED, lambda s, c, i: submissions.submit(s, c.designer, i), Conflict),
        (SubmissionState.SUBMITTED, lambda s, c, i: submissions.issue_permit(s, c.officer, i), Conflict),
        (SubmissionState.IN_REVIEW, lambda s, c, i: submissions.start_sealing(s, SYSTEM, i), Conflict),
        (SubmissionState.PERMITTED, lambda s, c, i: submissions.submit(s, c.designer, i), Conflict),
        # The round has not concluded (no track review at all, here).
        (SubmissionState.IN_REVIEW, lambda s, c, i: submissions.conclude_round(s, SYSTEM, i), Conflict),
        # The actor may not take the step.
        (SubmissionState.SUBMITTED, lambda s, c, i: submissions.accept(s, c.designer, i), Forbidden),
        (SubmissionState.PASSED, lambda s, c, i: submissions.start_sealing(s, c.officer, i), Forbidden),
        (SubmissionState.SEALED, lambda s, c, i: submissions.issue_permit(s, SYSTEM, i), Forbidden),
        (SubmissionState.DRAFT, lambda s, c, i: submissions.submit(s, c.other_designer, i), NotFound),
        # The step lacks what it must carry.
        (SubmissionState.SUBMITTED, lambda s, c, i: submissions.return_submission(s, c.clerk, i, [" "]), Invalid),
        (
            SubmissionState.SUBMITTED,
            lambda s, c, i: submissions.accept(s, c.clerk, i, deficiency_tolerated=True),
            Invalid,
        ),
    ],
)
def test_refused_steps_change_nothing(
    session: Session,
    cast: Cast,
    submission_id: int,
    state: SubmissionState,
    take_step: Callable[[Session, Cast, int], Submission],
    error: type[LiantuError],
) -> None:
    submission = session.get(Submission, submission_id)
    assert submission is not None
    submission.state = state
    session.commit()
    before = _snapshot(session, submission_id)

    with pytest.raises(error) as caught:
        take_step(session, cast, submission_id)
    session.rollback()

    assert caught.value.zh
    assert caught.value.en
    assert _snapshot(session, submission_id) == before


def test_conflict_message_names_state_and_event(session: Session, cast: Cast, submission_id: int) -> None:
    submissions.submit(session, cast.designer, submission_id)
    with pytest.raises(Conflict) as caught:
        submissions.submit(session, cast.designer, submission_id)
    assert "已提交" in caught.value.zh
    assert "提交" in caught.value.zh
    assert "submitted" in caught.value.en
    assert "cannot submit" in caught.value.en


def test_unknown_submission_is_not_found(session: Session, cast: Cast) -> None:
    with pytest.raises(NotFound):
        submissions.submit(session, cast.designer, 999_999)


def test_form_of_an_older_version_is_a_conflict(session: Session, cast: Cast, submission_id: int) -> None:
    seen = submissions.submit(session, cast.designer, submission_id).version
    session.commit()
    submissions.return_submission(session, cast.clerk, submission_id, ["图纸目录不全"], expected_version=seen)
    session.commit()
    before = _snapshot(session, submission_id)

    with pytest.raises(Conflict, match="reload"):
        submissions.submit(session, cast.designer, submission_id, expected_version=seen)
    session.rollback()
    assert _snapshot(session, submission_id) == before


def test_possible_events_follow_state_role_and_policy(session: Session, cast: Cast, submission_id: int) -> None:
    assert submissions.possible_events(session, cast.designer, submission_id) == (Event.SUBMIT,)
    assert submissions.possible_events(session, cast.other_designer, submission_id) == ()
    submissions.submit(session, cast.designer, submission_id)
    assert submissions.possible_events(session, cast.clerk, submission_id) == (Event.ACCEPT, Event.RETURN)
    assert submissions.possible_events(session, cast.designer, submission_id) == ()
    submissions.accept(session, cast.clerk, submission_id)
    submissions.start_review(session, SYSTEM, submission_id)
    # The lead sees the case only once it is routed to the fire track.
    assert submissions.possible_events(session, cast.lead, submission_id) == ()
    _open_round(session, submission_id, 1, dict.fromkeys(TRACKS, TrackReviewState.IN_REVIEW))
    session.expire_all()
    # Routed now, but no track has concluded: nothing to decide yet.
    assert submissions.possible_events(session, cast.lead, submission_id) == ()
    _conclude_tracks(session, submission_id, TrackReviewState.PASSED)
    assert submissions.possible_events(session, cast.lead, submission_id) == (Event.PASS_ALL,)
    _conclude_tracks(session, submission_id, TrackReviewState.REVISE, only="fire")
    assert submissions.possible_events(session, SYSTEM, submission_id) == (Event.REQUEST_REVISION,)
    assert submissions.possible_events(session, cast.designer, submission_id) == ()


def test_refusals_are_liantu_errors_with_both_languages(session: Session, cast: Cast, submission_id: int) -> None:
    with pytest.raises(LiantuError) as caught:
        submissions.issue_permit(session, cast.officer, submission_id)
    assert " / " in str(caught.value)
    assert isinstance(caught.value, Conflict)
