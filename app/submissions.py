"""Use cases that move a submission (报审) through its workflow.

Each one loads the submission, asks the access policy whether the actor may act on it, asks
:mod:`review.workflow` whether the step fits the state, the actor's roles and the details given,
stores the new state and appends one audit event, all in the caller's transaction. The caller
commits (``storage.db.transaction`` does).

Concurrency is optimistic: ``Submission.version`` is the mapper's version column, so a writer
that loaded the submission before someone else changed it fails at flush; that becomes
:class:`~app.errors.Conflict`, and the caller's transaction must be rolled back.

Errors: the step does not fit the state, or the round has not concluded → ``Conflict``; the actor
may not take the step → ``Forbidden`` (or ``NotFound`` when the policy hides the submission);
a return without reasons, or 容缺受理 without a commitment → ``Invalid``. Nothing is changed then.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app import audit, policy
from app.announcements import announce
from app.errors import Conflict, Forbidden, Invalid, LiantuError, NotFound
from app.identity.principal import Principal
from app.policy import Action
from review import workflow
from review.workflow import (
    Acceptance,
    ActorRole,
    Event,
    Refusal,
    RefusalKind,
    ReturnReasons,
    RoundConclusion,
    RoundOutcome,
    Step,
    TrackState,
)
from storage.models import Role, Round, Submission, SubmissionState, TrackReview, utcnow


@dataclass(frozen=True)
class SystemActor:
    """The platform itself taking a step (a worker, or a step that follows from another)."""

    name: str = "system"
    """Actor name written to the audit log (as for other changes made without a signed-in user)."""


SYSTEM = SystemActor()

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")

Actor = Principal | SystemActor
"""Who takes a step: a signed-in user, or the platform."""

# The policy action each event needs from a person. Events missing here are taken by the
# platform only; the workflow refuses them to people.
_EVENT_ACTIONS: dict[Event, Action] = {
    Event.SUBMIT: Action.SUBMIT,
    Event.ACCEPT: Action.INTAKE,
    Event.RETURN: Action.INTAKE,
    Event.START_REVIEW: Action.INTAKE,
    Event.REQUEST_REVISION: Action.CONCLUDE_TRACK,
    Event.PASS_ALL: Action.CONCLUDE_TRACK,
    Event.SEAL_COMPLETE: Action.SIGN,
    Event.ISSUE_PERMIT: Action.ISSUE_PERMIT,
}

_ROUND_EVENTS = frozenset({Event.PASS_ALL, Event.REQUEST_REVISION})

# For per-track actions: the role whose tracks are offered to the policy.
_TRACK_ROLE: dict[Action, Role] = {Action.CONCLUDE_TRACK: Role.TRACK_LEAD, Action.SIGN: Role.DEPARTMENT_SIGNER}


def domain_state(state: SubmissionState) -> workflow.SubmissionState:
    """The workflow's state of a stored state (the two enumerations share their values)."""
    return workflow.SubmissionState(state.value)


def stored_state(state: workflow.SubmissionState) -> SubmissionState:
    """The stored state of a workflow state."""
    return SubmissionState(state.value)


def actor_roles(actor: Actor) -> frozenset[ActorRole]:
    """The workflow roles of an actor: a person's granted roles, or the platform's own."""
    if isinstance(actor, SystemActor):
        return frozenset({ActorRole.SYSTEM})
    return frozenset(ActorRole(role.value) for role, _ in actor.roles)


# Use cases -------------------------------------------------------------------------------------


def submit(session: Session, actor: Actor, submission_id: int, *, expected_version: int | None = None) -> Submission:
    """提交报审: the designer hands in a draft, a returned submission, or the revised drawings."""
    return apply(session, actor, submission_id, Event.SUBMIT, expected_version=expected_version)


def accept(
    session: Session,
    actor: Actor,
    submission_id: int,
    *,
    deficiency_tolerated: bool = False,
    commitment: str = "",
    expected_version: int | None = None,
) -> Submission:
    """受理: the intake clerk accepts; with ``deficiency_tolerated`` (容缺受理) on the applicant's commitment."""
    detail = Acceptance(deficiency_tolerated=deficiency_tolerated, commitment=commitment)
    return apply(session, actor, submission_id, Event.ACCEPT, detail, expected_version=expected_version)


def return_submission(
    session: Session,
    actor: Actor,
    submission_id: int,
    reasons: Iterable[str],
    *,
    expected_version: int | None = None,
) -> Submission:
    """退回补正: the intake clerk sends the submission back with at least one reason."""
    detail = ReturnReasons(tuple(reasons))
    return apply(session, actor, submission_id, Event.RETURN, detail, expected_version=expected_version)


