"""Which sheet of the new round continues which sheet of the previous one (图纸匹配), and the complete set.

At resubmission, :func:`match_round` looks at every revision the designer uploaded into the new round:

1. *by number*: intake already recorded it on the sheet of the same normalised number (建施-1 = 建施-01);
   when that sheet had a revision in the previous round, the two are matched (``matched_by = number``);
2. *by content*: a revision on a sheet new to the submission (a renumbered sheet) is compared with the
   previous round's sheets that nothing matched yet, by the similarity of their drawing text (character
   bigrams, Jaccard, leaving out the text every previous sheet shares); the most similar pair above
   :data:`CONTENT_THRESHOLD` is matched (``content``) and listed for the intake clerk, who confirms or
   changes it (``clerk``, :func:`set_match`);
3. *carried forward*: each previous sheet not resubmitted gets a revision in the new round that reuses its
   renders (same ``pdf_key``, ``tiles_key``, thumbnail and drawing file), so reviewers see the whole set,
   and its open comments are carried over with no change regions.

Every match is a :class:`~storage.models.RevisionComparison`; the comparison job fills in the regions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pymupdf as _pymupdf
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, policy
from app.errors import Conflict, Invalid, NotFound
from app.identity.principal import Principal
from app.policy import Action
from app.rounds.carry import carry_sheet, drop_carried
from app.rounds.compare import queue_compare
from storage.blobstore import BlobStore
from storage.models import (
    DrawingFile,
    Markup,
    RevisionComparison,
    Round,
    Sheet,
    SheetRevision,
    SheetText,
    Submission,
    SubmissionState,
)

pymupdf: Any = _pymupdf

CONTENT_THRESHOLD = 0.5
"""Least text similarity (0–1) for a renumbered sheet to be matched to a previous one by content."""
BOILERPLATE_SHEETS = 3
"""Sheets in the previous round from which the text they all share is left out of the comparison."""
MAX_CONTENT_CANDIDATES = 60
"""Unmatched sheets per side compared by content; beyond that the clerk matches by hand."""
MATCH_STATES = (SubmissionState.SUBMITTED, SubmissionState.ACCEPTED)
"""While the clerk may change matches: after resubmission, before the review of the round starts."""


def text_signature(pdf: bytes) -> frozenset[str]:
    """Character bigrams of a one-page sheet PDF's text, whitespace removed."""
    document = pymupdf.open(stream=pdf, filetype="pdf")
    try:
        text = "".join(str(document[0].get_text()).split())
    finally:
        document.close()
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two signatures; 0 when either is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def boilerplate(signatures: Sequence[frozenset[str]]) -> frozenset[str]:
    """Bigrams on every sheet of a set of at least :data:`BOILERPLATE_SHEETS` (title-block labels, the
    institute's name…): they tell nothing about which sheet is which."""
    if len(signatures) < BOILERPLATE_SHEETS:
        return frozenset()
    return frozenset.intersection(*signatures)


def _revisions(db: Session, round_id: int) -> list[SheetRevision]:
    return list(db.scalars(select(SheetRevision).where(SheetRevision.round_id == round_id).order_by(SheetRevision.id)))


def uploaded_in(db: Session, round_: Round) -> list[SheetRevision]:
    """Revisions of the round that come from files uploaded into it (not carried forward)."""
    return list(
        db.scalars(
            select(SheetRevision)
            .join(DrawingFile, DrawingFile.id == SheetRevision.drawing_file_id)
            .where(SheetRevision.round_id == round_.id, DrawingFile.round_id == round_.id)
            .order_by(SheetRevision.id)
        )
    )


def is_carried(db: Session, revision: SheetRevision) -> bool:
    """Whether the revision was carried forward from an earlier round (its file belongs to another round)."""
    return db.get_one(DrawingFile, revision.drawing_file_id).round_id != revision.round_id


def _signature(store: BlobStore, revision: SheetRevision) -> frozenset[str]:
    if not revision.pdf_key:
        return frozenset()
    with store.open(revision.pdf_key) as stream:
        return text_signature(stream.read())


@dataclass(frozen=True)
class MatchOutcome:
    """What matching a new round found."""

    by_number: tuple[int, ...]
    """New revisions matched by number."""
    by_content: tuple[int, ...]
    """New revisions matched by content (renumbered sheets), for the clerk to confirm."""
    unmatched: tuple[int, ...]
    """New revisions of sheets new to the submission."""
    carried: tuple[int, ...]
    """Revisions carried forward for the sheets not resubmitted."""


def _compare(db: Session, revision: SheetRevision, previous: SheetRevision, matched_by: str) -> None:
    row = db.get(RevisionComparison, revision.id)
    if row is None:
        row = RevisionComparison(sheet_revision_id=revision.id, previous_revision_id=previous.id)
        db.add(row)
    row.previous_revision_id = previous.id
    row.matched_by = matched_by
    row.method, row.regions, row.overlay_key, row.computed_at, row.findings = "", [], None, None, []
    db.flush()
    queue_compare(db, revision.id)


