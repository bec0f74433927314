"""Resumable uploads (断点续传): a large drawing file arrives in numbered chunks, then becomes one original.

1. :func:`start_upload` opens an :class:`~storage.models.UploadSession` for a file of a declared size.
2. Each chunk is stored as a derived object ``uploads/<upload id>/<index>`` with its SHA-256
   (:func:`chunk_target`, :func:`store_chunk`, :func:`record_chunk`; :func:`put_chunk` does all three).
   Sending a chunk again replaces it, so a client that is unsure simply sends it once more.
3. :func:`upload_status` tells a client that reconnects which chunks the server already has.
4. :func:`complete_upload` joins the chunks in order as one stream into
   :func:`app.drawings.add_original`, which sniffs, hashes and stores the original and records the
   ``DrawingFile``. The declared size and SHA-256 are checked on the way: a mismatch stores nothing.
5. :func:`abort_upload` gives up. Chunk objects are deleted after the commit (:func:`discard_objects`).

The chunk steps are split so that a web handler holds no database transaction while bytes
stream into the object store: it checks in one short transaction, streams, and records in another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from app import audit, policy
from app.drawings import UPLOAD_STATES, AddedFile, UploadTooLarge, add_original, clean_file_name
from app.errors import Conflict, Invalid, NotFound, ServiceUnavailable
from app.identity.principal import Principal
from app.policy import Action
from storage.blobstore import BlobStore
from storage.blobstore.base import BlobInfo, Readable
from storage.errors import IntegrityMismatch, StorageError, StoreUnavailable
from storage.models import Submission, UploadChunk, UploadSession, UploadState, utcnow

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
MIN_CHUNK_SIZE = 1024
MAX_CHUNK_SIZE = 64 * 1024 * 1024
MAX_CHUNKS = 10_000
UPLOAD_LIFETIME = dt.timedelta(days=7)
CHUNK_PREFIX = "uploads/"
CHUNK_MEDIA_TYPE = "application/octet-stream"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class UploadStatus:
    """What a client needs to resume an upload."""

    upload_id: str
    """Identifier of the upload session."""
    submission_id: int
    """The submission the file goes to."""
    file_name: str
    """Cleaned file name."""
    size: int
    """Declared size in bytes."""
    chunk_size: int
    """Bytes per chunk (the last one may be shorter)."""
    chunk_count: int
    """How many chunks make the file."""
    received: tuple[int, ...]
    """Indexes of the chunks the server holds, ascending."""
    state: UploadState
    """open, completed or aborted."""
    drawing_file_id: int | None
    """The resulting drawing file once completed."""


@dataclass(frozen=True)
class ChunkTarget:
    """Where one chunk goes and how long it must be (checked before any byte is stored)."""

    upload_id: str
    index: int
    key: str
    """Object key of the chunk."""
    expected_size: int
    """Exact length the chunk must have."""


@dataclass(frozen=True)
class Completed:
    """The outcome of joining an upload."""

    added: AddedFile
    """The drawing file (new or already present) and whether it was a duplicate."""
    leftovers: tuple[str, ...]
    """Chunk objects to delete once the transaction is committed."""


def chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def chunk_key(upload_id: str, index: int) -> str:
    return f"{CHUNK_PREFIX}{upload_id}/{index}"


def start_upload(
    session: Session,
    principal: Principal,
    submission_id: int,
    *,
    file_name: str,
    size: int,
    max_bytes: int,
    chunk_size: int | None = None,
    sha256: str | None = None,
) -> UploadSession:
    """开始上传: open a resumable upload of one file to a submission the designer still holds."""
    submission = _writable_submission(session, principal, submission_id)
    name = clean_file_name(file_name)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise Invalid("文件大小无效（不能为空文件）", "the file size is not valid (empty files are not accepted)")
    if size > max_bytes:
        raise UploadTooLarge(
            f"文件超过大小上限（{max_bytes // 1024**2} MB）",
            f"the file is larger than the limit of {max_bytes // 1024**2} MB",
        )
    chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise Invalid("分块大小无效", "the chunk size is not valid")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE or chunk_count(size, chunk_size) > MAX_CHUNKS:
        raise Invalid(
            f"分块大小应在 {MIN_CHUNK_SIZE} 到 {MAX_CHUNK_SIZE} 字节之间，且分块数不超过 {MAX_CHUNKS}",
            f"the chunk size must be {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} bytes, in at most {MAX_CHUNKS} chunks",
        )
    upload = UploadSession(
        id=uuid.uuid4().hex,
        submission_id=submission.id,
        user_id=principal.user_id,
        file_name=name,
        size=size,
        chunk_size=chunk_size,
        sha256=_sha256_or_none(sha256, "文件", "file"),
        state=UploadState.OPEN,
        expires_at=utcnow() + UPLOAD_LIFETIME,
    )
    session.add(upload)
    session.flush()
    return upload


def upload_status(session: Session, principal: Principal, upload_id: str) -> UploadStatus:
    """上传进度: which chunks the server holds."""
    return status_of(_load(session, principal, upload_id))


def status_of(upload: UploadSession) -> UploadStatus:
    return UploadStatus(
        upload_id=upload.id,
        submission_id=upload.submission_id,
        file_name=upload.file_name,
        size=upload.size,
        chunk_size=upload.chunk_size,
        chunk_count=chunk_count(upload.size, upload.chunk_size),
        received=tuple(sorted(chunk.index for chunk in upload.chunks)),
        state=upload.state,
        drawing_file_id=upload.drawing_file_id,
    )


def chunk_target(session: Session, principal: Principal, upload_id: str, index: int) -> ChunkTarget:
    """Check that chunk ``index`` may be sent now and say where it goes."""
    upload = _open_upload(session, principal, upload_id)
    count = chunk_count(upload.size, upload.chunk_size)
    if not 0 <= index < count:
        raise Invalid(f"分块序号应在 0 到 {count - 1} 之间", f"the chunk index must be 0 to {count - 1}")
    expected = upload.chunk_size if index < count - 1 else upload.size - upload.chunk_size * (count - 1)
    return ChunkTarget(upload_id=upload.id, index=index, key=chunk_key(upload.id, index), expected_size=expected)


def store_chunk(store: BlobStore, target: ChunkTarget, stream: Readable, *, sha256: str | None = None) -> BlobInfo:
    """Stream one chunk into the store (no database work): wrong length or hash stores nothing."""
    expected = _sha256_or_none(sha256, "分块", "chunk")
    try:
        return store.put_stream(
            target.key,
            stream,
            content_type=CHUNK_MEDIA_TYPE,
            expected_size=target.expected_size,
            expected_sha256=expected,
        )
    except StoreUnavailable as exc:
        raise _store_down() from exc
    except IntegrityMismatch as exc:
        raise Invalid(
            f"分块 {target.index} 的长度或 SHA-256 与声明不符，未保存，请重新发送",
            f"chunk {target.index} does not match its declared length or SHA-256; it was not kept, send it again",
        ) from exc


def record_chunk(session: Session, principal: Principal, target: ChunkTarget, info: BlobInfo) -> UploadChunk:
    """Record a stored chunk; sending the same chunk again replaces the record."""
    upload = _open_upload(session, principal, target.upload_id)
    assert info.sha256 is not None  # put_stream always hashes what it stores
    chunk = session.get(UploadChunk, (upload.id, target.index))
    if chunk is None:
        chunk = UploadChunk(
            upload_id=upload.id, index=target.index, size=info.size, sha256=info.sha256, object_key=info.key
        )
        upload.chunks.append(chunk)  # keeps a collection loaded earlier in this session current
    else:
        chunk.size, chunk.sha256, chunk.object_key = info.size, info.sha256, info.key
    session.flush()
    return chunk


def put_chunk(
    session: Session,
    store: BlobStore,
    principal: Principal,
    upload_id: str,
    stream: Readable,
    *,
    index: int,
    sha256: str | None = None,
) -> UploadChunk:
    """接收分块: check, store and record one chunk in one go (scripts and tests)."""
    target = chunk_target(session, principal, upload_id, index)
    info = store_chunk(store, target, stream, sha256=sha256)
    return record_chunk(session, principal, target, info)


def complete_upload(
    session: Session,
    store: BlobStore,
    principal: Principal,
    upload_id: str,
    *,
    max_bytes: int,
    accept_dwg: bool = False,
) -> Completed:
    """完成上传: join the chunks in order into one original of the submission.

    Every chunk must be present (else ``Conflict``); their sizes must add up to the declared size
    and the whole must have the declared SHA-256 (else ``Invalid``, and no drawing file).
    """
    upload = _open_upload(session, principal, upload_id)
    chunks = sorted(upload.chunks, key=lambda chunk: chunk.index)
    count = chunk_count(upload.size, upload.chunk_size)
    missing = sorted(set(range(count)) - {chunk.index for chunk in chunks})
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + ("…" if len(missing) > 20 else "")
        raise Conflict(f"尚缺分块：{shown}", f"chunks still missing: {shown}")
    if sum(chunk.size for chunk in chunks) != upload.size:
        raise Invalid("各分块大小之和与文件大小不符", "the chunks do not add up to the declared file size")
    joined = JoinedChunks(store, [chunk.object_key for chunk in chunks], size=upload.size, sha256=upload.sha256)
    try:
        added = add_original(
            session,
            store,
            principal,
            upload.submission_id,
            joined,
            file_name=upload.file_name,
            max_bytes=max_bytes,
            accept_dwg=accept_dwg,
        )
    finally:
        joined.close()
    leftovers = tuple(chunk.object_key for chunk in chunks)
    upload.chunks.clear()
    upload.state = UploadState.COMPLETED
    upload.drawing_file_id = added.drawing_file.id
    session.flush()
    return Completed(added=added, leftovers=leftovers)


def abort_upload(session: Session, principal: Principal, upload_id: str) -> tuple[str, ...]:
    """放弃上传: close an open upload; returns the chunk objects to delete after the commit."""
    upload = _open_upload(session, principal, upload_id, allow_expired=True)
    leftovers = tuple(chunk.object_key for chunk in upload.chunks)
    upload.chunks.clear()
    upload.state = UploadState.ABORTED
    session.flush()
    audit.record(
        session,
        actor_id=principal.user_id,
        actor_name=principal.username,
        action="upload.aborted",
        object_type="submission",
        object_id=upload.submission_id,
        summary=f"放弃上传 {upload.file_name}（{len(leftovers)} 个分块）",
    )
    return leftovers


def discard_objects(store: BlobStore, keys: Iterable[str]) -> int:
    """Delete chunk objects, best effort (a leftover is only wasted space); returns how many went."""
    deleted = 0
    for key in keys:
        with contextlib.suppress(StorageError):
            store.delete(key)
            deleted += 1
    return deleted


class JoinedChunks:
    """The chunks of an upload read as one stream, one object open at a time.

    At the end it checks the total length and, when declared, the SHA-256 of the whole; a
    mismatch raises :class:`~storage.errors.IntegrityMismatch` before the consumer sees the end,
    so the store keeps nothing.
    """

    def __init__(self, store: BlobStore, keys: Sequence[str], *, size: int, sha256: str | None) -> None:
        self._store = store
        self._keys = list(keys)
        self._size = size
        self._sha256 = sha256
        self._hash = hashlib.sha256()
        self._count = 0
        self._current: BinaryIO | None = None
        self._next = 0

    def read(self, size: int = -1, /) -> bytes:
        while True:
            if self._current is None:
                if self._next >= len(self._keys):
                    self._finish()
                    return b""
                try:
                    self._current = self._store.open(self._keys[self._next])
                except StoreUnavailable as exc:
                    raise _store_down() from exc
                self._next += 1
            data = self._current.read(size)
            if data:
                self._hash.update(data)
                self._count += len(data)
                return data
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def _finish(self) -> None:
        if self._count != self._size:
            raise IntegrityMismatch(f"大小不符 / size mismatch: declared {self._size}, joined {self._count}")
        if self._sha256 is not None and self._hash.hexdigest() != self._sha256:
            raise IntegrityMismatch(
                f"SHA-256 不符 / SHA-256 mismatch: declared {self._sha256}, joined {self._hash.hexdigest()}"
            )


# Helpers ---------------------------------------------------------------------------------------


def _writable_submission(session: Session, principal: Principal, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("没有该报审", "no such submission")
    policy.require(principal, Action.SUBMIT, submission=submission)
    if submission.state not in UPLOAD_STATES:
        raise Conflict(
            "报审已提交，当前不能上传图纸",
            "the submission is not with the designer now; files cannot be added",
        )
    return submission


def _load(session: Session, principal: Principal, upload_id: str) -> UploadSession:
    upload = session.get(UploadSession, upload_id) if _is_upload_id(upload_id) else None
    if upload is None:
        raise NotFound("没有该上传任务", "no such upload")
    submission = session.get(Submission, upload.submission_id)
    assert submission is not None  # a foreign key
    if not policy.can(principal, Action.SUBMIT, submission=submission):
        raise NotFound("没有该上传任务", "no such upload")
    return upload


def _open_upload(
    session: Session, principal: Principal, upload_id: str, *, allow_expired: bool = False
) -> UploadSession:
    upload = _load(session, principal, upload_id)
    if upload.state is not UploadState.OPEN:
        raise Conflict(
            "该上传已完成或已放弃，请重新选择文件上传",
            "this upload was already completed or given up; choose the file again",
        )
    expires = upload.expires_at if upload.expires_at.tzinfo else upload.expires_at.replace(tzinfo=dt.UTC)
    if not allow_expired and expires < utcnow():
        raise Conflict("该上传已过期，请重新上传", "this upload has expired; please upload the file again")
    _writable_submission(session, principal, upload.submission_id)
    return upload


def _is_upload_id(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{32}", value))


def _sha256_or_none(value: str | None, zh: str, en: str) -> str | None:
    if value is None or value == "":
        return None
    digest = str(value).strip().lower()
    if not _SHA256.fullmatch(digest):
        raise Invalid(f"{zh}的 SHA-256 格式无效", f"the {en} SHA-256 is not 64 hexadecimal digits")
    return digest


def _store_down() -> ServiceUnavailable:
    return ServiceUnavailable(
        "文件存储暂时不可用，请稍后重试；本次上传未保存",
        "the file store is unavailable; nothing was saved, please try again later",
    )
