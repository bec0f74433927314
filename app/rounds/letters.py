"""Opinion letters (审查意见书) of a round: one per concluded track, and one joint letter for the designer.

The letters are built by the worker (:data:`BUILD_LETTERS`, :func:`build_round_letters`) from what is stored:
the project, the track's comments of the round by severity with their clause citations, the marked regions
cropped from each sheet revision's PDF with the markups drawn, the reviewers, the lead and the date.
Each PDF is kept under ``derived/letters/<sha256>.pdf`` with an :class:`~storage.models.OpinionLetter` row
(``track_code`` NULL for the joint letter). Building again finds the rows and does nothing: a letter, once
issued, never changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import policy
from app.errors import NotFound
from app.identity.principal import Principal
from app.notifications import Message, NotificationKind, notify
from app.policy import Action
from app.review_desk.comments import catalogue
from app.review_desk.markups import stored_shape
from review.comments import CommentStatus, Severity
from review.letters import (
    ClauseCitation,
    Conclusion,
    LetterComment,
    LetterProject,
    LetterTrack,
    build_opinion_letter,
    combine,
)
from review.letters import OpinionLetter as LetterValue
from review.workflow import TrackState
from storage.blobstore import BlobStore
from storage.db import transaction
from storage.models import (
    Comment,
    Markup,
    OpinionLetter,
    Organization,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    Track,
    TrackReview,
    TrackReviewer,
    TrackReviewState,
    User,
)

PDF = "application/pdf"
CONCLUDED = (TrackReviewState.PASSED, TrackReviewState.REVISE)
NUMBER_PREFIXES = {"fire": "XF", "civil_air_defence": "RF", "construction": "SG", "lightning": "FL"}
"""Prefix of a comment's number in a letter (消防 XF-1, 人防 RF-1, 施工图 SG-1); other tracks use their code."""
PRINTED_STATUSES = frozenset(s.value for s in CommentStatus) - {CommentStatus.WITHDRAWN.value}
"""Withdrawn comments are not printed."""


def letter_key(sha256: str) -> str:
    return f"derived/letters/{sha256}.pdf"


def number_prefix(track: str) -> str:
    return NUMBER_PREFIXES.get(track, track[:4].upper())


def comment_numbers(comments: Sequence[Comment]) -> dict[int, str]:
    """Each comment's number within its track, in the order written (XF-1, XF-2 …)."""
    counters: dict[str, int] = {}
    numbers = {}
    for comment in sorted(comments, key=lambda c: c.id):
        counters[comment.track_code] = counters.get(comment.track_code, 0) + 1
        numbers[comment.id] = f"{number_prefix(comment.track_code)}-{counters[comment.track_code]}"
    return numbers


def _date(moment: dt.datetime | None) -> dt.date:
    value = moment or dt.datetime.now(dt.UTC)
    value = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    # Dates printed in letters are Beijing dates.
    return value.astimezone(dt.timezone(dt.timedelta(hours=8))).date()


@dataclass
class _Sources:
    """Sheet PDFs read once per letter."""

    store: BlobStore
    pdfs: dict[str, bytes]

    def pdf(self, key: str | None) -> bytes | None:
        if not key:
            return None
        if key not in self.pdfs:
            with self.store.open(key) as stream:
                self.pdfs[key] = stream.read()
        return self.pdfs[key]