def start_review(
    session: Session, actor: Actor, submission_id: int, *, expected_version: int | None = None
) -> Submission:
    """开始审查: an accepted submission goes to the reviewers."""
    return apply(session, actor, submission_id, Event.START_REVIEW, expected_version=expected_version)


def conclude_round(
    session: Session, actor: Actor, submission_id: int, *, expected_version: int | None = None
) -> Submission:
    """本轮结论: once every track of the current round has concluded, pass the submission or ask for revision.

    The event is chosen from the track reviews (:func:`review.workflow.round_outcome`); the round
    is closed with it.
    """
    current = _current_round(session, _load(session, submission_id))
    states = _track_states(session, current) if current else ()
    outcome = workflow.round_outcome(states)
    event = Event.REQUEST_REVISION if outcome is RoundOutcome.REVISE else Event.PASS_ALL
    submission = apply(session, actor, submission_id, event, RoundConclusion(states), expected_version=expected_version)
    if current is not None:
        current.closed_at = utcnow()
        session.flush()
    if submission.state is SubmissionState.PASSED:
        # Every track passed: the result is composed by a worker once this transaction commits.
        from app.sealing.compose import queue_composition

        queue_composition(session, submission.id)
    return submission


def start_sealing(
    session: Session, actor: Actor, submission_id: int, *, expected_version: int | None = None
) -> Submission:
    """开始签章: the result document is composed; departments may now seal it."""
    return apply(session, actor, submission_id, Event.START_SEALING, expected_version=expected_version)


def complete_sealing(
    session: Session, actor: Actor, submission_id: int, *, expected_version: int | None = None
) -> Submission:
    """签章完成: the last department has sealed the result."""
    return apply(session, actor, submission_id, Event.SEAL_COMPLETE, expected_version=expected_version)


def issue_permit(
    session: Session, actor: Actor, submission_id: int, *, expected_version: int | None = None
) -> Submission:
    """核发施工许可: the construction bureau issues the permit."""
    return apply(session, actor, submission_id, Event.ISSUE_PERMIT, expected_version=expected_version)


def possible_events(session: Session, actor: Actor, submission_id: int) -> tuple[Event, ...]:
    """The events ``actor`` could fire on the submission now, in workflow order (for the pages' buttons).

    A round's conclusion is offered only as the event its track reviews call for, and only once
    every track has concluded. Details a step must carry (reasons, a commitment) are checked when
    it is taken.
    """
    submission = _load(session, submission_id)
    possible = [
        event
        for event, _ in workflow.available_events(domain_state(submission.state), actor_roles(actor))
        if _allowed(actor, event, submission)
    ]
    if Event.PASS_ALL in possible or Event.REQUEST_REVISION in possible:
        current = _current_round(session, submission)
        outcome = workflow.round_outcome(_track_states(session, current) if current else ())
        called_for = {RoundOutcome.PASSED: Event.PASS_ALL, RoundOutcome.REVISE: Event.REQUEST_REVISION}.get(outcome)
        possible = [e for e in possible if e not in _ROUND_EVENTS or e is called_for]
    return tuple(possible)


def apply(
    session: Session,
    actor: Actor,
    submission_id: int,
    event: Event,
    detail: workflow.Detail | None = None,
    *,
    expected_version: int | None = None,
) -> Submission:
    """Take one workflow step on a submission and record it; the use cases above name the steps.

    ``expected_version`` is the version the actor saw (a form's hidden field): if the submission
    has changed since, the step is refused with ``Conflict``.
    """
    submission = _load(session, submission_id)
    _require(actor, event, submission)
    if expected_version is not None and submission.version != expected_version:
        raise _stale()
    try:
        step = workflow.decide(domain_state(submission.state), event, actor_roles(actor), detail)
    except Refusal as refusal:
        raise _error_of(refusal) from refusal

    if event is Event.ACCEPT and submission.review_number is None:
        # Read before anything changes, so that the step stays one update (one version) of the row.
        submission.review_number = next_review_number(session)
    submission.state = stored_state(step.after)
    try:
        session.flush()
    except StaleDataError as exc:
        raise _stale() from exc
    except IntegrityError as exc:
        # Another acceptance took the same review number a moment earlier.
        raise Conflict(
            "审查编号已被同时受理的报审占用，请重试", "that review number was just taken; try again"
        ) from exc
    except OperationalError as exc:
        if _outdated_sqlite_snapshot(exc):
            raise _stale() from exc
        raise
    announce(session, submission, event, step)
    # Last, so that the audit head stays locked only briefly before the caller commits.
    audit.record(
        session,
        actor_id=None if isinstance(actor, SystemActor) else actor.user_id,
        actor_name=actor.name if isinstance(actor, SystemActor) else actor.username,
        action=f"submission.{event.value}",
        object_type="submission",
        object_id=str(submission.id),
        summary=describe(step),
    )
    return submission


