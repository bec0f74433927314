"""Use case: a designer adds an original drawing file to a submission (一窗受理, the storage half).

The order of work is what keeps the database honest: the bytes are streamed into the object store
first (content-addressed by the SHA-256 computed while streaming); only when the store has them is
the ``DrawingFile`` row inserted, with its audit event, and the verification job is sent after the
commit. If the store is down the request fails with :class:`~app.errors.ServiceUnavailable` and no
row points at a missing object. Originals are never overwritten: the same content is the same key.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, policy
from app.errors import Conflict, Invalid, NotFound, ServiceUnavailable
from app.identity.principal import Principal
from app.intake.tasks import queue_new_original
from app.policy import Action
from review.filetypes import SNIFF_BYTES, FileKind, sniff
from storage.blobstore import BlobStore
from storage.blobstore.base import Readable
from storage.errors import IntegrityMismatch, StoreUnavailable
from storage.models import DrawingFile, Submission, SubmissionState

UPLOAD_STATES = frozenset({SubmissionState.DRAFT, SubmissionState.RETURNED, SubmissionState.REVISING})
"""A designer may add files while the submission is in their hands."""

ACCEPTED_KINDS = frozenset({FileKind.PDF, FileKind.DXF_ASCII, FileKind.DXF_BINARY, FileKind.ZIP})

MAX_NAME_LENGTH = 255


class UploadTooLarge(Invalid):
    """The file is larger than ``LIANTU_MAX_UPLOAD_BYTES``."""


@dataclass(frozen=True)
class AddedFile:
    """The outcome of an upload."""

    drawing_file: DrawingFile
    """The stored file's row (new, or the one already holding the same content)."""
    duplicate: bool
    """True when this submission already had a file with the same SHA-256; nothing new was stored."""


class _LimitedReader:
    """Reads a stream, remembering its first bytes for sniffing and stopping past ``limit`` bytes."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._count = 0
        self._head = b""
        self._pending = b""

    def head(self) -> bytes:
        """The first bytes of the stream (read ahead once, then replayed by :meth:`read`)."""
        while len(self._head) < SNIFF_BYTES:
            chunk = self._stream.read(SNIFF_BYTES - len(self._head))
            if not chunk:
                break
            self._head += chunk
        self._pending = self._head
        self._count = len(self._head)
        self._check()
        return self._head

    def read(self, size: int = -1, /) -> bytes:
        if self._pending:
            chunk, self._pending = (self._pending, b"") if size < 0 else (self._pending[:size], self._pending[size:])
            return chunk
        chunk = self._stream.read(size)
        self._count += len(chunk)
        self._check()
        return chunk

    def _check(self) -> None:
        if self._count > self._limit:
            raise UploadTooLarge(
                f"文件超过大小上限（{self._limit // 1024**2} MB）",
                f"the file is larger than the limit of {self._limit // 1024**2} MB",
            )


def clean_file_name(name: str) -> str:
    """Keep the designer's file name (Chinese included) but drop paths and control characters."""
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if not base or base in {".", ".."}:
        raise Invalid("文件名无效", "the file name is not valid")
    return base[:MAX_NAME_LENGTH]


def add_original(
    session: Session,
    store: BlobStore,
    principal: Principal,
    submission_id: int,
    stream: Readable,
    *,
    file_name: str,
    max_bytes: int,
    accept_dwg: bool = False,
) -> AddedFile:
    """Store one uploaded file as an original of the submission and queue its verification.

    ``accept_dwg``: a DWG converter is configured (``LIANTU_ODA_CONVERTER``), so a DWG is stored as it
    is and converted by the intake job; otherwise it is refused with a hint to export DXF or PDF.
    """
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(principal, Action.SUBMIT, submission=submission)
    if submission.state not in UPLOAD_STATES:
        raise Conflict(
            "报审已提交，当前不能上传图纸",
            "the submission is not with the designer now; files cannot be added",
        )
    name = clean_file_name(file_name)

    reader = _LimitedReader(stream, max_bytes)
    sniffed = sniff(reader.head())
    if sniffed.kind is FileKind.DWG and not accept_dwg:
        raise Invalid(
            "暂不接受 DWG 文件：请在 CAD 软件中另存为 DXF（R12–R2018）或打印为 PDF 后上传",
            "DWG files are not accepted: save the drawing as DXF (R12–R2018) or plot it to PDF, then upload",
        )
    if sniffed.kind not in (ACCEPTED_KINDS | {FileKind.DWG} if accept_dwg else ACCEPTED_KINDS):
        raise Invalid(
            f"无法识别的文件：{name}。只接受 PDF、DXF 及其 ZIP 压缩包（按内容判断，而非扩展名）",
            f"unrecognised file: {name}. Only PDF, DXF and ZIP archives of them are accepted (judged by content)",
        )

    try:
        info = store.put_original(reader, content_type=sniffed.media_type)
    except StoreUnavailable as exc:
        raise ServiceUnavailable(
            "文件存储暂时不可用，请稍后重试；本次上传未保存",
            "the file store is unavailable; nothing was saved, please try again later",
        ) from exc
    except IntegrityMismatch as exc:
        raise Invalid(
            "上传不完整或已损坏，请重新上传", "the upload was incomplete or damaged; please upload again"
        ) from exc
    assert info.sha256 is not None  # put_original always hashes what it stores

    existing = session.scalar(
        select(DrawingFile).where(DrawingFile.submission_id == submission.id, DrawingFile.sha256 == info.sha256)
    )
    if existing is not None:
        return AddedFile(drawing_file=existing, duplicate=True)

    current_round = submission.rounds[-1] if submission.rounds else None
    drawing = DrawingFile(
        submission_id=submission.id,
        round_id=current_round.id if current_round else None,
        sha256=info.sha256,
        size=info.size,
        original_name=name,
        media_type=sniffed.media_type,
        object_key=info.key,
        uploaded_by_id=principal.user_id,
        status="stored",
        findings={"kind": sniffed.kind.value},
    )
    session.add(drawing)
    session.flush()
    audit.record(
        session,
        actor_id=principal.user_id,
        actor_name=principal.username,
        action="drawing_file.uploaded",
        object_type="drawing_file",
        object_id=drawing.id,
        summary=f"{name} ({info.size} B, sha256 {info.sha256[:16]}…) → 报审 {submission.id}",
    )
    queue_new_original(session, drawing.id)
    return AddedFile(drawing_file=drawing, duplicate=False)
