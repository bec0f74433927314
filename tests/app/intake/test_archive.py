"""ZIP archives at intake, on both databases with a local object store: drawings become files of their own."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.drawings import add_original
from app.intake.archive import EXPANDED, expand_archive, holds_archive
from app.intake.pipeline import process_drawing_file
from app.intake.tasks import PROCESS_DRAWING_FILE
from app.tasks.jobs import VERIFY_DRAWING_FILE
from storage.blobstore import LocalBlobStore
from storage.db import transaction
from storage.models import AuditEvent, DrawingFile, Sheet, TaskRun, TaskState
from tests.app.intake.makers import designer_and_submission, layout_dxf, title_block_pdf, upload_original
from tests.review.test_archives import GBK_NAME, RawEntry, raw_zip, stored
from tests.support.workers import WorkerEnvironment, wait_for

# The makers stamp times and IDs into each file: made once, so that equal content is equal bytes.
PDF = title_block_pdf()
DXF = layout_dxf()


def _designer_zip() -> bytes:
    """A PDF in a Chinese folder, a DXF named in GBK without the UTF-8 flag, and a text file."""
    return raw_zip(
        stored("建筑/建施-01.pdf", PDF),
        stored(GBK_NAME.encode("gbk"), DXF),
        stored("说明.txt", "设计说明".encode()),
    )


def _files(sessions: sessionmaker[Session], submission_id: int) -> dict[str, DrawingFile]:
    with sessions() as session:
        rows = session.scalars(select(DrawingFile).where(DrawingFile.submission_id == submission_id)).all()
        return {row.original_name: row for row in rows}


def _count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _originals(store: LocalBlobStore) -> list[str]:
    return list(store.iter_keys("originals/"))


def test_an_archive_becomes_one_drawing_file_per_drawing(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    archive_id = upload_original(session_factory, store, submission_id, _designer_zip(), "图纸.zip", "application/zip")
    assert holds_archive(session_factory, store, archive_id)

    outcome = expand_archive(session_factory, store, archive_id)

    assert not outcome.rejected
    assert len(outcome.created_ids) == 2
    files = _files(session_factory, submission_id)
    pdf, dxf, archive = files["图纸.zip/建筑/建施-01.pdf"], files[f"图纸.zip/{GBK_NAME}"], files["图纸.zip"]
    assert archive.status == EXPANDED
    codes = {finding["code"] for finding in archive.findings["intake"]}
    assert codes == {"ARCHIVE_NAMES_GBK", "ARCHIVE_MEMBERS_SKIPPED"}
    assert [m["name"] for m in archive.findings["archive"]["members"]] == ["建筑/建施-01.pdf", GBK_NAME]
    for child, kind in ((pdf, "pdf"), (dxf, "dxf")):
        assert child.status == "stored"
        assert child.findings == {
            "kind": kind,
            "archive": {"drawing_file_id": archive_id, "member": child.original_name[7:]},
        }
        with store.open(child.object_key) as stream:
            assert stream.read() == (PDF if kind == "pdf" else DXF)
    assert store.stat(dxf.object_key).content_type == "image/vnd.dxf"
    with session_factory() as session:
        runs = session.scalars(select(TaskRun).where(TaskRun.object_type == "drawing_file")).all()
        queued = sorted((run.name, run.arguments["drawing_file_id"]) for run in runs)
        assert queued == sorted(
            (name, child.id) for child in (pdf, dxf) for name in (VERIFY_DRAWING_FILE, PROCESS_DRAWING_FILE)
        )
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("drawing_file.extracted") == 2
        assert actions.count("drawing_file.expanded") == 1

    # A member is an ordinary original from here on: its sheets come out of the usual pipeline.
    split = process_drawing_file(session_factory, store, pdf.id)
    assert len(split.revision_ids) == 2
    with session_factory() as session:
        numbers = session.scalars(select(Sheet.number).where(Sheet.submission_id == submission_id)).all()
        assert sorted(numbers) == ["建施-01", "建施-02"]


def test_expanding_twice_creates_nothing_twice(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    archive_id = upload_original(session_factory, store, submission_id, _designer_zip(), "图纸.zip", "application/zip")
    expand_archive(session_factory, store, archive_id)
    before = (_count(session_factory, DrawingFile), _count(session_factory, TaskRun), _originals(store))

    again = expand_archive(session_factory, store, archive_id)

    assert again.created_ids == ()
    assert not again.rejected
    assert (_count(session_factory, DrawingFile), _count(session_factory, TaskRun), _originals(store)) == before


def test_a_member_already_in_the_submission_is_a_duplicate(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    earlier = upload_original(session_factory, store, submission_id, PDF, "建施.pdf")
    data = raw_zip(
        stored("建施-01.pdf", PDF),
        stored("副本/建施-01.pdf", PDF),
        stored("结施.dxf", layout_dxf("结施-01")),
    )
    archive_id = upload_original(session_factory, store, submission_id, data, "图纸.zip", "application/zip")

    outcome = expand_archive(session_factory, store, archive_id)

    assert outcome.duplicate_ids == (earlier, earlier)
    assert len(outcome.created_ids) == 1
    archive = _files(session_factory, submission_id)["图纸.zip"]
    duplicate = next(f for f in archive.findings["intake"] if f["code"] == "ARCHIVE_MEMBER_DUPLICATE")
    assert "副本/建施-01.pdf" in duplicate["zh"]
    assert set(_files(session_factory, submission_id)) == {"建施.pdf", "图纸.zip", "图纸.zip/结施.dxf"}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (raw_zip(stored("建施-01.pdf", b"%PDF-1.7\n"), stored("../evil.pdf", b"%PDF-1.7\n")), "ARCHIVE_UNSAFE_PATH"),
        (raw_zip(stored("/etc/evil.pdf", b"%PDF-1.7\n")), "ARCHIVE_UNSAFE_PATH"),
        (raw_zip(stored("a.pdf", b"%PDF-1.7\n", flags=0x1)), "ARCHIVE_ENCRYPTED"),
        # The last member is damaged: the good one before it must not be stored either.
        (
            raw_zip(
                stored("建施-01.pdf", title_block_pdf()),
                RawEntry(b"b.pdf", b"%PDF-1.7\nxx", 11, zlib.crc32(b"%PDF-1.7\nyy")),
            ),
            "ARCHIVE_CRC_MISMATCH",
        ),
    ],
    ids=["traversal", "absolute", "encrypted", "crc"],
)
def test_a_hostile_archive_is_rejected_and_nothing_is_made(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int, data: bytes, code: str
) -> None:
    archive_id = upload_original(session_factory, store, submission_id, data, "图纸.zip", "application/zip")
    originals = _originals(store)

    outcome = expand_archive(session_factory, store, archive_id)

    assert outcome.rejected
    archive = _files(session_factory, submission_id)["图纸.zip"]
    assert archive.status == "rejected"
    [finding] = archive.findings["intake"]
    assert finding["code"] == code
    assert finding["zh"]
    assert finding["en"]
    assert set(_files(session_factory, submission_id)) == {"图纸.zip"}
    assert _originals(store) == originals
    assert _count(session_factory, TaskRun) == 0
    assert expand_archive(session_factory, store, archive_id).rejected


def test_a_zip_bomb_is_rejected(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("建施-01.pdf", b"%PDF-1.7\n" + bytes(64 * 1024**2))
    archive_id = upload_original(
        session_factory, store, submission_id, buffer.getvalue(), "图纸.zip", "application/zip"
    )

    outcome = expand_archive(session_factory, store, archive_id)

    assert outcome.rejected
    [finding] = _files(session_factory, submission_id)["图纸.zip"].findings["intake"]
    assert finding["code"] == "ARCHIVE_RATIO"


def test_a_plain_drawing_is_not_an_archive(
    session_factory: sessionmaker[Session], store: LocalBlobStore, submission_id: int
) -> None:
    pdf_id = upload_original(session_factory, store, submission_id, title_block_pdf(), "建施.pdf")
    assert not holds_archive(session_factory, store, pdf_id)


def test_an_uploaded_archive_is_expanded_by_the_worker(worker_environment: WorkerEnvironment) -> None:
    env = worker_environment
    with transaction(env.sessions) as session:
        designer, submission_id = designer_and_submission(session, "JC-2026-0302")
        data = raw_zip(stored("建筑/建施-01.pdf", title_block_pdf((("建施-01", "一层平面图"),))))
        added = add_original(
            session,
            env.platform.store,
            designer,
            submission_id,
            io.BytesIO(data),
            file_name="图纸.zip",
            max_bytes=10**8,
        )
        archive_id = added.drawing_file.id
    env.start_worker()

    def split_member() -> DrawingFile | None:
        with env.sessions() as session:
            member = session.scalar(select(DrawingFile).where(DrawingFile.original_name == "图纸.zip/建筑/建施-01.pdf"))
            return member if member is not None and member.status == "split" else None

    member = wait_for(split_member, timeout=60, what="the archive's PDF to be split into sheets")
    with env.sessions() as session:
        archive = session.get_one(DrawingFile, archive_id)
        assert archive.status == EXPANDED
        runs = session.scalars(select(TaskRun).where(TaskRun.name == PROCESS_DRAWING_FILE)).all()
        by_file = {run.object_id: run for run in runs}
        assert by_file[str(archive_id)].state is TaskState.SUCCEEDED
        assert "1" in by_file[str(archive_id)].message
        assert by_file[str(member.id)].state is TaskState.SUCCEEDED
        numbers = session.scalars(select(Sheet.number).where(Sheet.submission_id == submission_id)).all()
        assert numbers == ["建施-01"]
