"""The submission workflow (报审流程): states, named events, who may fire them, and what they need.

One table, :data:`TRANSITIONS`, says which event leads from which state to which; pages read it
(through :func:`available_events`) to offer only the possible actions. :func:`decide` checks one
step against the table, the actor's roles and the step's details, and either returns the
:class:`Step` or raises :class:`Refusal`. Nothing here touches a database: the caller loads the
submission, asks this module, and stores the outcome.

The life of a submission::

    draft ─submit→ submitted ─accept→ accepted ─start_review→ in_review ─pass_all→ passed
                   │  ↑   ↑                                      │
             return│  │   └──────── submit ── revising ←─────────┘ request_revision
                   ↓  │submit
                  returned

    passed ─start_sealing→ sealing ─seal_complete→ sealed ─issue_permit→ permitted
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from review.errors import IllegalTransition


class SubmissionState(StrEnum):
    """Where a submission (报审) stands. Values are those stored in the database."""

    DRAFT = "draft"  # 草稿
    SUBMITTED = "submitted"  # 已提交
    RETURNED = "returned"  # 退回补正
    ACCEPTED = "accepted"  # 已受理
    IN_REVIEW = "in_review"  # 审查中
    REVISING = "revising"  # 修改中（设计院持有）
    PASSED = "passed"  # 各专项通过
    SEALING = "sealing"  # 签章中
    SEALED = "sealed"  # 已签章
    PERMITTED = "permitted"  # 已发证


class Event(StrEnum):
    """A named step of the workflow."""

    SUBMIT = "submit"  # 提交（含修改后重新提交）
    ACCEPT = "accept"  # 受理（可容缺受理）
    RETURN = "return"  # 退回补正
    START_REVIEW = "start_review"  # 开始审查
    REQUEST_REVISION = "request_revision"  # 本轮结论：需修改
    PASS_ALL = "pass_all"  # noqa: S105 - 本轮结论：全部通过
    START_SEALING = "start_sealing"  # 开始签章
    SEAL_COMPLETE = "seal_complete"  # 签章完成
    ISSUE_PERMIT = "issue_permit"  # 核发施工许可


class ActorRole(StrEnum):
    """Who is acting. Values of people's roles are those stored for role grants; ``system`` is the platform itself."""

    ADMIN = "admin"  # 系统管理员
    DESIGNER = "designer"  # 设计人员
    INTAKE_CLERK = "intake_clerk"  # 受理窗口
    REVIEWER = "reviewer"  # 审查人员
    TRACK_LEAD = "track_lead"  # 专项负责人
    DEPARTMENT_SIGNER = "department_signer"  # 部门签章人
    BUREAU_OFFICER = "bureau_officer"  # 住建局经办人
    SYSTEM = "system"  # 平台自动处理


class TrackState(StrEnum):
    """Where one track review (专项审查) of a round stands. Values are those stored in the database."""

    PENDING = "pending"  # 待审
    IN_REVIEW = "in_review"  # 审查中
    REVISE = "revise"  # 需修改
    PASSED = "passed"  # 通过


class RoundOutcome(StrEnum):
    """What the track reviews of a round add up to."""

    OPEN = "open"  # 尚有专项未给出结论
    REVISE = "revise"  # 需修改
    PASSED = "passed"  # 全部通过


S = SubmissionState
E = Event

TRANSITIONS: Mapping[tuple[SubmissionState, Event], SubmissionState] = MappingProxyType(
    {
        (S.DRAFT, E.SUBMIT): S.SUBMITTED,
        (S.RETURNED, E.SUBMIT): S.SUBMITTED,
        (S.REVISING, E.SUBMIT): S.SUBMITTED,
        (S.SUBMITTED, E.ACCEPT): S.ACCEPTED,
        (S.SUBMITTED, E.RETURN): S.RETURNED,
        (S.ACCEPTED, E.START_REVIEW): S.IN_REVIEW,
        (S.IN_REVIEW, E.REQUEST_REVISION): S.REVISING,
        (S.IN_REVIEW, E.PASS_ALL): S.PASSED,
        (S.PASSED, E.START_SEALING): S.SEALING,
        (S.SEALING, E.SEAL_COMPLETE): S.SEALED,
        (S.SEALED, E.ISSUE_PERMIT): S.PERMITTED,
    }
)
"""Every allowed (state, event) and the state it leads to; anything else is refused."""

