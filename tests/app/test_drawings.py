"""Adding originals: stored first, recorded second; a dead store leaves no row pointing at nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.drawings import add_original, clean_file_name
from app.errors import Conflict, Invalid, NotFound, ServiceUnavailable
from app.identity.accounts import check_new_user, create_organization, insert_user
from app.identity.principal import Principal, principal_from_user
from app.tasks.jobs import VERIFY_DRAWING_FILE
from app.tracks import ensure_tracks
from storage.blobstore import LocalBlobStore, S3BlobStore
from storage.models import (
    AuditEvent,
    DrawingFile,
    Organization,
    OrgKind,
    Project,
    Role,
    Submission,
    SubmissionState,
    TaskRun,
)

# Accounts are made with a fixed hash: hashing a password is deliberately slow and not under test here.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"


def _account(session: Session, organization: Organization, username: str) -> Principal:
    new = check_new_user(session, organization, username, username, [(Role.DESIGNER, None)])
    return principal_from_user(insert_user(session, organization, new, PASSWORD_HASH))


def _pdf(text: str = "建施-01") -> bytes:
    document = pymupdf.open()
    document.new_page().insert_text((72, 72), text)
    return document.tobytes()


@pytest.fixture
def designer(session: Session) -> Principal:
    ensure_tracks(session)
    institute = create_organization(session, "测试设计院", OrgKind.DESIGN_INSTITUTE)
    return _account(session, institute, "d.wang")


@pytest.fixture
def submission(session: Session, designer: Principal) -> Submission:
    project = Project(organization_id=designer.organization_id, code="JC-2026-0001", name="滨江小学")
    session.add(project)
    session.flush()
    draft = Submission(project_id=project.id)
    session.add(draft)
    session.flush()
    return draft


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects")


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_upload_stores_the_original_then_records_it(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    content = _pdf()
    added = add_original(
        session,
        store,
        designer,
        submission.id,
        io.BytesIO(content),
        file_name="C:\\图纸\\建施-01 平面图.pdf",
        max_bytes=10**6,
    )
    row = added.drawing_file
    assert not added.duplicate
    assert row.original_name == "建施-01 平面图.pdf"
    assert row.media_type == "application/pdf"
    assert row.size == len(content)
    with store.open(row.object_key) as stored:
        assert stored.read() == content
    assert _count(session, AuditEvent) >= 1
    run = session.scalars(select(TaskRun).where(TaskRun.name == VERIFY_DRAWING_FILE)).one()
    assert run.arguments == {"drawing_file_id": row.id}


def test_the_same_file_twice_is_recognised(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    content = _pdf()
    first = add_original(
        session, store, designer, submission.id, io.BytesIO(content), file_name="a.pdf", max_bytes=10**6
    )
    again = add_original(
        session, store, designer, submission.id, io.BytesIO(content), file_name="b.pdf", max_bytes=10**6
    )
    assert again.duplicate
    assert again.drawing_file.id == first.drawing_file.id
    assert _count(session, DrawingFile) == 1
    assert len(list(store.iter_keys("originals/"))) == 1


@pytest.mark.parametrize(
    ("content", "zh_fragment"),
    [
        (b"AC1032\x00\x00\x00 dwg body", "DWG"),
        (b"<html><script>alert(1)</script></html>", "无法识别"),
        (b"", "无法识别"),
    ],
)
def test_refused_kinds_store_nothing(
    session: Session,
    store: LocalBlobStore,
    designer: Principal,
    submission: Submission,
    content: bytes,
    zh_fragment: str,
) -> None:
    with pytest.raises(Invalid) as caught:
        add_original(session, store, designer, submission.id, io.BytesIO(content), file_name="x.pdf", max_bytes=10**6)
    assert zh_fragment in caught.value.zh
    assert caught.value.en
    assert _count(session, DrawingFile) == 0
    assert list(store.iter_keys("originals/")) == []


def test_a_file_over_the_limit_is_refused_and_nothing_remains(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    content = _pdf() + b"%" * 200_000
    with pytest.raises(Invalid) as caught:
        add_original(
            session, store, designer, submission.id, io.BytesIO(content), file_name="big.pdf", max_bytes=100_000
        )
    assert "大小上限" in caught.value.zh
    assert _count(session, DrawingFile) == 0
    assert list(store.iter_keys("")) == []


@pytest.mark.s3
def test_a_dead_store_answers_unavailable_and_no_row_points_at_nothing(
    session: Session, designer: Principal, submission: Submission, dead_s3_endpoint: str
) -> None:
    dead = S3BlobStore(
        endpoint=dead_s3_endpoint,
        access_key="ak",
        secret_key="sk" * 8,
        bucket="liantu",
        secure=False,
        region="us-east-1",
        multipart_threshold=8 * 1024**2,
    )
    with pytest.raises(ServiceUnavailable) as caught:
        add_original(session, dead, designer, submission.id, io.BytesIO(_pdf()), file_name="a.pdf", max_bytes=10**6)
    assert "存储" in caught.value.zh
    assert _count(session, DrawingFile) == 0
    assert _count(session, TaskRun) == 0


def test_files_cannot_be_added_once_submitted(
    session: Session, store: LocalBlobStore, designer: Principal, submission: Submission
) -> None:
    submission.state = SubmissionState.SUBMITTED
    session.flush()
    with pytest.raises(Conflict):
        add_original(session, store, designer, submission.id, io.BytesIO(_pdf()), file_name="a.pdf", max_bytes=10**6)
    assert list(store.iter_keys("")) == []


def test_another_institute_cannot_learn_the_submission_exists(
    session: Session, store: LocalBlobStore, submission: Submission
) -> None:
    other = create_organization(session, "另一设计院", OrgKind.DESIGN_INSTITUTE)
    stranger = _account(session, other, "x.li")
    with pytest.raises(NotFound):
        add_original(session, store, stranger, submission.id, io.BytesIO(_pdf()), file_name="a.pdf", max_bytes=10**6)
    assert list(store.iter_keys("")) == []


@pytest.mark.parametrize("name", ["", "..", "/", "\x00\x01"])
def test_meaningless_file_names_are_refused(name: str) -> None:
    with pytest.raises(Invalid):
        clean_file_name(name)
