"""Review comments (审查意见): severity, status, who may do what, and the reply thread.

A comment is written by a reviewer of one track (or its track lead), cites code clauses, and lives
through this status machine until the reviewer is satisfied::

    open ─answer→ answered ─resolve→ resolved
     │  ↑            │                  │
     │  └── answer ──┴─ reopen → reopened ←── reopen ──┘
     └─withdraw→ withdrawn            (reopened ─answer→ answered …)

- the designer (设计人员) answers an open or reopened comment;
- a reviewer of the comment's track (本专项审查人员) or the track lead (专项负责人) resolves an answered
  comment or reopens an answered or resolved one (with a reason);
- only the comment's author withdraws it, and only while it is still open (nobody has answered yet);
- anyone of the three may add a plain reply to a comment that is not resolved or withdrawn.

Everything here is a pure function of values: the caller loads the comment, decides the actor's
roles for this comment's track (a reviewer of another track is not a reviewer here), calls
:func:`act`, and stores the returned comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from review.errors import IllegalTransition, ReviewError

MAX_TEXT_CHARS = 20_000
"""Longest text of a comment or reply (about ten printed pages of Chinese)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CommentError(ReviewError):
    """Root of the comment errors: a code, and the message in Chinese (``zh``) and English (``en``)."""

    code = "COMMENT_INVALID"

    def __init__(self, zh: str, en: str, *, code: str | None = None) -> None:
        self.zh = zh
        self.en = en
        if code is not None:
            self.code = code
        super().__init__(f"[{self.code}] {zh} / {en}")


class CommentTextInvalid(CommentError, ValueError):
    """Empty, too long, or containing control characters."""


class CommentRefused(CommentError, IllegalTransition):
    """The step is not allowed: wrong status (``COMMENT_STATUS``) or wrong person (``COMMENT_ROLE``)."""


class Severity(StrEnum):
    """How much a comment weighs. Values are those stored."""

    MANDATORY = "mandatory"  # 违反强制性条文
    GENERAL = "general"  # 一般性问题
    SUGGESTION = "suggestion"  # 建议


class CommentStatus(StrEnum):
    """Where a comment stands. Values are those stored."""

    OPEN = "open"  # 待答复
    ANSWERED = "answered"  # 已答复
    RESOLVED = "resolved"  # 已关闭（审查人员认可）
    REOPENED = "reopened"  # 重新打开
    WITHDRAWN = "withdrawn"  # 已撤回


class CommentAction(StrEnum):
    """A step on a comment."""

    ANSWER = "answer"  # 设计答复
    RESOLVE = "resolve"  # 认可关闭
    REOPEN = "reopen"  # 重新打开（不认可答复）
    WITHDRAW = "withdraw"  # 撤回
    REPLY = "reply"  # 回复（不改变状态）


class CommentRole(StrEnum):
    """The actor's standing towards one comment's track."""

    REVIEWER = "reviewer"  # 本专项审查人员
    TRACK_LEAD = "track_lead"  # 本专项负责人
    DESIGNER = "designer"  # 设计人员


S = CommentStatus
A = CommentAction
R = CommentRole
_CHECKERS = frozenset({R.REVIEWER, R.TRACK_LEAD})

TRANSITIONS: Mapping[tuple[CommentStatus, CommentAction], CommentStatus] = MappingProxyType(
    {
        (S.OPEN, A.ANSWER): S.ANSWERED,
        (S.REOPENED, A.ANSWER): S.ANSWERED,
        (S.ANSWERED, A.RESOLVE): S.RESOLVED,
        (S.ANSWERED, A.REOPEN): S.REOPENED,
        (S.RESOLVED, A.REOPEN): S.REOPENED,
        (S.OPEN, A.WITHDRAW): S.WITHDRAWN,
        (S.OPEN, A.REPLY): S.OPEN,
        (S.ANSWERED, A.REPLY): S.ANSWERED,
        (S.REOPENED, A.REPLY): S.REOPENED,
    }
)
"""Every allowed (status, action) and the status it leads to; anything else is refused."""

ACTION_ROLES: Mapping[CommentAction, frozenset[CommentRole]] = MappingProxyType(
    {
        A.ANSWER: frozenset({R.DESIGNER}),
        A.RESOLVE: _CHECKERS,
        A.REOPEN: _CHECKERS,
        # Withdrawal is further limited to the comment's own author.
        A.WITHDRAW: _CHECKERS,
        A.REPLY: frozenset({R.DESIGNER, R.REVIEWER, R.TRACK_LEAD}),
    }
)
"""Who may take each action, before the author rule for withdrawal."""

TEXT_REQUIRED = frozenset({A.ANSWER, A.REOPEN, A.REPLY})
"""Actions that must say something: an answer, the reason for reopening, a reply."""

_STATUS_ZH = {
    S.OPEN: "待答复",
    S.ANSWERED: "已答复",
    S.RESOLVED: "已关闭",
    S.REOPENED: "重新打开",
    S.WITHDRAWN: "已撤回",
}
_ACTION_ZH = {A.ANSWER: "答复", A.RESOLVE: "关闭", A.REOPEN: "重新打开", A.WITHDRAW: "撤回", A.REPLY: "回复"}


@dataclass(frozen=True)
class Actor:
    """Who acts, with their roles towards this comment's track (decided by the caller)."""

    user_id: str
    roles: frozenset[CommentRole]


@dataclass(frozen=True)
class Reply:
    """One entry of a comment's thread (意见往来)."""

    author_id: str
    """Who wrote it."""
    role: CommentRole
    """In which role they acted."""
    action: CommentAction
    """The step this entry records (an answer, a reopening, a plain reply…)."""
    text: str
    """What they wrote; may be empty for resolve and withdraw."""
    at: datetime
    """When, time-zone aware."""


