"""The intake steps run directly (no Celery) on both databases with a local object store."""

from __future__ import annotations

import hashlib

import pymupdf
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict
from app.intake.keys import entity_index_key
from app.intake.pipeline import index_drawing_file, process_drawing_file, render_sheet_revision
from app.intake.steps_read import ENTITY_INDEX_VERSION
from app.intake.steps_render import ViewOptions, choose_dpi
from review.compare.entities import entity_index
from review.compare.index import EntityIndex
from review.drawing import read_dxf
from storage.blobstore import LocalBlobStore
from storage.models import (
    AuditEvent,
    DrawingFile,
    Round,
    Sheet,
    SheetRevision,
    SheetText,
    SheetTrack,
)
from tests.app.intake.makers import BODY_TEXT, SHEETS, layout_dxf, title_block_pdf, upload_original
from tests.conftest import sample

FARMHOUSE = "pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf"
# Small tiles keep the pyramids of these tests cheap; the keys and the flow are the same as at 300 dpi.
FAST = ViewOptions(dpi=50, thumbnail_px=128)


def _snapshot(sessions: sessionmaker[Session], submission_id: int) -> list[tuple[object, ...]]:
    with sessions() as session:
        rows = session.execute(
            select(Sheet.number, Sheet.title, SheetRevision.id, SheetRevision.status, SheetRevision.pdf_key)
            .join(SheetRevision, SheetRevision.sheet_id == Sheet.id)
            .where(Sheet.submission_id == submission_id)
            .order_by(SheetRevision.source_index)
        )
        return [tuple(row) for row in rows]


def test_a_pdf_set_becomes_identified_viewable_sheets(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(), "建施.pdf")
    progress: list[float] = []
    outcome = process_drawing_file(session_factory, store, file_id, report=lambda p, m: progress.append(p))
    assert not outcome.rejected
    assert len(outcome.revision_ids) == 2
    assert progress
    assert max(progress) <= 100
    for revision_id in outcome.revision_ids:
        render_sheet_revision(session_factory, store, revision_id, options=FAST)

    with session_factory() as session:
        sheets = session.scalars(select(Sheet).where(Sheet.submission_id == submission_id).order_by(Sheet.number))
        assert [(s.number, s.title, s.discipline) for s in sheets] == [
            ("建施-01", "一层平面图", "architecture"),
            ("建施-02", "二层平面图", "architecture"),
        ]
        rounds = session.scalars(select(Round).where(Round.submission_id == submission_id)).all()
        assert [r.number for r in rounds] == [1]
        for revision in session.scalars(select(SheetRevision).where(SheetRevision.id.in_(outcome.revision_ids))):
            assert revision.status == "ready"
            assert revision.round_id == rounds[0].id
            assert revision.paper == "A3"
            assert revision.scale == "1:100"
            assert revision.title_block["number"] in {"建施-01", "建施-02"}
            for key in (revision.pdf_key, revision.tiles_key, revision.thumbnail_key):
                assert key is not None
                assert key.startswith("derived/")
                assert store.exists(key)
            assert store.exists(revision.tiles_key.replace("tiles.dzi", "tiles_files/0/0_0.png"))  # type: ignore[union-attr]
            text = session.get_one(SheetText, revision.id)
            assert BODY_TEXT.split()[0] in text.text
            assert "建施-0" in text.text
        routed = session.scalars(select(SheetTrack.track_code)).all()
        assert "construction" in routed
        drawing = session.get_one(DrawingFile, file_id)
        assert drawing.status == "split"
        assert drawing.findings["sheets"] == 2
        assert drawing.object_key.startswith("originals/")


