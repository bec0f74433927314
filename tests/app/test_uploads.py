"""Resumable uploads as use cases, on SQLite and PostgreSQL: chunks in any order, joined into one original."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import pymupdf
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import uploads
from app.drawings import UploadTooLarge
from app.errors import Conflict, Invalid, NotFound
from app.identity.accounts import create_organization
from app.identity.principal import Principal
from app.projects import create_project, open_submission, parse_project
from app.tracks import ensure_tracks
from storage.blobstore import LocalBlobStore
from storage.models import DrawingFile, OrgKind, Role, Submission, SubmissionState, UploadChunk, UploadState
from tests.app.test_projects import FORM, account

CHUNK = 2048
LIMIT = 10**7


def pdf_bytes() -> bytes:
    document = pymupdf.open()
    for number in range(2):
        page = document.new_page()
        page.insert_text((72, 72), f"建施-0{number}")
        for step in range(40):
            page.draw_line((40, 90 + step * 12), (520, 100 + step * 11))
    return document.tobytes()


@pytest.fixture
def designer(session: Session) -> Principal:
    ensure_tracks(session)
    institute = create_organization(session, "江城建筑设计院", OrgKind.DESIGN_INSTITUTE)
    return account(session, institute, "d.li", Role.DESIGNER)


@pytest.fixture
def submission(session: Session, designer: Principal) -> Submission:
    project = create_project(session, designer, parse_project(FORM))
    return open_submission(session, designer, project.id)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


def pieces(content: bytes) -> list[bytes]:
    return [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)]


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def start(session: Session, who: Principal, submission: Submission, content: bytes, **extra: object):  # type: ignore[no-untyped-def]
    return uploads.start_upload(
        session,
        who,
        submission.id,
        file_name="建施-01.pdf",
        size=len(content),
        chunk_size=CHUNK,
        max_bytes=LIMIT,
        **extra,
    )


def test_chunks_in_any_order_join_into_one_original(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    content = pdf_bytes()
    parts = pieces(content)
    upload = start(session, designer, submission, content, sha256=hashlib.sha256(content).hexdigest().upper())
    for index in [2, 0, *range(len(parts) - 1, 0, -1)]:
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[index]), index=index)
    status = uploads.upload_status(session, designer, upload.id)
    assert status.received == tuple(range(len(parts)))
    assert count(session, UploadChunk) == len(parts)

    done = uploads.complete_upload(session, store, designer, upload.id, max_bytes=LIMIT)
    drawing = done.added.drawing_file
    assert drawing.sha256 == hashlib.sha256(content).hexdigest()
    assert drawing.size == len(content)
    assert drawing.original_name == "建施-01.pdf"
    with store.open(drawing.object_key) as stored:
        assert stored.read() == content
    assert len(done.leftovers) == len(parts)
    assert uploads.discard_objects(store, done.leftovers) == len(parts)
    assert list(store.iter_keys("uploads/")) == []
    assert count(session, UploadChunk) == 0
    assert upload.state is UploadState.COMPLETED
    assert upload.drawing_file_id == drawing.id
    with pytest.raises(Conflict):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0]), index=0)


def test_a_chunk_is_checked_before_it_is_recorded(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    content = pdf_bytes()
    parts = pieces(content)
    upload = start(session, designer, submission, content)
    with pytest.raises(Invalid):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0]), index=0, sha256="1" * 64)
    with pytest.raises(Invalid):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0][:-1]), index=0)
    with pytest.raises(Invalid):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0]), index=len(parts))
    with pytest.raises(Invalid):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0]), index=0, sha256="not-a-hash")
    assert count(session, UploadChunk) == 0
    assert list(store.iter_keys("uploads/")) == []

    good = hashlib.sha256(parts[0]).hexdigest()
    first = uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0]), index=0, sha256=good)
    again = uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[0]), index=0, sha256=good)
    assert first is again
    assert again.sha256 == good
    assert count(session, UploadChunk) == 1


def test_missing_chunks_and_a_wrong_declared_hash_store_nothing(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    content = pdf_bytes()
    parts = pieces(content)
    upload = start(session, designer, submission, content, sha256="0" * 64)
    for index, part in enumerate(parts[:-1]):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(part), index=index)
    with pytest.raises(Conflict) as missing:
        uploads.complete_upload(session, store, designer, upload.id, max_bytes=LIMIT)
    assert str(len(parts) - 1) in missing.value.en
    uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(parts[-1]), index=len(parts) - 1)
    with pytest.raises(Invalid):
        uploads.complete_upload(session, store, designer, upload.id, max_bytes=LIMIT)
    assert count(session, DrawingFile) == 0
    assert list(store.iter_keys("originals/")) == []


def test_what_may_not_be_started(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    with pytest.raises(UploadTooLarge):
        start(session, designer, submission, b"x" * (LIMIT + 1))
    with pytest.raises(Invalid):
        start(session, designer, submission, b"")
    with pytest.raises(Invalid):
        uploads.start_upload(
            session, designer, submission.id, file_name="a.pdf", size=10, chunk_size=10, max_bytes=LIMIT
        )
    with pytest.raises(Invalid):
        uploads.start_upload(session, designer, submission.id, file_name="..", size=10, max_bytes=LIMIT)

    rival = account(session, create_organization(session, "别家设计院", OrgKind.DESIGN_INSTITUTE), "d.x", Role.DESIGNER)
    with pytest.raises(NotFound):
        start(session, rival, submission, b"x" * 10)
    upload = start(session, designer, submission, b"x" * 10)
    with pytest.raises(NotFound):
        uploads.upload_status(session, rival, upload.id)
    with pytest.raises(NotFound):
        uploads.upload_status(session, designer, "../../etc")

    submission.state = SubmissionState.SUBMITTED
    session.flush()
    with pytest.raises(Conflict):
        start(session, designer, submission, b"x" * 10)
    with pytest.raises(Conflict):
        uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(b"x" * 10), index=0)


def test_abort_and_expiry(session: Session, store: LocalBlobStore, designer: Principal, submission: Submission) -> None:
    content = pdf_bytes()
    upload = start(session, designer, submission, content)
    uploads.put_chunk(session, store, designer, upload.id, io.BytesIO(pieces(content)[0]), index=0)
    leftovers = uploads.abort_upload(session, designer, upload.id)
    assert leftovers == (uploads.chunk_key(upload.id, 0),)
    uploads.discard_objects(store, leftovers)
    assert list(store.iter_keys("uploads/")) == []
    assert upload.state is UploadState.ABORTED
    with pytest.raises(Conflict):
        uploads.complete_upload(session, store, designer, upload.id, max_bytes=LIMIT)

    stale = start(session, designer, submission, content)
    stale.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    session.flush()
    with pytest.raises(Conflict) as expired:
        uploads.put_chunk(session, store, designer, stale.id, io.BytesIO(pieces(content)[0]), index=0)
    assert "expired" in expired.value.en