@dataclass(frozen=True)
class Comment:
    """A review comment on a sheet (审查意见)."""

    comment_id: str
    track: str
    """The track (专项) the comment belongs to, e.g. ``fire``."""
    author_id: str
    author_role: CommentRole
    severity: Severity
    text: str
    clause_ids: tuple[str, ...]
    """Clauses cited, as catalogue ids (``GB 50016-2014:5.5.17``)."""
    created: datetime
    status: CommentStatus = CommentStatus.OPEN
    replies: tuple[Reply, ...] = ()
    """The thread, oldest first."""
    markup_ids: tuple[str, ...] = ()
    """Markups on the sheet that show what the comment is about."""

    @property
    def updated(self) -> datetime:
        """Time of the last entry, or of creation."""
        return self.replies[-1].at if self.replies else self.created


def check_text(text: str, *, required: bool = True, limit: int = MAX_TEXT_CHARS) -> str:
    """The text with surrounding whitespace removed, or :class:`CommentTextInvalid`."""
    if not isinstance(text, str):
        raise CommentTextInvalid("意见内容必须是文字", "the text must be a string")
    text = text.strip()
    if required and not text:
        raise CommentTextInvalid("内容不能为空", "the text must not be empty", code="COMMENT_TEXT_EMPTY")
    if len(text) > limit:
        raise CommentTextInvalid(
            f"内容过长（{len(text)} 字，上限 {limit} 字），请精简或分条填写",
            f"the text has {len(text)} characters; at most {limit} are allowed — shorten it or split it",
            code="COMMENT_TEXT_TOO_LONG",
        )
    if _CONTROL.search(text):
        raise CommentTextInvalid("内容含有控制字符", "the text holds control characters", code="COMMENT_TEXT_INVALID")
    return text


def _check_time(at: datetime, after: datetime | None) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise CommentTextInvalid("时间必须带时区", "times must carry a time zone", code="COMMENT_TIME_INVALID")
    if after is not None and at < after:
        raise CommentTextInvalid(
            "时间早于上一条记录", "the time lies before the comment's last entry", code="COMMENT_TIME_INVALID"
        )


def new_comment(
    *,
    comment_id: str,
    track: str,
    author: Actor,
    severity: Severity,
    text: str,
    clause_ids: tuple[str, ...] = (),
    markup_ids: tuple[str, ...] = (),
    at: datetime,
) -> Comment:
    """A new open comment by a reviewer or track lead of ``track``."""
    role = _acting_role(author, _CHECKERS, A.REPLY)
    _check_time(at, None)
    if severity is Severity.MANDATORY and not clause_ids:
        raise CommentTextInvalid(
            "强制性条文意见必须引用条文", "a mandatory-clause comment must cite a clause", code="COMMENT_CLAUSE_MISSING"
        )
    return Comment(
        comment_id=comment_id,
        track=track,
        author_id=author.user_id,
        author_role=role,
        severity=Severity(severity),
        text=check_text(text),
        clause_ids=tuple(dict.fromkeys(clause_ids)),
        created=at,
        markup_ids=tuple(markup_ids),
    )


def _acting_role(actor: Actor, allowed: frozenset[CommentRole], action: CommentAction) -> CommentRole:
    # Prefer the most specific standing when someone holds several (a lead who also reviews).
    for role in (R.REVIEWER, R.TRACK_LEAD, R.DESIGNER):
        if role in actor.roles and role in allowed:
            return role
    raise CommentRefused(
        f"当前用户无权{_ACTION_ZH.get(action, '填写意见')}",
        f"this user may not {action.value if action is not A.REPLY else 'write'} here",
        code="COMMENT_ROLE",
    )


def allowed_actions(comment: Comment, actor: Actor) -> frozenset[CommentAction]:
    """The actions ``actor`` may take on ``comment`` now; pages offer only these."""
    return frozenset(
        action
        for (status, action) in TRANSITIONS
        if status is comment.status and actor.roles & ACTION_ROLES[action] and _author_rule(comment, action, actor)
    )


def _author_rule(comment: Comment, action: CommentAction, actor: Actor) -> bool:
    return action is not A.WITHDRAW or actor.user_id == comment.author_id


def act(comment: Comment, action: CommentAction, actor: Actor, *, text: str = "", at: datetime) -> Comment:
    """The comment after ``actor`` takes ``action``, with the step recorded in its thread."""
    target = TRANSITIONS.get((comment.status, action))
    if target is None:
        raise CommentRefused(
            f"意见状态为“{_STATUS_ZH[comment.status]}”，不能{_ACTION_ZH[action]}",
            f"a comment that is {comment.status.value} cannot take the step {action.value}",
            code="COMMENT_STATUS",
        )
    role = _acting_role(actor, ACTION_ROLES[action], action)
    if not _author_rule(comment, action, actor):
        raise CommentRefused(
            "只有意见的提出人可以撤回", "only the comment's author may withdraw it", code="COMMENT_ROLE"
        )
    _check_time(at, comment.updated)
    entry = Reply(
        author_id=actor.user_id,
        role=role,
        action=action,
        text=check_text(text, required=action in TEXT_REQUIRED),
        at=at,
    )
    return replace(comment, status=target, replies=(*comment.replies, entry))


def is_settled(comment: Comment) -> bool:
    """Whether the comment no longer holds up the track's conclusion (resolved or withdrawn)."""
    return comment.status in (S.RESOLVED, S.WITHDRAWN)