def test_rerunning_the_steps_changes_nothing(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(), "建施.pdf")
    first = process_drawing_file(session_factory, store, file_id)
    render_sheet_revision(session_factory, store, first.revision_ids[0], options=FAST)
    before = _snapshot(session_factory, submission_id)
    keys_before = sorted(store.iter_keys("derived/"))
    stamps = {key: store.stat(key).last_modified for key in keys_before}

    again = process_drawing_file(session_factory, store, file_id)
    render_sheet_revision(session_factory, store, first.revision_ids[0], options=FAST)

    assert again.revision_ids == first.revision_ids
    assert _snapshot(session_factory, submission_id) == before
    assert sorted(store.iter_keys("derived/")) == keys_before
    assert {key: store.stat(key).last_modified for key in keys_before} == stamps
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Sheet)) == 2
        assert session.scalar(select(func.count()).select_from(SheetText)) == 1


def test_a_dxf_layout_is_identified_from_its_rendered_title_block(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, layout_dxf(), "建施-03.dxf")
    outcome = process_drawing_file(session_factory, store, file_id)
    assert len(outcome.revision_ids) == 1
    render_sheet_revision(session_factory, store, outcome.revision_ids[0], options=FAST)
    with session_factory() as session:
        revision = session.get_one(SheetRevision, outcome.revision_ids[0])
        assert revision.sheet.number == "建施-03"
        assert revision.sheet.title == "三层平面图"
        assert revision.layout_name == "建施-03"
        assert revision.paper == "A3"
        assert revision.status == "ready"
        assert revision.pdf_key is not None
        assert revision.pdf_key.startswith("derived/sheets/")
        assert "客厅" in session.get_one(SheetText, revision.id).text


