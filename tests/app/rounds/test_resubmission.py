"""Answers, resubmission into round 2, matching, compare and carry-over, with sheets through real intake."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import app.rounds.compare as compare_module
from app.drawings import add_original
from app.errors import Conflict, Invalid
from app.intake.keys import entity_index_key, tile_key
from app.intake.pipeline import index_drawing_file, render_sheet_revision
from app.intake.steps_read import ENTITY_INDEX_VERSION
from app.intake.steps_render import ViewOptions, tile_prefix_of
from app.rounds.answers import Resubmission, answer_comment, resubmit
from app.rounds.compare import COMPARE_REVISION, compare_revision
from app.rounds.conclude import conclude_track
from app.rounds.matching import match_view, set_match
from app.tracks import CIVIL_AIR_DEFENCE, FIRE
from review.compare import RasterCompareOptions
from review.compare.levels import pyramid_of
from review.compare.raster import Gray
from review.drawing import DxfReadResult
from review.drawing.dxf_reader import ReadOptions
from storage.blobstore import LocalBlobStore
from storage.db import transaction
from storage.models import (
    ClockPause,
    Comment,
    CommentEntry,
    DrawingFile,
    Markup,
    RevisionComparison,
    Round,
    Sheet,
    SheetRevision,
    Submission,
    SubmissionState,
    TaskRun,
)
from tests.app.rounds.conftest import CHANGE_MODEL, CHANGE_RADIUS, Case, model_to_sheet, sheet_dxf, upload
from tests.app.rounds.helpers import comment_with_box

CX, CY = model_to_sheet(*CHANGE_MODEL)
R = CHANGE_RADIUS * 0.01 * 72 / 25.4
NEAR_CHANGE = (CX - 2 * R, CY - 2 * R, CX + 2 * R, CY + 2 * R)
AWAY = (120.0, 120.0, 200.0, 180.0)


def _revise(sessions: sessionmaker[Session], case: Case) -> dict[str, int]:
    """Fire writes two comments on 建施-03 (one where the change will be) and one on 建施-04, then revise."""
    ids = {
        "changed": comment_with_box(
            sessions, case.fire_reviewer, case.revisions["建施-03"], FIRE, NEAR_CHANGE, "加疏散口"
        )[0],
        "same": comment_with_box(sessions, case.fire_reviewer, case.revisions["建施-03"], FIRE, AWAY, "防火门等级")[0],
        "other": comment_with_box(sessions, case.fire_reviewer, case.revisions["建施-04"], FIRE, AWAY, "楼梯间")[0],
    }
    with transaction(sessions) as db:
        conclude_track(db, case.fire_lead, case.round_id, FIRE, "revise")
        conclude_track(db, case.airdef_lead, case.round_id, CIVIL_AIR_DEFENCE, "passed")
    return ids


def _answer_all(sessions: sessionmaker[Session], case: Case, ids: dict[str, int]) -> None:
    for comment_id in ids.values():
        with transaction(sessions) as db:
            version = db.get_one(Comment, comment_id).version
            answer_comment(db, None, case.designer, comment_id, expected_version=version, text="已按意见修改")


def _resubmit_changed_03(
    sessions: sessionmaker[Session], case: Case, store: LocalBlobStore, ids: dict[str, int]
) -> Resubmission:
    """The comments ``ids`` answered, 建施-03 uploaded again with a circle added, and the submission resubmitted."""
    _answer_all(sessions, case, ids)
    upload(sessions, store, case.designer, case.submission_id, sheet_dxf("建施-03", added_circle=True), "r2.dxf")
    with transaction(sessions) as db:
        return resubmit(db, store, case.designer, case.submission_id)


def test_resubmission_needs_every_comment_answered(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    ids = _revise(session_factory, case)
    with transaction(session_factory) as db:
        version = db.get_one(Comment, ids["same"]).version
        answer_comment(db, None, case.designer, ids["same"], expected_version=version, text="已修改")
    with pytest.raises(Invalid) as refused, transaction(session_factory) as db:
        resubmit(db, store, case.designer, case.submission_id)
    assert "XF-1" in refused.value.zh
    assert "XF-3" in refused.value.en
    assert "XF-2" not in refused.value.zh
    with session_factory() as db:
        assert db.get_one(Submission, case.submission_id).state is SubmissionState.REVISING


def test_changed_dxf_sheet_is_compared_and_markups_carry_over_flagged(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    ids = _revise(session_factory, case)
    done = _resubmit_changed_03(session_factory, case, store, ids)
    assert len(done.matches.by_number) == 1
    assert len(done.matches.carried) == 1
    assert done.matches.by_content == ()

    with session_factory() as db:
        assert db.get_one(Submission, case.submission_id).state is SubmissionState.SUBMITTED
        assert db.scalars(select(ClockPause)).one().ended_at is not None
        revisions = dict(
            db.execute(
                select(Sheet.number, SheetRevision)
                .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
                .where(SheetRevision.round_id == done.round.id)
            )
            .tuples()
            .all()
        )
        new03, carried04 = revisions["建施-03"], revisions["建施-04"]
        previous04 = db.get_one(SheetRevision, case.revisions["建施-04"])
        # The sheet not resubmitted is in the new round with the same renders.
        assert carried04.pdf_key == previous04.pdf_key
        assert carried04.drawing_file_id == previous04.drawing_file_id
        comparison = db.get_one(RevisionComparison, new03.id)
        assert comparison.matched_by == "number"
        assert comparison.previous_revision_id == case.revisions["建施-03"]
        runs = db.scalars(select(TaskRun).where(TaskRun.name == COMPARE_REVISION)).all()
        assert [run.arguments for run in runs] == [{"sheet_revision_id": new03.id}]
        new03_id, carried04_id = new03.id, carried04.id

    message = compare_revision(session_factory, store, new03_id)
    assert "1" in message
    compare_revision(session_factory, store, new03_id)  # a second delivery changes nothing
    with session_factory() as db:
        comparison = db.get_one(RevisionComparison, new03_id)
        assert comparison.method == "entities"
        assert comparison.regions
        assert comparison.overlay_key is not None
        assert store.exists(comparison.overlay_key)
        hit = [r for r in comparison.regions if r["x0"] - 1 <= CX <= r["x1"] + 1 and r["y0"] - 1 <= CY <= r["y1"] + 1]
        assert hit, comparison.regions
        assert all(r["x1"] - r["x0"] < 200 for r in comparison.regions)
        markups = db.scalars(select(Markup).where(Markup.sheet_revision_id == new03_id).order_by(Markup.id)).all()
        assert len(markups) == 2
        flags = {db.get_one(Comment, m.comment_id).carried_from_id: m.region_changed for m in markups}
        assert flags == {ids["changed"]: True, ids["same"]: False}
        assert all(m.carried_from_id is not None for m in markups)
        carried = db.scalars(select(Markup).where(Markup.sheet_revision_id == carried04_id)).one()
        assert carried.region_changed is False
        # Carried comments keep their thread and status; round 1's comments stay as issued.
        moved = db.scalars(select(Comment).where(Comment.carried_from_id == ids["changed"])).one()
        assert moved.status == "answered"
        assert moved.round_id == db.scalars(select(Round).where(Round.number == 2)).one().id
        entries = db.scalars(select(CommentEntry).where(CommentEntry.comment_id == moved.id)).all()
        assert [e.text for e in entries] == ["已按意见修改"]
        assert db.get_one(Comment, ids["changed"]).sheet_revision_id == case.revisions["建施-03"]


def test_designer_cannot_act_while_the_clerk_holds_the_submission(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    ids = _revise(session_factory, case)
    _answer_all(session_factory, case, ids)
    with transaction(session_factory) as db:
        resubmit(db, store, case.designer, case.submission_id)
    with session_factory() as db:
        version = db.get_one(Comment, ids["same"]).version
    with pytest.raises(Conflict), transaction(session_factory) as db:
        answer_comment(db, None, case.designer, ids["same"], expected_version=version, text="再补充")
    with pytest.raises(Conflict), transaction(session_factory) as db:
        resubmit(db, store, case.designer, case.submission_id)
    with pytest.raises(Conflict), transaction(session_factory) as db:
        add_original(
            db,
            store,
            case.designer,
            case.submission_id,
            io.BytesIO(sheet_dxf("建施-09")),
            file_name="x.dxf",
            max_bytes=10**8,
        )


def test_renumbered_sheet_is_matched_by_content_and_listed_for_the_clerk(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    ids = _revise(session_factory, case)
    _answer_all(session_factory, case, ids)
    upload(session_factory, store, case.designer, case.submission_id, sheet_dxf("建施-05"), "renumbered.dxf")
    with transaction(session_factory) as db:
        done = resubmit(db, store, case.designer, case.submission_id)
    assert len(done.matches.by_content) == 1
    assert len(done.matches.carried) == 1  # 建施-03, not resubmitted
    renumbered = done.matches.by_content[0]
    with session_factory() as db:
        comparison = db.get_one(RevisionComparison, renumbered)
        assert comparison.matched_by == "content"
        assert comparison.previous_revision_id == case.revisions["建施-04"]
        view = match_view(db, case.clerk, case.submission_id)
        assert [row.sheet.number for row in view.listed] == ["建施-05"]
        assert view.listed[0].previous_sheet is not None
        assert view.listed[0].previous_sheet.number == "建施-04"

    # The clerk says it is a new sheet: 建施-04 is carried forward instead.
    with transaction(session_factory) as db:
        set_match(db, case.clerk, case.submission_id, renumbered, None)
    with session_factory() as db:
        assert db.get(RevisionComparison, renumbered) is None
        numbers = db.scalars(
            select(Sheet.number)
            .join(SheetRevision)
            .where(SheetRevision.round_id == done.round.id)
            .order_by(Sheet.number)
        ).all()
        assert numbers == ["建施-03", "建施-04", "建施-05"]
    # And back: the clerk confirms the match; the carried 建施-04 goes away again.
    with transaction(session_factory) as db:
        set_match(db, case.clerk, case.submission_id, renumbered, case.revisions["建施-04"])
    with session_factory() as db:
        assert db.get_one(RevisionComparison, renumbered).matched_by == "clerk"
        numbers = db.scalars(
            select(Sheet.number)
            .join(SheetRevision)
            .where(SheetRevision.round_id == done.round.id)
            .order_by(Sheet.number)
        ).all()
        assert numbers == ["建施-03", "建施-05"]
    compare_revision(session_factory, store, renumbered)
    with session_factory() as db:
        comparison = db.get_one(RevisionComparison, renumbered)
        # The DXF layout is named after the sheet number: renamed, so compared as pictures, and said so.
        assert comparison.method == "raster"
        assert [f["code"] for f in comparison.findings] == ["COMPARE_LAYOUT_RENAMED"]
        carried = db.scalars(select(Markup).where(Markup.sheet_revision_id == renumbered)).one()
        assert db.get_one(Comment, carried.comment_id).carried_from_id == ids["other"]
    with pytest.raises(Invalid), transaction(session_factory) as db:
        set_match(db, case.clerk, case.submission_id, renumbered, renumbered)


def test_the_next_round_is_reviewed_and_the_carried_comments_resolved(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    from app import fees, intake_desk, submissions
    from app.review_desk.comments import act_on_comment
    from storage.models import TrackReview, TrackReviewState

    ids = _revise(session_factory, case)
    _answer_all(session_factory, case, ids)
    with transaction(session_factory) as db:
        done = resubmit(db, store, case.designer, case.submission_id)
    with transaction(session_factory) as db:
        submissions.accept(db, case.clerk, case.submission_id)
        intake_desk.open_round(db, db.get_one(Submission, case.submission_id), (FIRE, CIVIL_AIR_DEFENCE))
        fees.issue_invoice(db, case.submission_id)
        fees.defer_fee(db, case.clerk, case.submission_id, reason="财政拨款项目，缓缴")
        intake_desk.start_review(db, case.clerk, case.submission_id, expected_version=None)
    with session_factory() as db:
        states = db.scalars(select(TrackReview.state).where(TrackReview.round_id == done.round.id)).all()
        assert states == [TrackReviewState.IN_REVIEW, TrackReviewState.IN_REVIEW]
        carried = db.scalars(select(Comment.id).where(Comment.round_id == done.round.id)).all()
    assert len(carried) == 3
    for comment_id in carried:
        with transaction(session_factory) as db:
            version = db.get_one(Comment, comment_id).version
            act_on_comment(db, None, case.fire_reviewer, comment_id, expected_version=version, action="resolve")
    with transaction(session_factory) as db:
        conclude_track(db, case.fire_lead, done.round.id, FIRE, "passed")
        conclude_track(db, case.airdef_lead, done.round.id, CIVIL_AIR_DEFENCE, "passed")
    with session_factory() as db:
        assert db.get_one(Submission, case.submission_id).state is SubmissionState.PASSED
        # Round 1 keeps its comments as they were issued.
        assert db.get_one(Comment, ids["changed"]).status == "answered"


def _pdf_sheet(*, extra: bool = False) -> bytes:
    import pymupdf

    document = pymupdf.open()
    page = document.new_page(width=1191, height=842)
    page.draw_rect(pymupdf.Rect(20, 20, 1171, 822))
    page.insert_text((100, 200), "一层平面图 说明：防火分区 消防车道", fontname="china-s", fontsize=14)
    if extra:
        page.draw_rect(pymupdf.Rect(600, 300, 700, 380), width=2)
    for row, line in enumerate(("设计单位：联图建筑设计院", "图名：总平面图", "图号：建施-06", "比例：1:500")):
        page.insert_text((900, 720 + 25 * row), line, fontname="china-s", fontsize=9)
    data = bytes(document.tobytes())
    document.close()
    return data


def test_a_pdf_sheet_is_compared_as_pictures(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore
) -> None:
    from app.intake.pipeline import process_drawing_file
    from tests.app.intake.makers import upload_original

    first = upload_original(session_factory, store, case.submission_id, _pdf_sheet(), "建施-06.pdf")
    process_drawing_file(session_factory, store, first)
    with session_factory() as db:
        previous = db.scalars(
            select(SheetRevision.id)
            .join(Sheet)
            .where(Sheet.number == "建施-06", SheetRevision.round_id == case.round_id)
        ).one()
    ids = _revise(session_factory, case)
    _answer_all(session_factory, case, ids)
    upload(session_factory, store, case.designer, case.submission_id, _pdf_sheet(extra=True), "建施-06 修改.pdf")
    with transaction(session_factory) as db:
        done = resubmit(db, store, case.designer, case.submission_id)
    assert len(done.matches.by_number) == 1
    revision_id = done.matches.by_number[0]
    compare_revision(session_factory, store, revision_id)
    with session_factory() as db:
        comparison = db.get_one(RevisionComparison, revision_id)
        assert comparison.previous_revision_id == previous
        assert comparison.method == "raster"
        assert len(comparison.regions) == 1
        region = comparison.regions[0]
        assert 590 <= region["x0"] <= 602
        assert 698 <= region["x1"] <= 710
        assert 290 <= region["y0"] <= 302
        assert 378 <= region["y1"] <= 390


def test_dxf_sheets_are_compared_from_their_stored_entity_indexes_or_else_from_the_dxf(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _revise(session_factory, case)
    done = _resubmit_changed_03(session_factory, case, store, ids)
    with session_factory() as db:
        new03 = db.scalars(
            select(SheetRevision)
            .join(Sheet, SheetRevision.sheet_id == Sheet.id)
            .where(SheetRevision.round_id == done.round.id, Sheet.number == "建施-03")
        ).one()
        new03_id = new03.id
        revisions = (new03, db.get_one(SheetRevision, case.revisions["建施-03"]))
        index_keys = [
            entity_index_key(db.get_one(DrawingFile, r.drawing_file_id).sha256, r.source_index, ENTITY_INDEX_VERSION)
            for r in revisions
        ]
        file_ids = [r.drawing_file_id for r in revisions]
    # Intake's entity index job (queued after the render jobs) stores both indexes.
    for file_id in file_ids:
        index_drawing_file(session_factory, store, file_id)
    assert all(store.exists(key) for key in index_keys)

    def stored() -> tuple[str, list[dict[str, object]], list[dict[str, object]]]:
        with session_factory() as db:
            comparison = db.get_one(RevisionComparison, new03_id)
            return comparison.method or "", list(comparison.regions), list(comparison.findings)

    read: list[bytes] = []
    real_read_dxf = compare_module.read_dxf

    def counted(data: bytes, options: ReadOptions | None = None) -> DxfReadResult:
        read.append(data)
        return real_read_dxf(data, options)

    monkeypatch.setattr(compare_module, "read_dxf", counted)
    compare_revision(session_factory, store, new03_id)
    from_indexes = stored()
    assert read == []  # both indexes are stored: no DXF is read
    assert from_indexes[0] == "entities"
    assert from_indexes[1]
    assert from_indexes[2] == []

    # Sheets split before indexes were stored: the DXF originals are read as before, with the same result.
    for key in index_keys:
        store.delete(key)
    compare_revision(session_factory, store, new03_id)
    assert len(read) == 2
    assert stored() == from_indexes


def test_the_dxf_overlay_is_made_from_both_revisions_stored_tiles_or_else_rendered(
    session_factory: sessionmaker[Session], case: Case, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _revise(session_factory, case)
    done = _resubmit_changed_03(session_factory, case, store, ids)
    new03_id = done.matches.by_number[0]
    old03_id = case.revisions["建施-03"]
    with session_factory() as db:
        file_ids = [db.get_one(SheetRevision, r).drawing_file_id for r in (old03_id, new03_id)]
    for file_id in file_ids:
        index_drawing_file(session_factory, store, file_id)
    # Intake's render jobs store both pyramids (at 144 dpi here, to keep the test quick: the overlay takes 72 dpi).
    for revision_id in (old03_id, new03_id):
        render_sheet_revision(session_factory, store, revision_id, options=ViewOptions(dpi=144))
    with session_factory() as db:
        old03, new03 = db.get_one(SheetRevision, old03_id), db.get_one(SheetRevision, new03_id)
        tiles = [r.tiles_key or "" for r in (old03, new03)]
        width_pt, height_pt = new03.width_pt, new03.height_pt
    assert all(store.exists(key) for key in tiles)

    renders: list[bytes] = []
    real_render = compare_module.render_grey

    def counted(pdf: bytes, page: int, options: RasterCompareOptions | None = None) -> tuple[Gray, float, float]:
        renders.append(pdf)
        return real_render(pdf, page, options)

    monkeypatch.setattr(compare_module, "render_grey", counted)

    def overlay() -> tuple[Image.Image, list[dict[str, object]]]:
        compare_revision(session_factory, store, new03_id)
        with session_factory() as db:
            comparison = db.get_one(RevisionComparison, new03_id)
            key, regions = comparison.overlay_key or "", list(comparison.regions)
        with store.open(key) as stream:
            picture = Image.open(io.BytesIO(stream.read())).convert("RGB")
        store.delete(key)  # so that the next comparison makes it again
        return picture, regions

    from_tiles, regions = overlay()
    assert renders == []
    # The level of the 144 dpi pyramid at 72 dpi: a pixel a point.
    assert abs(from_tiles.width - width_pt) <= 1
    assert abs(from_tiles.height - height_pt) <= 1
    pixels = np.asarray(from_tiles)
    red, green, blue = (pixels[:, :, i].astype(np.int16) for i in range(3))
    assert np.count_nonzero((blue > 150) & (red < 100) & (green < 100)) > 20  # the added circle, in blue
    assert np.count_nonzero((red < 60) & (green < 60) & (blue < 60)) > 1000  # unchanged linework, black
    assert from_tiles.getpixel((round(width_pt / 2), 3)) == (255, 255, 255)

    # A damaged tile of the level: the overlay is rendered from both sheet PDFs, with the same regions.
    level = pyramid_of(_read_blob(store, tiles[0])).max_level - 1
    damaged = tile_key(tile_prefix_of(tiles[0]), f"{level}/0_0.png")
    assert store.exists(damaged)
    store.put_stream(damaged, io.BytesIO(b"not a png"), content_type="image/png")
    rendered, same_regions = overlay()
    assert len(renders) == 2
    assert same_regions == regions
    assert abs(rendered.width - width_pt) <= 1  # 72 dpi

    # The new revision's pyramid missing (not rendered yet): rendered too.
    store.delete(tiles[1])
    renders.clear()
    overlay()
    assert len(renders) == 2


def _read_blob(store: LocalBlobStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()