EVENT_ROLES: Mapping[Event, frozenset[ActorRole]] = MappingProxyType(
    {
        E.SUBMIT: frozenset({ActorRole.DESIGNER}),
        E.ACCEPT: frozenset({ActorRole.INTAKE_CLERK}),
        E.RETURN: frozenset({ActorRole.INTAKE_CLERK}),
        E.START_REVIEW: frozenset({ActorRole.INTAKE_CLERK, ActorRole.SYSTEM}),
        E.REQUEST_REVISION: frozenset({ActorRole.TRACK_LEAD, ActorRole.SYSTEM}),
        E.PASS_ALL: frozenset({ActorRole.TRACK_LEAD, ActorRole.SYSTEM}),
        # Sealing opens once the platform has composed the result document.
        E.START_SEALING: frozenset({ActorRole.SYSTEM}),
        E.SEAL_COMPLETE: frozenset({ActorRole.DEPARTMENT_SIGNER, ActorRole.SYSTEM}),
        E.ISSUE_PERMIT: frozenset({ActorRole.BUREAU_OFFICER}),
    }
)
"""Which roles may fire each event. Administrators fire none: they run the platform, not the cases."""

STATE_NAMES: Mapping[SubmissionState, tuple[str, str]] = MappingProxyType(
    {
        S.DRAFT: ("草稿", "draft"),
        S.SUBMITTED: ("已提交", "submitted"),
        S.RETURNED: ("退回补正", "returned"),
        S.ACCEPTED: ("已受理", "accepted"),
        S.IN_REVIEW: ("审查中", "in review"),
        S.REVISING: ("修改中", "revising"),
        S.PASSED: ("各专项通过", "passed"),
        S.SEALING: ("签章中", "sealing"),
        S.SEALED: ("已签章", "sealed"),
        S.PERMITTED: ("已发证", "permitted"),
    }
)
"""Chinese and English name of each state."""

EVENT_NAMES: Mapping[Event, tuple[str, str]] = MappingProxyType(
    {
        E.SUBMIT: ("提交", "submit"),
        E.ACCEPT: ("受理", "accept"),
        E.RETURN: ("退回", "return"),
        E.START_REVIEW: ("开始审查", "start review"),
        E.REQUEST_REVISION: ("要求修改", "request revision"),
        E.PASS_ALL: ("审查通过", "pass"),
        E.START_SEALING: ("开始签章", "start sealing"),
        E.SEAL_COMPLETE: ("完成签章", "complete sealing"),
        E.ISSUE_PERMIT: ("核发施工许可", "issue permit"),
    }
)
"""Chinese and English name of each event."""

del S, E


class RefusalKind(StrEnum):
    """Why a step was refused."""

    STATE = "WORKFLOW_STATE"
    """The event is not possible from the current state."""
    ROLE = "WORKFLOW_ROLE"
    """None of the actor's roles may fire the event."""
    CONDITION = "WORKFLOW_CONDITION"
    """The state fits but the case does not yet (e.g. a track has not concluded)."""
    DETAIL = "WORKFLOW_DETAIL"
    """The step lacks what it must carry (return reasons, the commitment of 容缺受理)."""


class Refusal(IllegalTransition):
    """A step the workflow does not allow; the message, in Chinese and English, names the state and the event."""

    def __init__(self, kind: RefusalKind, state: SubmissionState, event: Event, zh: str, en: str) -> None:
        state_zh, state_en = STATE_NAMES[state]
        event_zh, event_en = EVENT_NAMES[event]
        self.kind = kind
        self.state = state
        self.event = event
        self.zh = f"当前状态“{state_zh}”下不能“{event_zh}”：{zh}"
        self.en = f"cannot {event_en} while {state_en}: {en}"
        super().__init__(f"{self.zh} / {self.en}")


@dataclass(frozen=True)
class Acceptance:
    """Details of accepting a submission (受理)."""

    deficiency_tolerated: bool = False
    """容缺受理: accepted although some materials are missing, on the applicant's written commitment."""
    commitment: str = ""
    """The applicant's commitment (承诺) to supply what is missing; required exactly when tolerated."""


@dataclass(frozen=True)
class ReturnReasons:
    """Why a submission goes back to the designer (退回补正); at least one reason."""

    reasons: tuple[str, ...]
    """One entry per missing or faulty item, as shown to the designer."""


@dataclass(frozen=True)
class RoundConclusion:
    """The track reviews of the current round, for the events that conclude it."""

    track_states: tuple[TrackState, ...]
    """State of every track review in the round."""


Detail = Acceptance | ReturnReasons | RoundConclusion


@dataclass(frozen=True)
class Step:
    """An allowed step: where the submission was, what happened, where it is now."""

    before: SubmissionState
    """State before the event."""
    event: Event
    """The event fired."""
    after: SubmissionState
    """State after the event."""
    detail: Detail | None = None
    """What the step carried (cleaned: reasons and commitment stripped of surrounding blanks)."""