def test_sheets_get_measuring_units_from_the_dxf_scale_and_the_pdf_title_block(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    dxf = upload_original(session_factory, store, submission_id, layout_dxf(), "建施-03.dxf")
    pdf = upload_original(session_factory, store, submission_id, title_block_pdf(SHEETS[:1]), "建施-01.pdf")
    unscaled = upload_original(session_factory, store, submission_id, drawing_without_scale(), "建施-09.pdf")
    [dxf_id] = process_drawing_file(session_factory, store, dxf).revision_ids
    [pdf_id] = process_drawing_file(session_factory, store, pdf).revision_ids
    [unscaled_id] = process_drawing_file(session_factory, store, unscaled).revision_ids
    with session_factory() as session:
        layout = session.get_one(SheetRevision, dxf_id)
        page = session.get_one(SheetRevision, pdf_id)
        neither = session.get_one(SheetRevision, unscaled_id)
        # The DXF is in millimetres ($INSUNITS 4) and its viewport shows it at 1:100; the PDF says 比例：1:100.
        for revision in (layout, page):
            assert revision.units == "mm"
            assert revision.units_per_point == pytest.approx(100 * 25.4 / 72)
        assert (neither.units_per_point, neither.units) == (None, "")
        assert layout.pdf_key is not None
        with store.open(layout.pdf_key) as stream:
            sheet_pdf = stream.read()
    # Measured on the rendered sheet: the 20 m wide floor outline is 20 000 mm wide.
    widths = [drawing["rect"].width for drawing in pymupdf.open(stream=sheet_pdf)[0].get_drawings()]
    assert any(abs(width * layout.units_per_point - 20_000) < 20 for width in widths)


def drawing_without_scale() -> bytes:
    document = pymupdf.open()
    page = document.new_page(width=1191, height=842)
    page.insert_text((900, 770), "图号：建施-09", fontname="china-s", fontsize=9)
    return bytes(document.tobytes())


def test_missing_numbers_and_duplicates_become_findings(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    pdf = title_block_pdf((("建施-01", "一层平面图"), ("", "无图号"), ("建施-1", "一层平面图（重复）")))
    file_id = upload_original(session_factory, store, submission_id, pdf, "混合.pdf")
    outcome = process_drawing_file(session_factory, store, file_id)
    with session_factory() as session:
        revisions = [session.get_one(SheetRevision, rid) for rid in outcome.revision_ids]
        numbers = [r.sheet.number for r in revisions]
        assert numbers[0] == "建施-01"
        assert numbers[1] == f"未识别-{file_id}-2"
        assert numbers[2].startswith("重复-建施-1")
        assert "TITLE_BLOCK_NO_NUMBER" in {f["code"] for f in revisions[1].findings}
        duplicate = [f for f in revisions[2].findings if f["code"] == "SHEET_NUMBER_DUPLICATE"]
        assert duplicate
        assert duplicate[0]["zh"]
        assert duplicate[0]["en"]


def test_an_encrypted_pdf_is_rejected_with_a_bilingual_finding(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(password="secret"), "加密.pdf")
    with session_factory() as session:
        events_before = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    outcome = process_drawing_file(session_factory, store, file_id)
    assert outcome.rejected
    assert outcome.revision_ids == ()
    with session_factory() as session:
        drawing = session.get_one(DrawingFile, file_id)
        assert drawing.status == "rejected"
        [finding] = drawing.findings["intake"]
        assert finding["code"] == "FILE_UNREADABLE"
        assert "加密" in finding["zh"]
        assert "encrypted" in finding["en"]
        assert session.scalar(select(func.count()).select_from(Sheet)) == 0
        assert session.scalar(select(func.count()).select_from(Round)) == 0
        assert (session.scalar(select(func.count()).select_from(AuditEvent)) or 0) == events_before + 1
    assert list(store.iter_keys("derived/")) == []


def test_the_dpi_stays_at_300_for_a0_and_drops_for_huge_pages() -> None:
    options = ViewOptions()
    a0 = (3370.4, 2383.9)
    assert choose_dpi(*a0, options) == 300
    assert choose_dpi(a0[0] * 4, a0[1], options) < 300
    width, height = a0[0] * 4, a0[1]
    dpi = choose_dpi(width, height, options)
    assert (width * dpi / 72) * (height * dpi / 72) <= options.max_pixels


def test_the_farmhouse_set_splits_into_25_numbered_sheets(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    data = sample(FARMHOUSE).read_bytes()
    file_id = upload_original(session_factory, store, submission_id, data, "farmhouse.pdf")
    outcome = process_drawing_file(session_factory, store, file_id)
    assert len(outcome.revision_ids) == 25
    with session_factory() as session:
        numbers = [session.get_one(SheetRevision, rid).sheet.number for rid in outcome.revision_ids]
    assert numbers[0] == "A-0.0"
    assert len(set(numbers)) == 25
    assert not any(n.startswith(("未识别", "重复")) for n in numbers)


@pytest.mark.parametrize(
    ("data", "zh", "en"),
    [
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "没有任何页面", "no pages"),
        (b"0\nSECTION\n2\nHEADER\n0\nENDSEC\n0\nEOF\n", "没有任何图形", "no drawing"),
    ],
    ids=["damaged-pdf", "empty-dxf"],
)
def test_damaged_or_empty_files_are_rejected(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int, data: bytes, zh: str, en: str
) -> None:
    file_id = upload_original(session_factory, store, submission_id, data, "坏文件")
    outcome = process_drawing_file(session_factory, store, file_id)
    assert outcome.rejected
    with session_factory() as session:
        [finding] = session.get_one(DrawingFile, file_id).findings["intake"]
        assert zh in finding["zh"]
        assert en in finding["en"]


def test_a_sheet_too_large_to_tile_gets_a_finding_not_a_crash(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(SHEETS[:1]), "建施.pdf")
    [revision_id] = process_drawing_file(session_factory, store, file_id).revision_ids
    message = render_sheet_revision(
        session_factory, store, revision_id, options=ViewOptions(dpi=300, min_dpi=300, max_pixels=10)
    )
    assert "无法生成审阅图像" in message
    with session_factory() as session:
        revision = session.get_one(SheetRevision, revision_id)
        assert revision.status == "unrenderable"
        assert revision.tiles_key is None
        assert "RENDER_FAILED" in {f["code"] for f in revision.findings}


def test_an_original_changed_in_the_store_is_not_processed(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(), "建施.pdf")
    with session_factory() as session:
        key = session.get_one(DrawingFile, file_id).object_key
    store.local_path(key).write_bytes(title_block_pdf(SHEETS[:1]))  # damage behind the store's back
    with pytest.raises(Conflict, match="SHA-256"):
        process_drawing_file(session_factory, store, file_id)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Sheet)) == 0
    assert list(store.iter_keys("derived/")) == []