def track_letter(db: Session, sources: _Sources, review: TrackReview) -> LetterValue:
    """The letter value of one concluded track review."""
    round_ = db.get_one(Round, review.round_id)
    submission = db.get_one(Submission, round_.submission_id)
    project = submission.project
    institute = db.get_one(Organization, project.organization_id)
    track = db.get_one(Track, review.track_code)
    comments = list(
        db.scalars(
            select(Comment)
            .where(Comment.round_id == round_.id, Comment.track_code == review.track_code)
            .order_by(Comment.id)
        )
    )
    numbers = comment_numbers(comments)
    printed = [c for c in comments if c.status in PRINTED_STATUSES]
    user_ids = {c.author_id for c in printed} | ({review.concluded_by_id} if review.concluded_by_id else set())
    assigned = set(db.scalars(select(TrackReviewer.user_id).where(TrackReviewer.track_review_id == review.id)))
    rows = db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids | assigned))).tuples().all()
    names: dict[int, str] = dict(rows)
    lead = db.get(User, review.concluded_by_id) if review.concluded_by_id else None
    organisation = db.get(Organization, lead.organization_id) if lead is not None else None
    reviewers = [names[i] for i in sorted(assigned | {c.author_id for c in printed}) if i in names]
    markups: dict[int, list[Markup]] = {}
    if printed:
        for markup in db.scalars(
            select(Markup)
            .where(Markup.comment_id.in_([c.id for c in printed]), Markup.deleted_at.is_(None))
            .order_by(Markup.id)
        ):
            markups.setdefault(markup.comment_id or 0, []).append(markup)
    sheets = {s.id: s for s in db.scalars(select(Sheet).where(Sheet.submission_id == submission.id))}
    revisions = {
        r.id: r
        for r in db.scalars(select(SheetRevision).where(SheetRevision.round_id == round_.id))
        if r.sheet_id in sheets
    }
    letter_comments = []
    for comment in printed:
        sheet = sheets.get(comment.sheet_id) if comment.sheet_id is not None else None
        revision = revisions.get(comment.sheet_revision_id) if comment.sheet_revision_id is not None else None
        drawn = markups.get(comment.id, [])
        citations = []
        for clause_id in comment.clause_ids:
            clause = catalogue().get(clause_id)
            citations.append(ClauseCitation.of(clause) if clause is not None else ClauseCitation(clause_id, ""))
        letter_comments.append(
            LetterComment(
                number=numbers[comment.id],
                track=review.track_code,
                severity=Severity(comment.severity),
                text=comment.text,
                sheet_number=sheet.number if sheet else "",
                sheet_title=sheet.title if sheet else "",
                status=CommentStatus(comment.status),
                reviewer=names.get(comment.author_id, ""),
                citations=tuple(citations),
                markups=tuple(stored_shape(m) for m in drawn),
                sheet_pdf=sources.pdf(revision.pdf_key) if revision is not None and drawn else None,
            )
        )
    conclusion = Conclusion.PASSED if review.state is TrackReviewState.PASSED else Conclusion.REVISE
    return LetterValue(
        project=LetterProject(
            name=project.name,
            code=project.code,
            address=project.address,
            building_use=project.building_use,
            design_institute=institute.name,
            construction_unit=project.construction_unit,
            review_number=submission.review_number or f"#{submission.id}",
        ),
        round_number=round_.number,
        tracks=(
            LetterTrack(
                key=review.track_code,
                name_zh=track.name_zh,
                name_en=track.name_en,
                reviewers=tuple(reviewers),
                lead=lead.display_name if lead else "",
                conclusion=conclusion,
                concluded_on=_date(review.concluded_at),
                round_number=round_.number,
            ),
        ),
        comments=tuple(letter_comments),
        issue_date=_date(review.concluded_at),
        issuing_organisation=organisation.name if organisation is not None else "",
    )


def _store(store: BlobStore, pdf: bytes) -> tuple[str, str]:
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = letter_key(sha256)
    if not store.exists(key):
        store.put_stream(key, io.BytesIO(pdf), content_type=PDF, expected_size=len(pdf), expected_sha256=sha256)
    return key, sha256


def _ordered(db: Session, reviews: Sequence[TrackReview]) -> list[TrackReview]:
    order = {t.code: (t.sort_order, t.code) for t in db.scalars(select(Track))}
    return sorted(reviews, key=lambda r: order.get(r.track_code, (999, r.track_code)))


Finish = Callable[[Session, str], None]