def round_outcome(track_states: Iterable[TrackState]) -> RoundOutcome:
    """What a round's track reviews add up to.

    Open while any track has not concluded (or the round has no track at all); otherwise revise
    when any track asks for revision, passed when every track passed.
    """
    states = list(track_states)
    if not states or any(state in (TrackState.PENDING, TrackState.IN_REVIEW) for state in states):
        return RoundOutcome.OPEN
    if TrackState.REVISE in states:
        return RoundOutcome.REVISE
    return RoundOutcome.PASSED


def available_events(
    state: SubmissionState, roles: Iterable[ActorRole] | None = None
) -> tuple[tuple[Event, SubmissionState], ...]:
    """The events possible from ``state`` (for ``roles``, when given) and where each leads, in workflow order."""
    held = None if roles is None else frozenset(roles)
    return tuple(
        (event, TRANSITIONS[(state, event)])
        for event in Event
        if (state, event) in TRANSITIONS and (held is None or held & EVENT_ROLES[event])
    )


def decide(
    state: SubmissionState,
    event: Event,
    roles: Iterable[ActorRole],
    detail: Detail | None = None,
) -> Step:
    """Check one step and return it, or raise :class:`Refusal`.

    Checked in this order: the state allows the event; one of ``roles`` may fire it; the details
    the event needs are there (:class:`Acceptance` for accept, :class:`ReturnReasons` for return,
    :class:`RoundConclusion` for request_revision and pass_all).
    """
    after = TRANSITIONS.get((state, event))
    if after is None:
        raise Refusal(RefusalKind.STATE, state, event, "此操作不适用于该状态", "the step does not apply to this state")
    if not frozenset(roles) & EVENT_ROLES[event]:
        zh = "、".join(_ROLE_NAMES[role][0] for role in sorted(EVENT_ROLES[event]))
        en = ", ".join(_ROLE_NAMES[role][1] for role in sorted(EVENT_ROLES[event]))
        raise Refusal(RefusalKind.ROLE, state, event, f"仅限{zh}", f"only for {en}")
    return Step(state, event, after, _checked_detail(state, event, detail))


def _checked_detail(state: SubmissionState, event: Event, detail: Detail | None) -> Detail | None:
    if event is Event.ACCEPT:
        acceptance = detail if isinstance(detail, Acceptance) else Acceptance()
        commitment = acceptance.commitment.strip()
        if acceptance.deficiency_tolerated and not commitment:
            raise Refusal(
                RefusalKind.DETAIL,
                state,
                event,
                "容缺受理须附申请人的书面承诺",
                "tolerated acceptance needs a commitment",
            )
        if commitment and not acceptance.deficiency_tolerated:
            raise Refusal(
                RefusalKind.DETAIL,
                state,
                event,
                "仅容缺受理需要承诺",
                "a commitment is only taken with tolerated acceptance",
            )
        return Acceptance(acceptance.deficiency_tolerated, commitment)
    if event is Event.RETURN:
        reasons = tuple(r.strip() for r in detail.reasons if r.strip()) if isinstance(detail, ReturnReasons) else ()
        if not reasons:
            raise Refusal(RefusalKind.DETAIL, state, event, "退回须写明至少一条理由", "give at least one reason")
        return ReturnReasons(reasons)
    if event in (Event.REQUEST_REVISION, Event.PASS_ALL):
        if not isinstance(detail, RoundConclusion):
            raise Refusal(
                RefusalKind.DETAIL, state, event, "缺少本轮各专项的结论", "the track reviews of the round are missing"
            )
        outcome = round_outcome(detail.track_states)
        if outcome is RoundOutcome.OPEN:
            raise Refusal(
                RefusalKind.CONDITION, state, event, "尚有专项未给出结论", "not every track has concluded yet"
            )
        if event is Event.PASS_ALL and outcome is not RoundOutcome.PASSED:
            raise Refusal(RefusalKind.CONDITION, state, event, "有专项要求修改", "a track asks for revision")
        if event is Event.REQUEST_REVISION and outcome is not RoundOutcome.REVISE:
            raise Refusal(
                RefusalKind.CONDITION, state, event, "各专项均已通过，无需修改", "every track passed; nothing to revise"
            )
        return detail
    return None


_ROLE_NAMES: Mapping[ActorRole, tuple[str, str]] = MappingProxyType(
    {
        ActorRole.ADMIN: ("系统管理员", "administrators"),
        ActorRole.DESIGNER: ("设计人员", "designers"),
        ActorRole.INTAKE_CLERK: ("受理窗口", "intake clerks"),
        ActorRole.REVIEWER: ("审查人员", "reviewers"),
        ActorRole.TRACK_LEAD: ("专项负责人", "track leads"),
        ActorRole.DEPARTMENT_SIGNER: ("部门签章人", "department signers"),
        ActorRole.BUREAU_OFFICER: ("住建局经办人", "bureau officers"),
        ActorRole.SYSTEM: ("平台自动处理", "the platform"),
    }
)
