"""The submission workflow: the transition table, role guards, step details and round outcomes."""

from __future__ import annotations

import itertools

import pytest

from review.errors import IllegalTransition, ReviewError
from review.workflow import (
    EVENT_NAMES,
    EVENT_ROLES,
    STATE_NAMES,
    TRANSITIONS,
    Acceptance,
    ActorRole,
    Detail,
    Event,
    Refusal,
    RefusalKind,
    ReturnReasons,
    RoundConclusion,
    RoundOutcome,
    Step,
    SubmissionState,
    TrackState,
    available_events,
    decide,
    round_outcome,
)

S = SubmissionState
T = TrackState
ALL_PASSED = RoundConclusion((T.PASSED, T.PASSED, T.PASSED))
ONE_REVISE = RoundConclusion((T.PASSED, T.REVISE, T.PASSED))

# What each event needs to succeed, so that the whole table can be walked.
GOOD_DETAIL: dict[Event, Detail] = {
    Event.ACCEPT: Acceptance(),
    Event.RETURN: ReturnReasons(("缺少消防设计专篇",)),
    Event.REQUEST_REVISION: ONE_REVISE,
    Event.PASS_ALL: ALL_PASSED,
}


@pytest.mark.parametrize(("state", "event"), sorted(TRANSITIONS))
def test_every_allowed_step_leads_where_the_table_says(state: SubmissionState, event: Event) -> None:
    for role in EVENT_ROLES[event]:
        step = decide(state, event, [role], GOOD_DETAIL.get(event))
        assert step == Step(state, event, TRANSITIONS[(state, event)], step.detail)


def test_the_happy_path_reaches_the_permit() -> None:
    path = [
        (Event.SUBMIT, ActorRole.DESIGNER, S.SUBMITTED),
        (Event.RETURN, ActorRole.INTAKE_CLERK, S.RETURNED),
        (Event.SUBMIT, ActorRole.DESIGNER, S.SUBMITTED),
        (Event.ACCEPT, ActorRole.INTAKE_CLERK, S.ACCEPTED),
        (Event.START_REVIEW, ActorRole.SYSTEM, S.IN_REVIEW),
        (Event.REQUEST_REVISION, ActorRole.SYSTEM, S.REVISING),
        (Event.SUBMIT, ActorRole.DESIGNER, S.SUBMITTED),
        (Event.ACCEPT, ActorRole.INTAKE_CLERK, S.ACCEPTED),
        (Event.START_REVIEW, ActorRole.INTAKE_CLERK, S.IN_REVIEW),
        (Event.PASS_ALL, ActorRole.TRACK_LEAD, S.PASSED),
        (Event.START_SEALING, ActorRole.SYSTEM, S.SEALING),
        (Event.SEAL_COMPLETE, ActorRole.DEPARTMENT_SIGNER, S.SEALED),
        (Event.ISSUE_PERMIT, ActorRole.BUREAU_OFFICER, S.PERMITTED),
    ]
    state = S.DRAFT
    for event, role, expected in path:
        state = decide(state, event, {role}, GOOD_DETAIL.get(event)).after
        assert state is expected


def test_every_state_is_reachable_and_only_the_permit_is_final() -> None:
    reached = {S.DRAFT}
    frontier = [S.DRAFT]
    while frontier:
        state = frontier.pop()
        for _, after in available_events(state):
            if after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == set(SubmissionState)
    assert [state for state in SubmissionState if not available_events(state)] == [S.PERMITTED]


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s, e in itertools.product(SubmissionState, Event) if (s, e) not in TRANSITIONS],
)
def test_steps_outside_the_table_are_refused_naming_state_and_event(state: SubmissionState, event: Event) -> None:
    with pytest.raises(Refusal) as caught:
        decide(state, event, set(ActorRole), GOOD_DETAIL.get(event))
    refusal = caught.value
    assert refusal.kind is RefusalKind.STATE
    assert (refusal.state, refusal.event) == (state, event)
    assert STATE_NAMES[state][0] in refusal.zh
    assert EVENT_NAMES[event][0] in refusal.zh
    assert STATE_NAMES[state][1] in refusal.en
    assert EVENT_NAMES[event][1] in refusal.en
    assert str(refusal) == f"{refusal.zh} / {refusal.en}"


def test_refusals_belong_to_the_review_errors() -> None:
    with pytest.raises(IllegalTransition):
        decide(S.PERMITTED, Event.SUBMIT, [ActorRole.DESIGNER])
    assert issubclass(Refusal, ReviewError)
    assert issubclass(Refusal, ValueError)


@pytest.mark.parametrize(("state", "event"), sorted(TRANSITIONS))
def test_other_roles_may_not_fire_the_event(state: SubmissionState, event: Event) -> None:
    others = set(ActorRole) - EVENT_ROLES[event]
    with pytest.raises(Refusal) as caught:
        decide(state, event, others, GOOD_DETAIL.get(event))
    assert caught.value.kind is RefusalKind.ROLE
    assert "仅限" in caught.value.zh


def test_administrators_drive_no_case() -> None:
    assert all(ActorRole.ADMIN not in roles for roles in EVENT_ROLES.values())
    assert available_events(S.SUBMITTED, [ActorRole.ADMIN]) == ()