def test_tiling_reports_progress_about_twenty_times_and_the_last_tile(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(SHEETS[:1]), "建施.pdf")
    [revision_id] = process_drawing_file(session_factory, store, file_id).revision_ids
    reports: list[tuple[float, str]] = []
    full = ViewOptions(dpi=300, thumbnail_px=64)  # an A3 sheet at 300 dpi: 108 tiles
    render_sheet_revision(session_factory, store, revision_id, options=full, report=lambda p, m: reports.append((p, m)))
    tiles = [(percent, message) for percent, message in reports if message.startswith("切片 ")]
    assert 15 <= len(tiles) <= 22  # every fifth tile, and the last
    percents = [percent for percent, _ in tiles]
    assert percents == sorted(percents)
    done, expected = tiles[-1][1].split()[1].split("/")
    assert done == expected == "108"  # every tile counted, the last one reported
    assert percents[-1] == 95.0


def test_a_dxf_layout_is_ready_before_its_entity_index_which_the_index_job_stores(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    dxf = layout_dxf()
    file_id = upload_original(session_factory, store, submission_id, dxf, "建施-03.dxf")
    outcome = process_drawing_file(session_factory, store, file_id)
    [revision_id] = outcome.revision_ids
    assert outcome.indexable
    render_sheet_revision(session_factory, store, revision_id, options=FAST)
    with session_factory() as session:
        revision = session.get_one(SheetRevision, revision_id)
        assert revision.status == "ready"
        sha = session.get_one(DrawingFile, revision.drawing_file_id).sha256
        key = entity_index_key(sha, revision.source_index, ENTITY_INDEX_VERSION)
    # Splitting and tiling leave the index to its own job.
    assert not store.exists(key)

    progress: list[float] = []
    message = index_drawing_file(session_factory, store, file_id, report=lambda p, m: progress.append(p))
    assert "1 entity indexes built" in message
    assert progress
    assert max(progress) <= 100
    with store.open(key) as stream:
        index = EntityIndex.from_bytes(stream.read())
    doc = read_dxf(dxf).doc
    assert index.layout_name == "建施-03"
    assert index.handles == entity_index(doc, "建施-03").handles
    assert len(index) > 5

    stat = store.stat(key)
    again = index_drawing_file(session_factory, store, file_id)
    assert "0 entity indexes built, 1 already stored" in again
    assert store.stat(key) == stat


def test_a_pdf_original_is_not_queued_for_indexing_and_has_nothing_to_index(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    file_id = upload_original(session_factory, store, submission_id, title_block_pdf(), "建施.pdf")
    assert not process_drawing_file(session_factory, store, file_id).indexable
    assert "nothing to index" in index_drawing_file(session_factory, store, file_id)
    assert not any(key.startswith("derived/entity-index/") for key in store.iter_keys("derived/"))


def test_a_failed_entity_index_leaves_the_ready_sheet_as_it_is(
    session_factory: sessionmaker[Session],
    store: LocalBlobStore,
    submission_id: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dxf = layout_dxf("建施-04", "四层平面图")
    file_id = upload_original(session_factory, store, submission_id, dxf, "建施-04.dxf")
    [revision_id] = process_drawing_file(session_factory, store, file_id).revision_ids
    render_sheet_revision(session_factory, store, revision_id, options=FAST)
    before = _snapshot(session_factory, submission_id)
    assert [row[3] for row in before] == ["ready"]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no index today")

    monkeypatch.setattr("app.intake.steps_read.entity_index", broken)
    with caplog.at_level("WARNING", logger="app.intake"):
        message = index_drawing_file(session_factory, store, file_id)
    assert "0 entity indexes built, 0 already stored, 1 failed" in message
    assert "entity index" in caplog.text
    assert not store.exists(entity_index_key(hashlib.sha256(dxf).hexdigest(), 0, ENTITY_INDEX_VERSION))
    assert _snapshot(session_factory, submission_id) == before
