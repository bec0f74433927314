"""Concluding a round per track: comments issued, pass or revise, letters per track and joint, the submission moves."""

from __future__ import annotations

import pymupdf
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, Forbidden, Invalid
from app.rounds.conclude import BUILD_LETTERS, conclude_track
from app.rounds.letters import build_round_letters
from app.tracks import CIVIL_AIR_DEFENCE, FIRE
from storage.blobstore import LocalBlobStore
from storage.db import transaction
from storage.models import (
    ClockPause,
    Comment,
    Notification,
    OpinionLetter,
    Round,
    Submission,
    SubmissionState,
    TaskRun,
    TrackReview,
    TrackReviewState,
)
from tests.app.rounds.conftest import Case
from tests.app.rounds.helpers import comment_with_box, plain_comment

SCRIPT_TEXT = '防火门应为甲级 <script>alert("x")</script>'


def _read(store: LocalBlobStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def _review(db: Session, case: Case, track: str) -> TrackReview:
    return db.scalars(
        select(TrackReview).where(TrackReview.round_id == case.round_id, TrackReview.track_code == track)
    ).one()


def test_revise_needs_an_open_comment_and_nothing_changes_when_refused(
    session_factory: sessionmaker[Session], case: Case
) -> None:
    with pytest.raises(Invalid) as refused, transaction(session_factory) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "revise")
    assert "至少应有一条待答复" in refused.value.zh
    assert "open comment" in refused.value.en
    with session_factory() as db:
        review = _review(db, case, FIRE)
        assert review.state is TrackReviewState.IN_REVIEW
        assert review.comments_issued_at is None
        assert db.scalar(select(func.count()).select_from(TaskRun).where(TaskRun.name == BUILD_LETTERS)) == 0


def test_pass_is_refused_while_a_mandatory_comment_is_open(session_factory: sessionmaker[Session], case: Case) -> None:
    comment_with_box(session_factory, case.fire_reviewer, case.revisions["建施-03"], FIRE, (100, 100, 200, 160), "疏散")
    with pytest.raises(Invalid) as refused, transaction(session_factory) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "passed")
    assert "XF-1" in refused.value.zh
    assert "XF-1" in refused.value.en


def test_only_the_track_lead_concludes_and_only_once(session_factory: sessionmaker[Session], case: Case) -> None:
    with pytest.raises(Forbidden), transaction(session_factory) as db:
        conclude_track(db, case.fire_reviewer, case.round_id, FIRE, "passed")
    with pytest.raises(Forbidden), transaction(session_factory) as db:
        conclude_track(db, case.airdef_lead, case.round_id, FIRE, "passed")
    with pytest.raises(Invalid), transaction(session_factory) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "maybe")
    with transaction(session_factory) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "passed")
    with pytest.raises(Conflict), transaction(session_factory) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "passed")


# Letters embed subsets of Noto CJK (a few seconds each): built on one database only.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_conclusions_move_the_submission_and_the_letters_hold_comments_and_crops(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    revision = case.revisions["建施-03"]
    comment_id, _ = comment_with_box(
        session_factory, case.fire_reviewer, revision, FIRE, (300, 200, 420, 300), SCRIPT_TEXT
    )
    with transaction(session_factory) as db:
        review = conclude_track(db, case.fire_lead, case.round_id, FIRE, "revise", note="请按意见修改")
        assert review.state is TrackReviewState.REVISE
        # Issued with the conclusion: the designer sees the comment now.
        assert db.get_one(Comment, comment_id).issued_at is not None
        assert db.get_one(Submission, case.submission_id).state is SubmissionState.IN_REVIEW
    # One track is left: the round is still open, and only the fire letter can be made.
    build_round_letters(session_factory, store, case.round_id)
    with session_factory() as db:
        assert [row.track_code for row in db.scalars(select(OpinionLetter))] == [FIRE]

    with transaction(session_factory) as db:
        conclude_track(db, case.airdef_lead, case.round_id, CIVIL_AIR_DEFENCE, "passed")
    with session_factory() as db:
        submission = db.get_one(Submission, case.submission_id)
        assert submission.state is SubmissionState.REVISING
        rounds = db.scalars(select(Round).where(Round.submission_id == case.submission_id).order_by(Round.number)).all()
        assert [r.number for r in rounds] == [1, 2]
        assert rounds[0].closed_at is not None
        assert rounds[1].closed_at is None
        pause = db.scalars(select(ClockPause).where(ClockPause.submission_id == case.submission_id)).one()
        assert pause.reason == "revising"
        assert pause.ended_at is None

    message = build_round_letters(session_factory, store, case.round_id)
    assert "2" in message
    assert build_round_letters(session_factory, store, case.round_id).startswith("已出具审查意见书 0 份")
    with session_factory() as db:
        letters = {row.track_code: row for row in db.scalars(select(OpinionLetter))}
        assert set(letters) == {FIRE, CIVIL_AIR_DEFENCE, None}
        fire_pdf = _read(store, letters[FIRE].object_key)
        joint_pdf = _read(store, letters[None].object_key)
        import hashlib

        assert hashlib.sha256(fire_pdf).hexdigest() == letters[FIRE].sha256
        notes = db.scalars(select(Notification).where(Notification.user_id == case.designer.user_id)).all()
        assert any("审查意见书已出具" in n.subject_zh and "需修改" in n.subject_zh for n in notes)

    with pymupdf.open(stream=fire_pdf, filetype="pdf") as document:
        text = "".join(page.get_text() for page in document)
        images = sum(len(page.get_images()) for page in document)
    assert "审查意见书" in text
    assert "滨江小学教学楼" in text
    assert "联图测试设计院、江城市滨江区教育局：" in text  # addressed to the design institute and the construction unit
    assert "SC-2026-0401" in text
    assert "强制性条文" in text
    assert "XF-1" in text
    assert "建施-03" in text
    assert '<script>alert("x")</script>' in text  # printed as the reviewer typed it, never interpreted
    assert "赵磊" in text
    assert "钱伟" in text
    assert images >= 1  # the cropped region with its markup
    with pymupdf.open(stream=joint_pdf, filetype="pdf") as document:
        joint = "".join(page.get_text() for page in document)
    assert "联合审查意见书" in joint
    assert "消防" in joint
    assert "人防" in joint


def test_revise_counts_comments_of_its_own_track_only(session_factory: sessionmaker[Session], case: Case) -> None:
    plain_comment(session_factory, case.fire_reviewer, case.revisions["建施-04"], FIRE, "楼梯宽度不足")
    with pytest.raises(Invalid), transaction(session_factory) as db:
        conclude_track(db, case.airdef_lead, case.round_id, CIVIL_AIR_DEFENCE, "revise")
