from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from review.comments import (
    ACTION_ROLES,
    MAX_TEXT_CHARS,
    TRANSITIONS,
    Actor,
    Comment,
    CommentAction,
    CommentRefused,
    CommentRole,
    CommentStatus,
    CommentTextInvalid,
    Severity,
    act,
    allowed_actions,
    is_settled,
    new_comment,
)
from review.errors import IllegalTransition, ReviewError

A = CommentAction
S = CommentStatus
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=BEIJING)

AUTHOR = Actor("u-reviewer-1", frozenset({CommentRole.REVIEWER}))
OTHER_REVIEWER = Actor("u-reviewer-2", frozenset({CommentRole.REVIEWER}))
LEAD = Actor("u-lead", frozenset({CommentRole.TRACK_LEAD}))
DESIGNER = Actor("u-designer", frozenset({CommentRole.DESIGNER}))
NOBODY = Actor("u-visitor", frozenset())
ACTORS = {"author": AUTHOR, "other_reviewer": OTHER_REVIEWER, "lead": LEAD, "designer": DESIGNER, "nobody": NOBODY}


def fresh(status: S = S.OPEN) -> Comment:
    comment = new_comment(
        comment_id="c-1",
        track="fire",
        author=AUTHOR,
        severity=Severity.MANDATORY,
        text="  疏散距离超过规范限值  ",
        clause_ids=("GB 55037-2022:7.1.1", "GB 55037-2022:7.1.1"),
        at=T0,
    )
    return replace(comment, status=status)


def expected_outcome(status: S, action: A, who: str) -> S | None:
    """The rule restated independently of the module's tables."""
    actor = ACTORS[who]
    checker = bool(actor.roles & {CommentRole.REVIEWER, CommentRole.TRACK_LEAD})
    designer = CommentRole.DESIGNER in actor.roles
    if action is A.ANSWER:
        return S.ANSWERED if designer and status in (S.OPEN, S.REOPENED) else None
    if action is A.RESOLVE:
        return S.RESOLVED if checker and status is S.ANSWERED else None
    if action is A.REOPEN:
        return S.REOPENED if checker and status in (S.ANSWERED, S.RESOLVED) else None
    if action is A.WITHDRAW:
        return S.WITHDRAWN if who == "author" and status is S.OPEN else None
    return status if (checker or designer) and status in (S.OPEN, S.ANSWERED, S.REOPENED) else None


CASES = list(itertools.product(list(S), list(A), list(ACTORS)))