def build_round_letters(
    sessions: sessionmaker[Session], store: BlobStore, round_id: int, finish: Finish | None = None
) -> str:
    """Build the letters the round still lacks: each concluded track's, then the joint one once all concluded.

    The PDFs are made outside any transaction; the rows are written in one transaction with ``finish``
    (the job marks itself done). Returns a bilingual summary.
    """
    with sessions() as db:
        round_ = db.get(Round, round_id)
        if round_ is None:
            raise NotFound("没有该轮次", "no such round")
        reviews = _ordered(db, list(db.scalars(select(TrackReview).where(TrackReview.round_id == round_id))))
        have: set[str | None] = {
            row.track_code for row in db.scalars(select(OpinionLetter).where(OpinionLetter.round_id == round_id))
        }
        joint_done = any(row is None for row in have)
        sources = _Sources(store, {})
        concluded = [r for r in reviews if r.state in CONCLUDED]
        values = {r.track_code: track_letter(db, sources, r) for r in concluded}
        issuers = {r.track_code: r.concluded_by_id for r in concluded}
        made: list[tuple[str | None, str, str, int | None]] = []
        for code, value in values.items():
            if code not in have:
                key, sha256 = _store(store, build_opinion_letter(value))
                made.append((code, key, sha256, issuers[code]))
        all_concluded = bool(reviews) and len(concluded) == len(reviews)
        if all_concluded and not joint_done:
            joint = combine([values[r.track_code] for r in concluded])
            key, sha256 = _store(store, build_opinion_letter(joint))
            made.append((None, key, sha256, None))
    with transaction(sessions) as db:
        # Two deliveries (one per conclusion) may finish together: the round's row lock lets one write at a time.
        db.get_one(Round, round_id, with_for_update=True)
        present: set[str | None] = {
            row.track_code for row in db.scalars(select(OpinionLetter).where(OpinionLetter.round_id == round_id))
        }
        written = 0
        for track_code, key, sha256, issuer in made:
            if track_code in present:
                continue
            db.add(
                OpinionLetter(
                    round_id=round_id, track_code=track_code, object_key=key, sha256=sha256, issued_by_id=issuer
                )
            )
            written += 1
            if track_code is None:
                _announce(db, round_id)
        db.flush()
        message = f"已出具审查意见书 {written} 份 / {written} opinion letter(s) issued"
        if finish is not None:
            finish(db, message)
    return message


def _announce(db: Session, round_id: int) -> None:
    """Tell the project's designers that the round's joint letter is out, with its conclusion."""
    from app.announcements import project_designers

    round_ = db.get_one(Round, round_id)
    submission = db.get_one(Submission, round_.submission_id)
    states = [
        TrackState(s.value) for s in db.scalars(select(TrackReview.state).where(TrackReview.round_id == round_id))
    ]
    revise = TrackState.REVISE in states
    label = submission.review_number or f"#{submission.id}"
    notify(
        db,
        project_designers(db, submission),
        Message(
            kind=NotificationKind.COMMENTS_ISSUED,
            subject_zh=f"{label} 第 {round_.number} 轮审查意见书已出具：{'需修改' if revise else '通过'}",
            subject_en=f"{label}: opinion letter of round {round_.number} issued: {'revise' if revise else 'passed'}",
            body_zh="请逐条答复审查意见并上传修改后的图纸。" if revise else "各专项审查均已通过。",
            body_en="Answer every comment and upload the revised sheets." if revise else "Every track has passed.",
            link=f"/rounds/submissions/{submission.id}",
            submission_id=submission.id,
        ),
        dedupe_key=f"round-letter:{round_id}",
    )


# Reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterEntry:
    """One issued letter as the pages list it."""

    id: int
    round_number: int
    track_code: str | None
    """None for the joint letter."""
    issued_at: dt.datetime
    sha256: str


def readable_letter(db: Session, who: Principal, letter_id: int) -> OpinionLetter:
    """A letter ``who`` may download: the project's designers, the submission's reviewers, the bureau."""
    row = db.get(OpinionLetter, letter_id)
    if row is None:
        raise NotFound("没有该审查意见书", "no such opinion letter")
    round_ = db.get_one(Round, row.round_id)
    submission = db.get_one(Submission, round_.submission_id)
    if not policy.can(who, Action.VIEW_SUBMISSION, submission=submission):
        raise NotFound("没有该审查意见书", "no such opinion letter")
    return row


def letters_of(db: Session, submission_id: int) -> list[LetterEntry]:
    """Every letter issued for the submission, by round, joint letter first."""
    rows = db.execute(
        select(OpinionLetter, Round.number)
        .join(Round, Round.id == OpinionLetter.round_id)
        .where(Round.submission_id == submission_id)
        .order_by(Round.number, OpinionLetter.id)
    ).all()
    entries = [LetterEntry(row.id, number, row.track_code, row.issued_at, row.sha256) for row, number in rows]
    return sorted(entries, key=lambda e: (e.round_number, e.track_code is not None, e.id))