def match_round(db: Session, store: BlobStore, previous: Round, current: Round) -> MatchOutcome:
    """Match the uploaded revisions of ``current`` to those of ``previous``; carry the rest forward."""
    earlier = {r.sheet_id: r for r in _revisions(db, previous.id)}
    uploaded = uploaded_in(db, current)
    by_number, rest = [], []
    for revision in uploaded:
        before = earlier.get(revision.sheet_id)
        if before is not None:
            _compare(db, revision, before, "number")
            by_number.append(revision.id)
        else:
            rest.append(revision)
    matched_sheets = {earlier[db.get_one(SheetRevision, i).sheet_id].sheet_id for i in by_number}
    waiting = [r for sheet_id, r in earlier.items() if sheet_id not in matched_sheets]
    by_content = []
    if rest and waiting:
        new_signatures = {r.id: _signature(store, r) for r in rest[:MAX_CONTENT_CANDIDATES]}
        old_signatures = {r.id: _signature(store, r) for r in waiting[:MAX_CONTENT_CANDIDATES]}
        common = boilerplate([_signature(store, r) for r in list(earlier.values())[:MAX_CONTENT_CANDIDATES]])
        new_signatures = {k: v - common for k, v in new_signatures.items()}
        old_signatures = {k: v - common for k, v in old_signatures.items()}
        scored = sorted(
            (
                (similarity(new_signatures[n.id], old_signatures[o.id]), n.id, o.id)
                for n in rest[:MAX_CONTENT_CANDIDATES]
                for o in waiting[:MAX_CONTENT_CANDIDATES]
            ),
            reverse=True,
        )
        used_new: set[int] = set()
        used_old: set[int] = set()
        for score, new_id, old_id in scored:
            if score < CONTENT_THRESHOLD:
                break
            if new_id in used_new or old_id in used_old:
                continue
            used_new.add(new_id)
            used_old.add(old_id)
            _compare(db, db.get_one(SheetRevision, new_id), db.get_one(SheetRevision, old_id), "content")
            by_content.append(new_id)
        waiting = [r for r in waiting if r.id not in used_old]
    carried = [carry_forward(db, r, current).id for r in waiting]
    return MatchOutcome(
        by_number=tuple(by_number),
        by_content=tuple(by_content),
        unmatched=tuple(r.id for r in rest if r.id not in by_content),
        carried=tuple(carried),
    )


def carry_forward(db: Session, previous: SheetRevision, current: Round) -> SheetRevision:
    """The previous revision of a sheet not resubmitted, as the sheet's revision of ``current`` (same renders)."""
    existing = db.scalar(
        select(SheetRevision).where(SheetRevision.sheet_id == previous.sheet_id, SheetRevision.round_id == current.id)
    )
    if existing is not None:
        return existing
    revision = SheetRevision(
        sheet_id=previous.sheet_id,
        round_id=current.id,
        drawing_file_id=previous.drawing_file_id,
        source_index=previous.source_index,
        layout_name=previous.layout_name,
        width_pt=previous.width_pt,
        height_pt=previous.height_pt,
        scale=previous.scale,
        pdf_key=previous.pdf_key,
        tiles_key=previous.tiles_key,
        thumbnail_key=previous.thumbnail_key,
        paper=previous.paper,
        title_block=dict(previous.title_block),
        findings=[],
        status=previous.status,
        units_per_point=previous.units_per_point,
        units=previous.units,
    )
    db.add(revision)
    db.flush()
    text = db.get(SheetText, previous.id)
    if text is not None:
        db.add(SheetText(sheet_revision_id=revision.id, submission_id=text.submission_id, text=text.text))
    carry_sheet(db, previous, revision, ())
    return revision


# The clerk's page --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchRow:
    """One revision of the new round as the clerk sees it."""

    revision: SheetRevision
    sheet: Sheet
    carried: bool
    """Carried forward (not resubmitted)."""
    previous: SheetRevision | None
    previous_sheet: Sheet | None
    matched_by: str | None
    """number, content, clerk; None for a sheet new to the submission."""

    @property
    def needs_clerk(self) -> bool:
        """Renumbered (matched by content) or unmatched: listed for the clerk."""
        return not self.carried and self.matched_by in (None, "content")


@dataclass(frozen=True)
class MatchView:
    """The matching of a submission's latest round against the one before."""

    submission: Submission
    current: Round
    previous: Round
    rows: tuple[MatchRow, ...]
    candidates: tuple[tuple[SheetRevision, Sheet], ...]
    """The previous round's revisions, to choose from."""
    changeable: bool
    """Whether the clerk may change matches now."""

    @property
    def listed(self) -> tuple[MatchRow, ...]:
        return tuple(row for row in self.rows if row.needs_clerk)


def _rounds(db: Session, submission_id: int) -> tuple[Round, Round]:
    rounds = list(
        db.scalars(select(Round).where(Round.submission_id == submission_id).order_by(Round.number.desc()).limit(2))
    )
    if len(rounds) < 2:
        raise NotFound("该报审还没有修改后的轮次", "the submission has no revised round yet")
    return rounds[0], rounds[1]