@pytest.mark.parametrize(("status", "action", "who"), CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_every_transition(status: S, action: A, who: str) -> None:
    comment = fresh(status)
    actor = ACTORS[who]
    outcome = expected_outcome(status, action, who)
    assert (action in allowed_actions(comment, actor)) == (outcome is not None)
    if outcome is None:
        with pytest.raises(CommentRefused) as caught:
            act(comment, action, actor, text="理由", at=T0 + timedelta(hours=1))
        assert caught.value.code in ("COMMENT_STATUS", "COMMENT_ROLE")
        assert caught.value.zh
        assert caught.value.en
        assert isinstance(caught.value, IllegalTransition)
        assert isinstance(caught.value, ReviewError)
        return
    after = act(comment, action, actor, text="理由", at=T0 + timedelta(hours=1))
    assert after.status is outcome
    assert len(after.replies) == 1
    entry = after.replies[0]
    assert entry.author_id == actor.user_id
    assert entry.action is action
    assert entry.text == "理由"
    assert comment.replies == ()  # the original value is untouched


def test_status_errors_name_the_status() -> None:
    with pytest.raises(CommentRefused) as caught:
        act(fresh(S.WITHDRAWN), A.ANSWER, DESIGNER, text="x", at=T0)
    assert caught.value.code == "COMMENT_STATUS"
    assert "已撤回" in caught.value.zh
    with pytest.raises(CommentRefused) as caught:
        act(fresh(S.OPEN), A.WITHDRAW, OTHER_REVIEWER, at=T0)
    assert caught.value.code == "COMMENT_ROLE"
    assert "提出人" in caught.value.zh


def test_full_life_with_thread() -> None:
    c = fresh()
    c = act(c, A.REPLY, AUTHOR, text="请核对第三层", at=T0 + timedelta(minutes=5))
    c = act(c, A.ANSWER, DESIGNER, text="已增设疏散楼梯", at=T0 + timedelta(days=1))
    c = act(c, A.REOPEN, LEAD, text="楼梯宽度仍不足", at=T0 + timedelta(days=2))
    c = act(c, A.ANSWER, DESIGNER, text="已加宽至 1.4 m", at=T0 + timedelta(days=3))
    c = act(c, A.RESOLVE, OTHER_REVIEWER, at=T0 + timedelta(days=4))
    assert is_settled(c)
    c = act(c, A.REOPEN, AUTHOR, text="复核发现问题", at=T0 + timedelta(days=5))
    assert c.status is S.REOPENED
    assert not is_settled(c)
    assert [r.action for r in c.replies] == [A.REPLY, A.ANSWER, A.REOPEN, A.ANSWER, A.RESOLVE, A.REOPEN]
    assert [r.role for r in c.replies][:3] == [CommentRole.REVIEWER, CommentRole.DESIGNER, CommentRole.TRACK_LEAD]
    assert c.replies[4].text == ""
    assert c.updated == T0 + timedelta(days=5)


def test_new_comment_rules() -> None:
    comment = fresh()
    assert comment.text == "疏散距离超过规范限值"
    assert comment.clause_ids == ("GB 55037-2022:7.1.1",)
    assert comment.status is S.OPEN
    assert comment.author_role is CommentRole.REVIEWER
    with pytest.raises(CommentRefused):
        new_comment(comment_id="c", track="fire", author=DESIGNER, severity=Severity.GENERAL, text="x", at=T0)
    with pytest.raises(CommentTextInvalid) as caught:
        new_comment(comment_id="c", track="fire", author=LEAD, severity=Severity.MANDATORY, text="x", at=T0)
    assert caught.value.code == "COMMENT_CLAUSE_MISSING"
    suggestion = new_comment(comment_id="c", track="fire", author=LEAD, severity=Severity.SUGGESTION, text="x", at=T0)
    assert suggestion.author_role is CommentRole.TRACK_LEAD
    with pytest.raises(CommentTextInvalid):
        new_comment(
            comment_id="c",
            track="fire",
            author=LEAD,
            severity=Severity.GENERAL,
            text="x",
            at=datetime(2026, 1, 1),
        )


def test_text_limits() -> None:
    c = fresh()
    act(c, A.ANSWER, DESIGNER, text="答" * MAX_TEXT_CHARS, at=T0)
    with pytest.raises(CommentTextInvalid) as caught:
        act(c, A.ANSWER, DESIGNER, text="答" * (MAX_TEXT_CHARS + 1), at=T0)
    assert caught.value.code == "COMMENT_TEXT_TOO_LONG"
    assert "20000" in caught.value.zh
    with pytest.raises(CommentTextInvalid) as caught:
        act(c, A.ANSWER, DESIGNER, text="   ", at=T0)
    assert caught.value.code == "COMMENT_TEXT_EMPTY"
    with pytest.raises(CommentTextInvalid):
        act(c, A.REPLY, DESIGNER, text="a\x00b", at=T0)
    with pytest.raises(CommentTextInvalid):
        act(fresh(S.ANSWERED), A.REOPEN, AUTHOR, text="", at=T0)
    assert act(c, A.WITHDRAW, AUTHOR, at=T0).status is S.WITHDRAWN


def test_time_must_not_go_backwards() -> None:
    c = act(fresh(), A.ANSWER, DESIGNER, text="答", at=T0 + timedelta(hours=2))
    with pytest.raises(CommentTextInvalid) as caught:
        act(c, A.RESOLVE, AUTHOR, at=T0 + timedelta(hours=1))
    assert caught.value.code == "COMMENT_TIME_INVALID"


def test_tables_are_consistent() -> None:
    assert set(ACTION_ROLES) == set(A)
    assert {s for (s, _) in TRANSITIONS} <= set(S)
    assert not any(s is S.WITHDRAWN for (s, _) in TRANSITIONS)


def test_lead_who_also_reviews_acts_as_reviewer() -> None:
    both = Actor("u-both", frozenset({CommentRole.REVIEWER, CommentRole.TRACK_LEAD}))
    c = act(fresh(S.ANSWERED), A.RESOLVE, both, at=T0)
    assert c.replies[-1].role is CommentRole.REVIEWER
