"""The access policy (权限): every decision about who may see or do what is made here and nowhere else.

Two faces of the same rules: :func:`can` / :func:`require` decide about one loaded object, and
:func:`visible_projects` / :func:`visible_submissions` give SQL conditions for lists, so that a
page never loads rows it may not show. The policy decides *who*; whether a step fits the current
state of a submission (e.g. submitting twice) is the workflow's business and raises ``Conflict`` there.

Who sees what:

- designers (设计院): the projects of their own organisation and all their submissions;
- intake clerks (受理窗口): every submission once submitted (not drafts);
- reviewers and track leads (审查人员、专项负责人): submissions routed to one of their tracks,
  i.e. with a track review for that track in some round;
- department signers (部门签章人): submissions routed to their track once sealing has begun;
- bureau officers (住建局) and administrators: everything, read only unless their role says more.

A project is visible to whoever sees one of its submissions, and to its own designers.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from app.errors import Forbidden, NotFound
from app.identity.principal import Principal
from storage.models import OrgKind, Project, Role, Round, Submission, SubmissionState, TrackReview


class Action(StrEnum):
    VIEW_PROJECT = "view_project"  # 查看项目
    CREATE_PROJECT = "create_project"  # 新建项目
    EDIT_PROJECT = "edit_project"  # 编辑项目、上传图纸、新建报审
    VIEW_SUBMISSION = "view_submission"  # 查看报审
    SUBMIT = "submit"  # 提交报审、上传修改图纸
    RESPOND = "respond"  # 回复审查意见
    INTAKE = "intake"  # 受理、退回、调整图纸编号与专项
    REVIEW_TRACK = "review_track"  # 标注、填写审查意见
    CONCLUDE_TRACK = "conclude_track"  # 给出本轮结论：通过或修改
    ASSIGN_REVIEWERS = "assign_reviewers"  # 分配审查人员
    ISSUE_OPINION = "issue_opinion"  # 出具审查意见书
    SIGN = "sign"  # 部门电子签章
    VERIFY = "verify"  # 核验联审结果
    ISSUE_PERMIT = "issue_permit"  # 核发施工许可
    VIEW_SUPERVISION = "view_supervision"  # 电子监察
    VIEW_AUDIT = "view_audit"  # 查看审计日志
    ADMIN_USERS = "admin_users"  # 管理单位与用户
    MANAGE_TRACKS = "manage_tracks"  # 启用或停用专项


OBJECT_ACTIONS = frozenset(
    {
        Action.VIEW_PROJECT,
        Action.EDIT_PROJECT,
        Action.VIEW_SUBMISSION,
        Action.SUBMIT,
        Action.RESPOND,
        Action.INTAKE,
        Action.REVIEW_TRACK,
        Action.CONCLUDE_TRACK,
        Action.ASSIGN_REVIEWERS,
        Action.ISSUE_OPINION,
        Action.SIGN,
        Action.VERIFY,
        Action.ISSUE_PERMIT,
    }
)
"""Actions about one project or submission; the others are about the platform as a whole."""

TRACK_ACTIONS = frozenset(
    {Action.REVIEW_TRACK, Action.CONCLUDE_TRACK, Action.ASSIGN_REVIEWERS, Action.ISSUE_OPINION, Action.SIGN}
)
"""Actions done for one track; without a track they are refused."""

_NOT_DRAFT = frozenset(SubmissionState) - {SubmissionState.DRAFT}
SEALING_OR_LATER = frozenset({SubmissionState.SEALING, SubmissionState.SEALED, SubmissionState.PERMITTED})

_PLATFORM_ACTIONS: dict[Action, frozenset[Role]] = {
    Action.CREATE_PROJECT: frozenset({Role.DESIGNER}),
    Action.VIEW_SUPERVISION: frozenset({Role.BUREAU_OFFICER, Role.ADMIN}),
    Action.VIEW_AUDIT: frozenset({Role.BUREAU_OFFICER, Role.ADMIN}),
    Action.ADMIN_USERS: frozenset({Role.ADMIN}),
    Action.MANAGE_TRACKS: frozenset({Role.ADMIN}),
}

_DESIGNER_ACTIONS = frozenset({Action.EDIT_PROJECT, Action.SUBMIT, Action.RESPOND})

_SUBMISSION_ROLES: dict[Action, frozenset[Role]] = {
    Action.INTAKE: frozenset({Role.INTAKE_CLERK}),
    Action.VERIFY: frozenset({Role.BUREAU_OFFICER}),
    Action.ISSUE_PERMIT: frozenset({Role.BUREAU_OFFICER}),
}

_TRACK_ROLES: dict[Action, frozenset[Role]] = {
    Action.REVIEW_TRACK: frozenset({Role.REVIEWER, Role.TRACK_LEAD}),
    Action.CONCLUDE_TRACK: frozenset({Role.REVIEWER, Role.TRACK_LEAD}),
    Action.ASSIGN_REVIEWERS: frozenset({Role.TRACK_LEAD}),
    Action.ISSUE_OPINION: frozenset({Role.TRACK_LEAD}),
    Action.SIGN: frozenset({Role.DEPARTMENT_SIGNER}),
}


# Decisions about one object ---------------------------------------------------------------------


def can(
    principal: Principal | None,
    action: Action,
    *,
    project: Project | None = None,
    submission: Submission | None = None,
    track: str | None = None,
) -> bool:
    """Whether ``principal`` may do ``action`` (on ``project`` / ``submission``, for ``track``).

    ``submission`` implies its project; a different ``project`` passed with it is refused.
    Objects must be attached to a session: their rounds and track reviews are read to learn which
    tracks a submission was routed to.
    """
    if principal is None:
        return False
    if action in _PLATFORM_ACTIONS:
        return any(principal.has_role(role) for role in _PLATFORM_ACTIONS[action])
    if submission is not None:
        # A submission is judged by its own project, never by one passed beside it.
        if project is not None and project.id != submission.project_id:
            return False
        own = submission.project
        return _sees_submission(principal, submission, own) and _can_on_submission(
            principal, action, submission, own, track
        )
    return project is not None and _can_on_project(principal, action, project)


def require(
    principal: Principal | None,
    action: Action,
    *,
    project: Project | None = None,
    submission: Submission | None = None,
    track: str | None = None,
) -> None:
    """Raise unless :func:`can` allows the action.

    :class:`NotFound` when the principal may not even know the object exists (another
    organisation's project, a submission not routed to the reviewer's track), :class:`Forbidden`
    when it is visible but the action is not theirs.
    """
    if can(principal, action, project=project, submission=submission, track=track):
        return
    if submission is not None and not can(principal, Action.VIEW_SUBMISSION, submission=submission):
        raise NotFound("没有该报审", "no such submission")
    if submission is None and project is not None and not can(principal, Action.VIEW_PROJECT, project=project):
        raise NotFound("没有该项目", "no such project")
    raise Forbidden("您无权执行此操作", "you are not allowed to do this")


def routed_tracks(submission: Submission) -> frozenset[str]:
    """The tracks a submission was routed to: those with a track review in any of its rounds."""
    return frozenset(review.track_code for round_ in submission.rounds for review in round_.track_reviews)


def _is_designer_of(principal: Principal, project: Project) -> bool:
    return (
        principal.has_role(Role.DESIGNER)
        and principal.organization_kind is OrgKind.DESIGN_INSTITUTE
        and project.organization_id == principal.organization_id
    )


def _reads_everything(principal: Principal) -> bool:
    return principal.is_admin or principal.has_role(Role.BUREAU_OFFICER)


def _can_on_project(principal: Principal, action: Action, project: Project) -> bool:
    if action is Action.VIEW_PROJECT:
        return (
            _reads_everything(principal)
            or _is_designer_of(principal, project)
            or any(_sees_submission(principal, submission, project) for submission in project.submissions)
        )
    if action is Action.EDIT_PROJECT:
        return _is_designer_of(principal, project)
    return False


def _sees_submission(principal: Principal, submission: Submission, project: Project) -> bool:
    if _reads_everything(principal) or _is_designer_of(principal, project):
        return True
    if principal.has_role(Role.INTAKE_CLERK) and submission.state in _NOT_DRAFT:
        return True
    routed = routed_tracks(submission)
    if routed & (principal.tracks_for(Role.REVIEWER) | principal.tracks_for(Role.TRACK_LEAD)):
        return True
    return submission.state in SEALING_OR_LATER and bool(routed & principal.tracks_for(Role.DEPARTMENT_SIGNER))


def _can_on_submission(
    principal: Principal, action: Action, submission: Submission, project: Project, track: str | None
) -> bool:
    if action in (Action.VIEW_SUBMISSION, Action.VIEW_PROJECT):
        return True
    if action in _DESIGNER_ACTIONS:
        return _is_designer_of(principal, project)
    if action in _SUBMISSION_ROLES:
        return any(principal.has_role(role) for role in _SUBMISSION_ROLES[action])
    if action in _TRACK_ROLES:
        return (
            track is not None
            and track in routed_tracks(submission)
            and any(principal.has_role(role, track) for role in _TRACK_ROLES[action])
        )
    return False


# Conditions for lists ---------------------------------------------------------------------------


def visible_submissions(principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE condition on :class:`Submission` selecting what ``principal`` may see.

    Use as ``select(Submission).where(visible_submissions(p))``.
    """
    if principal is None:
        return false()
    if _reads_everything(principal):
        return true()
    conditions: list[ColumnElement[bool]] = []
    if principal.has_role(Role.DESIGNER) and principal.organization_kind is OrgKind.DESIGN_INSTITUTE:
        owner = aliased(Project)
        conditions.append(
            exists(
                select(owner.id)
                .where(owner.id == Submission.project_id, owner.organization_id == principal.organization_id)
                .correlate(Submission)
            )
        )
    if principal.has_role(Role.INTAKE_CLERK):
        conditions.append(Submission.state.in_(sorted(_NOT_DRAFT)))
    review_tracks = principal.tracks_for(Role.REVIEWER) | principal.tracks_for(Role.TRACK_LEAD)
    if review_tracks:
        conditions.append(_routed_to(review_tracks))
    signer_tracks = principal.tracks_for(Role.DEPARTMENT_SIGNER)
    if signer_tracks:
        conditions.append(and_(Submission.state.in_(sorted(SEALING_OR_LATER)), _routed_to(signer_tracks)))
    return or_(false(), *conditions)


def visible_projects(principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE condition on :class:`Project` selecting what ``principal`` may see."""
    if principal is None:
        return false()
    if _reads_everything(principal):
        return true()
    conditions: list[ColumnElement[bool]] = []
    if principal.has_role(Role.DESIGNER) and principal.organization_kind is OrgKind.DESIGN_INSTITUTE:
        conditions.append(Project.organization_id == principal.organization_id)
    conditions.append(
        exists(
            select(Submission.id)
            .where(Submission.project_id == Project.id, visible_submissions(principal))
            .correlate(Project)
        )
    )
    return or_(*conditions)


def _routed_to(tracks: frozenset[str]) -> ColumnElement[bool]:
    return exists(
        select(TrackReview.id)
        .join(Round, TrackReview.round_id == Round.id)
        .where(Round.submission_id == Submission.id, TrackReview.track_code.in_(sorted(tracks)))
        .correlate(Submission)
    )
