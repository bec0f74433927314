"""The object store contract (对象存储): what every backend promises, and the rules for keys.

Keys are ``/``-separated paths of UTF-8 text. Originals (原始文件) live under ``originals/`` and are
keyed by their SHA-256; they are written once and never deleted through this API. Everything else
(sheet PDFs, tiles, thumbnails) is a derived artefact that can be rebuilt, overwritten and deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import quote

from storage.errors import IntegrityMismatch, StorageError

ORIGINALS_PREFIX = "originals/"
"""Keys under this prefix hold uploaded originals, named by their SHA-256."""

RESERVED_PREFIX = ".liantu/"
"""Keys under this prefix belong to the backends themselves (temporary uploads, metadata)."""

TEMPORARY_PREFIX = RESERVED_PREFIX + "tmp/"

CHUNK_SIZE = 1024 * 1024
"""Bytes moved per read or write when streaming."""

MAX_KEY_BYTES = 1024
"""S3's limit on the length of a key, applied to every backend so that keys move between them."""

MAX_URL_SECONDS = 7 * 24 * 3600
"""S3's limit on the lifetime of a presigned URL."""

_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\\]")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ORIGINAL_KEY = re.compile(r"originals/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class InvalidKey(StorageError, ValueError):
    """A key that is empty, too long, escapes its folder or uses a reserved name."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"对象键无效 / invalid object key {key!r}: {reason}")
        self.key = key


class OriginalImmutable(StorageError, PermissionError):
    """Originals are written once by ``put_original`` and never overwritten or deleted here."""

    def __init__(self, key: str) -> None:
        super().__init__(f"原始文件不可修改或删除 / originals cannot be overwritten or deleted: {key!r}")
        self.key = key


class Readable(Protocol):
    """Anything with ``read(size) -> bytes``: a file, an upload, a response body."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about one object."""

    key: str
    """Where the object lives."""

    size: int
    """Length in bytes."""

    sha256: str | None
    """Lower-case hex SHA-256 of the content, or None where the backend did not record it.

    Writes always return it. ``stat`` may lack it for S3 objects sent in parts without an expected
    hash (the metadata travels before the last byte); originals always have it, in their key.
    """

    content_type: str
    """Media type given when the object was stored."""

    etag: str
    """Opaque version tag (changes when the content changes); without quotes."""

    last_modified: datetime
    """When the object was last written (timezone-aware, UTC)."""