REVIEW_NUMBER_PREFIX = "SCSC"
"""审查编号 prefix: 施工图审查 (construction drawing review)."""


def next_review_number(session: Session, *, now: dt.datetime | None = None) -> str:
    """The next review number (审查编号) of the year, ``SCSC-2026-00001``, counted in Beijing time.

    Two acceptances at the same moment would pick the same number; the unique column refuses the second,
    whose transaction fails as a conflict and can simply be tried again.
    """
    year = (now or dt.datetime.now(dt.UTC)).astimezone(BEIJING).year
    prefix = f"{REVIEW_NUMBER_PREFIX}-{year}-"
    last = session.scalar(select(func.max(Submission.review_number)).where(Submission.review_number.like(f"{prefix}%")))
    sequence = int(last.removeprefix(prefix)) + 1 if last and last.removeprefix(prefix).isdigit() else 1
    return f"{prefix}{sequence:05d}"


def describe(step: Step) -> str:
    """The audit summary of a step: the states it joined and what it carried."""
    before_zh, before_en = workflow.STATE_NAMES[step.before]
    after_zh, after_en = workflow.STATE_NAMES[step.after]
    text = f"{before_zh} → {after_zh} ({before_en} → {after_en})"
    detail = step.detail
    if isinstance(detail, Acceptance) and detail.deficiency_tolerated:
        text += f"；容缺受理，承诺：{detail.commitment}"
    elif isinstance(detail, ReturnReasons):
        text += "；退回理由：" + "；".join(f"{n}. {reason}" for n, reason in enumerate(detail.reasons, 1))
    elif isinstance(detail, RoundConclusion):
        counts = {state: detail.track_states.count(state) for state in (TrackState.PASSED, TrackState.REVISE)}
        text += f"；专项通过 {counts[TrackState.PASSED]}，需修改 {counts[TrackState.REVISE]}"
    return text


# Helpers ---------------------------------------------------------------------------------------


def _load(session: Session, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    return submission


def _current_round(session: Session, submission: Submission) -> Round | None:
    # Queried rather than read from ``submission.rounds``: that collection may have been loaded
    # before the newest round was added.
    return session.scalars(
        select(Round).where(Round.submission_id == submission.id).order_by(Round.number.desc()).limit(1)
    ).first()


def _track_states(session: Session, round_: Round) -> tuple[TrackState, ...]:
    states = session.scalars(
        select(TrackReview.state).where(TrackReview.round_id == round_.id).order_by(TrackReview.track_code)
    )
    return tuple(TrackState(state.value) for state in states)


def _require(actor: Actor, event: Event, submission: Submission) -> None:
    if isinstance(actor, SystemActor):
        return
    action = _EVENT_ACTIONS.get(event)
    if action is None:
        # Only the platform takes this step: the workflow refuses it, once the user may see the case.
        policy.require(actor, Action.VIEW_SUBMISSION, submission=submission)
        return
    policy.require(actor, action, submission=submission, track=_track_for(actor, action, submission))


def _allowed(actor: Actor, event: Event, submission: Submission) -> bool:
    try:
        _require(actor, event, submission)
    except LiantuError:
        return False
    return True


def _track_for(principal: Principal, action: Action, submission: Submission) -> str | None:
    role = _TRACK_ROLE.get(action)
    if role is None:
        return None
    tracks = sorted(principal.tracks_for(role) & policy.routed_tracks(submission))
    return tracks[0] if tracks else None


def _error_of(refusal: Refusal) -> LiantuError:
    if refusal.kind is RefusalKind.ROLE:
        return Forbidden(refusal.zh, refusal.en)
    if refusal.kind is RefusalKind.DETAIL:
        return Invalid(refusal.zh, refusal.en)
    return Conflict(refusal.zh, refusal.en)


def _outdated_sqlite_snapshot(exc: OperationalError) -> bool:
    """SQLite refuses to write from a transaction that read before another writer committed.

    That is the same stale read the version column catches on PostgreSQL, seen earlier.
    """
    return getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY_SNAPSHOT


def _stale() -> Conflict:
    return Conflict(
        "该报审已被他人更新，请刷新后重试",
        "the submission was changed by someone else; reload it and try again",
    )