def test_one_fitting_role_among_several_is_enough() -> None:
    step = decide(S.DRAFT, Event.SUBMIT, [ActorRole.REVIEWER, ActorRole.DESIGNER])
    assert step.after is S.SUBMITTED


def test_available_events_are_filtered_by_role() -> None:
    assert available_events(S.SUBMITTED) == ((Event.ACCEPT, S.ACCEPTED), (Event.RETURN, S.RETURNED))
    assert available_events(S.SUBMITTED, [ActorRole.DESIGNER]) == ()
    assert available_events(S.IN_REVIEW, [ActorRole.SYSTEM]) == (
        (Event.REQUEST_REVISION, S.REVISING),
        (Event.PASS_ALL, S.PASSED),
    )
    assert available_events(S.REVISING, [ActorRole.DESIGNER]) == ((Event.SUBMIT, S.SUBMITTED),)


def test_plain_acceptance_needs_no_detail() -> None:
    step = decide(S.SUBMITTED, Event.ACCEPT, [ActorRole.INTAKE_CLERK])
    assert step.detail == Acceptance(deficiency_tolerated=False, commitment="")


def test_tolerated_acceptance_keeps_the_commitment() -> None:
    detail = Acceptance(deficiency_tolerated=True, commitment="  十五个工作日内补交节能计算书  ")
    step = decide(S.SUBMITTED, Event.ACCEPT, [ActorRole.INTAKE_CLERK], detail)
    assert step.detail == Acceptance(True, "十五个工作日内补交节能计算书")


@pytest.mark.parametrize(
    "detail",
    [Acceptance(deficiency_tolerated=True), Acceptance(True, "   "), Acceptance(False, "承诺补交")],
)
def test_acceptance_details_must_agree(detail: Acceptance) -> None:
    with pytest.raises(Refusal) as caught:
        decide(S.SUBMITTED, Event.ACCEPT, [ActorRole.INTAKE_CLERK], detail)
    assert caught.value.kind is RefusalKind.DETAIL


@pytest.mark.parametrize("detail", [None, ReturnReasons(()), ReturnReasons(("", "  "))])
def test_return_needs_a_reason(detail: ReturnReasons | None) -> None:
    with pytest.raises(Refusal) as caught:
        decide(S.SUBMITTED, Event.RETURN, [ActorRole.INTAKE_CLERK], detail)
    assert caught.value.kind is RefusalKind.DETAIL
    assert "理由" in caught.value.zh


def test_return_reasons_are_cleaned() -> None:
    step = decide(
        S.SUBMITTED, Event.RETURN, [ActorRole.INTAKE_CLERK], ReturnReasons((" 缺人防计算书 ", "", "签字不全"))
    )
    assert step.detail == ReturnReasons(("缺人防计算书", "签字不全"))


@pytest.mark.parametrize(
    ("states", "outcome"),
    [
        ((), RoundOutcome.OPEN),
        ((T.PASSED, T.PENDING), RoundOutcome.OPEN),
        ((T.REVISE, T.IN_REVIEW), RoundOutcome.OPEN),
        ((T.PASSED,), RoundOutcome.PASSED),
        ((T.PASSED, T.PASSED, T.PASSED), RoundOutcome.PASSED),
        ((T.PASSED, T.REVISE), RoundOutcome.REVISE),
        ((T.REVISE, T.REVISE), RoundOutcome.REVISE),
    ],
)
def test_round_outcome(states: tuple[TrackState, ...], outcome: RoundOutcome) -> None:
    assert round_outcome(states) is outcome
    assert round_outcome(iter(states)) is outcome


@pytest.mark.parametrize(
    ("event", "conclusion"),
    [
        (Event.PASS_ALL, ONE_REVISE),
        (Event.PASS_ALL, RoundConclusion((T.PASSED, T.IN_REVIEW))),
        (Event.PASS_ALL, RoundConclusion(())),
        (Event.REQUEST_REVISION, ALL_PASSED),
        (Event.REQUEST_REVISION, RoundConclusion((T.REVISE, T.PENDING))),
    ],
)
def test_round_events_follow_the_track_reviews(event: Event, conclusion: RoundConclusion) -> None:
    with pytest.raises(Refusal) as caught:
        decide(S.IN_REVIEW, event, [ActorRole.SYSTEM], conclusion)
    assert caught.value.kind is RefusalKind.CONDITION


@pytest.mark.parametrize("event", [Event.PASS_ALL, Event.REQUEST_REVISION])
def test_round_events_need_the_track_reviews(event: Event) -> None:
    with pytest.raises(Refusal) as caught:
        decide(S.IN_REVIEW, event, [ActorRole.TRACK_LEAD])
    assert caught.value.kind is RefusalKind.DETAIL


def test_every_state_and_event_has_both_names() -> None:
    assert set(STATE_NAMES) == set(SubmissionState)
    assert set(EVENT_NAMES) == set(Event)
    assert set(EVENT_ROLES) == set(Event)
    assert all(zh and en for zh, en in [*STATE_NAMES.values(), *EVENT_NAMES.values()])


def test_tables_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(S.PERMITTED, Event.SUBMIT)] = S.DRAFT  # type: ignore[index]