@runtime_checkable
class BlobStore(Protocol):
    """Object storage for originals and derived artefacts (local folder or S3)."""

    @property
    def reads_without_blocking(self) -> bool:
        """Whether reading a small object costs about as little as handing the read to a worker thread.

        True where objects are local files (read from the page cache, no network round trip): an async
        caller may then read small objects in place. False where a read waits on the network.
        """
        ...

    def put_stream(
        self,
        key: str,
        stream: Readable,
        *,
        content_type: str,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> BlobInfo:
        """Store the stream under ``key`` (not under ``originals/``), reading it once in chunks.

        Size and SHA-256 are computed while streaming. When either differs from what was expected,
        :class:`~storage.errors.IntegrityMismatch` is raised and ``key`` is left as it was before.
        """
        ...

    def put_original(self, stream: Readable, *, content_type: str, expected_sha256: str | None = None) -> BlobInfo:
        """Store an uploaded original under :func:`original_key` of its SHA-256 (上传原件).

        The same content stored twice yields the same key and one object: an existing original is
        never rewritten, and the returned info then describes the stored object.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object, to be closed after use (a context manager)."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from offset ``start``; fewer at the end, empty beyond it."""
        ...

    def stat(self, key: str) -> BlobInfo:
        """Size, hash, media type and version of the object."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove a derived object; originals are refused with :class:`OriginalImmutable`."""
        ...

    def url(self, key: str, *, expires_seconds: int, filename: str | None = None) -> str | None:
        """A time-limited download URL, or None when the web process must serve the object itself.

        With ``filename`` the download is offered under that (possibly Chinese) name.
        """
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``, in the byte order of their UTF-8 encoding."""
        ...

    def check(self) -> None:
        """Raise :class:`~storage.errors.StoreUnavailable` unless the store can be used (就绪检查)."""
        ...

    def sweep_temporary(self, older_than: timedelta = ...) -> int:
        """Remove what writes that died half-way left behind, if older than ``older_than``; returns how many."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a valid object key, else :class:`InvalidKey`."""
    if not key:
        raise InvalidKey(key, "empty")
    if _FORBIDDEN_CHARACTERS.search(key):
        raise InvalidKey(key, "control character or backslash")
    if key.startswith("/"):
        raise InvalidKey(key, "absolute path")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey(key, "not valid UTF-8 text") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKey(key, f"longer than {MAX_KEY_BYTES} bytes")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidKey(key, "empty, '.' or '..' path segment")
    if key.startswith(RESERVED_PREFIX):
        raise InvalidKey(key, f"{RESERVED_PREFIX!r} is reserved")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` when keys could start with it: '', a folder (ending in ``/``) or a partial key."""
    if not prefix:
        return prefix
    folder, _, partial = prefix.rpartition("/")
    if folder:
        check_key(folder)
    try:
        too_long = len(prefix.encode("utf-8")) > MAX_KEY_BYTES
    except UnicodeEncodeError:
        raise InvalidKey(prefix, "not valid UTF-8 text") from None
    if too_long or _FORBIDDEN_CHARACTERS.search(partial):
        raise InvalidKey(prefix, "control character, backslash or too long")
    if prefix.startswith(RESERVED_PREFIX):
        raise InvalidKey(prefix, f"{RESERVED_PREFIX!r} is reserved")
    return prefix


def is_original(key: str) -> bool:
    return key.startswith(ORIGINALS_PREFIX)


def original_key(sha256: str) -> str:
    """Where the original with this SHA-256 is stored: ``originals/ab/cd/abcd…``."""
    digest = normalise_sha256(sha256)
    return f"{ORIGINALS_PREFIX}{digest[:2]}/{digest[2:4]}/{digest}"


def sha256_of_original(key: str) -> str | None:
    """The SHA-256 named by an original's key, or None for any other key."""
    match = _ORIGINAL_KEY.fullmatch(key)
    if match is None or not match[3].startswith(match[1] + match[2]):
        return None
    return match[3]


def normalise_sha256(value: str) -> str:
    """Lower-case hex SHA-256, or ValueError."""
    digest = value.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise ValueError(f"SHA-256 无效 / not a hex SHA-256: {value!r}")
    return digest


def check_content_type(value: str) -> str:
    # It travels in an HTTP header: a line break would split the request.
    if not value or any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"媒体类型无效 / invalid content type: {value!r}")
    return value


def check_write(key: str | None, content_type: str, expected_sha256: str | None) -> str | None:
    """Checks every backend makes before writing: a derived ``key`` (None for an original, whose key comes
    from its content), a header-safe content type; returns the expected SHA-256 normalised, if one was given."""
    if key is not None:
        check_key(key)
        if is_original(key):
            raise OriginalImmutable(key)
    check_content_type(content_type)
    return normalise_sha256(expected_sha256) if expected_sha256 is not None else None


def check_expiry(seconds: int) -> int:
    if not 1 <= seconds <= MAX_URL_SECONDS:
        raise ValueError(f"链接有效期须在 1 秒至 7 天之间 / URL lifetime must be 1 s to 7 days, got {seconds}")
    return seconds


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition value offering ``filename`` (RFC 6266, UTF-8 per RFC 5987).

    Browsers use ``filename*`` (the Chinese name); the ASCII ``filename`` is the fallback for old clients.
    """
    name = _FORBIDDEN_CHARACTERS.sub("_", filename).replace("/", "_").strip() or "download"
    fallback = re.sub(r"[^\x20-\x7e]+", "_", name).replace('"', "_")
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


class HashingReader:
    """Reads a stream once, counting and hashing (SHA-256) the bytes on the way through.

    With ``expected_size`` it fails as soon as the stream proves longer or shorter, before the
    consumer can finish writing, so a wrong upload never completes.
    """

    def __init__(self, stream: Readable, *, expected_size: int | None = None) -> None:
        if expected_size is not None and expected_size < 0:
            raise ValueError(f"expected_size must not be negative, got {expected_size}")
        self._stream = stream
        self._hash = hashlib.sha256()
        self._expected_size = expected_size
        self.size = 0
        self.at_end = False

    def read(self, size: int = -1, /) -> bytes:
        if self.at_end or size == 0:
            return b""
        data = self._fill(size)
        if not data:
            self.at_end = True
            self._check_complete()
            return b""
        self._hash.update(data)
        self.size += len(data)
        if self._expected_size is not None:
            if self.size > self._expected_size:
                raise _size_mismatch(self._expected_size, f"more than {self._expected_size}")
            # Look one byte ahead so that a longer stream fails before its last part is written.
            if self.size == self._expected_size and not self.at_end:
                if self._stream.read(1):
                    raise _size_mismatch(self._expected_size, f"more than {self._expected_size}")
                self.at_end = True
        return data

    def _fill(self, size: int) -> bytes:
        # Streams (network bodies above all) may return less than asked. Filling every read lets
        # consumers take a short read for the end of the stream, as the S3 part reader does.
        first = self._stream.read(size)
        if size < 0 or not first or len(first) >= size:
            return first or b""
        pieces = [first]
        missing = size - len(first)
        while missing > 0:
            piece = self._stream.read(missing)
            if not piece:
                break
            pieces.append(piece)
            missing -= len(piece)
        return b"".join(pieces)

    def _check_complete(self) -> None:
        if self._expected_size is not None and self.size != self._expected_size:
            raise _size_mismatch(self._expected_size, str(self.size))

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def verify(self, *, expected_sha256: str | None) -> str:
        """The SHA-256 of everything read, after checking it and the size against expectations."""
        while self.read(CHUNK_SIZE):  # whatever the consumer left unread still counts
            pass
        self._check_complete()
        digest = self.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise IntegrityMismatch(
                f"SHA-256 不符 / SHA-256 mismatch: expected {expected_sha256}, received {digest}",
            )
        return digest


def _size_mismatch(expected: int, received: str) -> IntegrityMismatch:
    return IntegrityMismatch(f"大小不符 / size mismatch: expected {expected} bytes, received {received}")