def match_view(db: Session, who: Principal, submission_id: int) -> MatchView:
    """The clerk's view of the latest round's matches; only for those who take intake decisions."""
    submission = db.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(who, Action.INTAKE, submission=submission)
    current, previous = _rounds(db, submission_id)
    sheets = {s.id: s for s in db.scalars(select(Sheet).where(Sheet.submission_id == submission_id))}
    comparisons = {
        c.sheet_revision_id: c
        for c in db.scalars(
            select(RevisionComparison)
            .join(SheetRevision, SheetRevision.id == RevisionComparison.sheet_revision_id)
            .where(SheetRevision.round_id == current.id)
        )
    }
    rows = []
    for revision in _revisions(db, current.id):
        comparison = comparisons.get(revision.id)
        before = db.get(SheetRevision, comparison.previous_revision_id) if comparison is not None else None
        rows.append(
            MatchRow(
                revision=revision,
                sheet=sheets[revision.sheet_id],
                carried=is_carried(db, revision),
                previous=before,
                previous_sheet=sheets.get(before.sheet_id) if before is not None else None,
                matched_by=comparison.matched_by if comparison is not None else None,
            )
        )
    rows.sort(key=lambda row: (not row.needs_clerk, row.carried, row.sheet.number))
    candidates = tuple((r, sheets[r.sheet_id]) for r in _revisions(db, previous.id))
    return MatchView(
        submission=submission,
        current=current,
        previous=previous,
        rows=tuple(rows),
        candidates=tuple(sorted(candidates, key=lambda pair: pair[1].number)),
        changeable=submission.state in MATCH_STATES,
    )


def _remove_carried_revision(db: Session, revision: SheetRevision) -> None:
    drop_carried(db, revision.id)
    if db.scalar(select(Markup.id).where(Markup.sheet_revision_id == revision.id).limit(1)) is not None:
        raise Conflict(
            "该图纸在本轮已有批注，不能再改为与其他图纸匹配",
            "the sheet already has markups in this round; it cannot be matched to another sheet now",
        )
    text = db.get(SheetText, revision.id)
    if text is not None:
        db.delete(text)
    db.delete(revision)
    db.flush()


def set_match(
    db: Session, who: Principal, submission_id: int, revision_id: int, previous_revision_id: int | None
) -> RevisionComparison | None:
    """The clerk matches an uploaded revision of the new round to a revision of the previous one, or to none."""
    view = match_view(db, who, submission_id)
    if not view.changeable:
        raise Conflict("审查开始后不能再调整图纸匹配", "matches cannot be changed once the review has started")
    row = next((r for r in view.rows if r.revision.id == revision_id), None)
    if row is None or row.carried:
        raise NotFound("本轮没有该上传图纸", "no such uploaded sheet in this round")
    target = None
    if previous_revision_id is not None:
        target = db.get(SheetRevision, previous_revision_id)
        if target is None or target.round_id != view.previous.id:
            raise Invalid("所选图纸不属于上一轮", "the chosen sheet is not part of the previous round")
        taken = next(
            (r for r in view.rows if r.previous is not None and r.previous.id == target.id and not r.carried), None
        )
        if taken is not None and taken.revision.id != revision_id:
            raise Conflict(
                f"上一轮图纸 {view_number(view, target)} 已与本轮 {taken.sheet.number} 匹配",
                f"sheet {view_number(view, target)} of the previous round is already matched to {taken.sheet.number}",
            )
    if row.previous is not None and (target is None or row.previous.id != target.id):
        drop_carried(db, revision_id)
    comparison = db.get(RevisionComparison, revision_id)
    released = row.previous
    if target is None:
        if comparison is not None:
            db.delete(comparison)
            db.flush()
        result = None
    else:
        carried = db.scalar(
            select(SheetRevision).where(
                SheetRevision.sheet_id == target.sheet_id, SheetRevision.round_id == view.current.id
            )
        )
        if carried is not None and carried.id != revision_id and is_carried(db, carried):
            _remove_carried_revision(db, carried)
        _compare(db, row.revision, target, "clerk")
        result = db.get_one(RevisionComparison, revision_id)
    if released is not None and (target is None or released.id != target.id):
        carry_forward(db, released, view.current)
    chosen = view_number(view, target) if target is not None else "—"
    audit.record(
        db,
        actor_id=who.user_id,
        actor_name=who.username,
        action="sheet_revision.matched",
        object_type="sheet_revision",
        object_id=revision_id,
        summary=f"{row.sheet.number} ← {chosen}（受理窗口确认 / confirmed by the clerk）",
    )
    return result


def view_number(view: MatchView, revision: SheetRevision) -> str:
    return next((sheet.number for r, sheet in view.candidates if r.id == revision.id), "?")


def pending_files(db: Session, round_id: int) -> Sequence[DrawingFile]:
    """Files of the round still being split (the set is not known yet)."""
    from app.intake.steps_record import FILE_SETTLED

    files = db.scalars(select(DrawingFile).where(DrawingFile.round_id == round_id).order_by(DrawingFile.id)).all()
    return [f for f in files if f.status not in FILE_SETTLED]


def revisions_of(db: Session, ids: Iterable[int]) -> list[SheetRevision]:
    return [db.get_one(SheetRevision, i) for i in ids]
