"""Object storage in an S3-compatible service (MinIO in the distributed deployment), via the minio SDK.

Every error of the SDK and of urllib3 is translated here: a missing object becomes
:class:`~storage.errors.BlobNotFound`, an unreachable or refusing service
:class:`~storage.errors.StoreUnavailable`. Some servers answer errors with ``text/xml`` bodies that
the SDK does not parse (it raises ``InvalidResponseError`` instead of ``S3Error``), so the HTTP status
decides, not the SDK's exception type.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, cast

import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, CopySource
from minio.datatypes import Object
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import MIN_PART_SIZE, DictType, check_bucket_name
from urllib3.exceptions import HTTPError

from storage.blobstore.base import (
    CHUNK_SIZE,
    RESERVED_PREFIX,
    TEMPORARY_PREFIX,
    BlobInfo,
    HashingReader,
    OriginalImmutable,
    Readable,
    check_expiry,
    check_key,
    check_prefix,
    check_write,
    content_disposition,
    is_original,
    normalise_sha256,
    original_key,
    sha256_of_original,
)
from storage.blobstore.s3_upload import Sent, headers_for, put_parts, put_single, read_part
from storage.errors import BlobNotFound, StorageError, StoreUnavailable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from urllib3 import BaseHTTPResponse

SHA256_METADATA = "sha256"
"""User metadata (``x-amz-meta-sha256``) recording the content's SHA-256 where it was known."""

_STATUS_IN_MESSAGE = re.compile(r"Response code: (\d{3})")
_CODE_IN_BODY = re.compile(r"<Code>([^<]+)</Code>")
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject"})
_ALREADY_MINE_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})

PROBE_SECONDS = 5.0
"""Longest wait for an answer to the readiness probe (:meth:`S3BlobStore.check`)."""


class _RangeNotSatisfiable(StorageError):
    """The requested range starts at or beyond the end of the object."""


class S3BlobStore:
    """:class:`~storage.blobstore.BlobStore` in one S3 bucket, created on first use when missing.

    Construction does no I/O. Uploads larger than ``multipart_threshold`` go in parts of that size,
    one part at a time, so an upload holds about one part in memory (see ``s3_upload``).
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        multipart_threshold: int = 64 * 1024 * 1024,
        connect_timeout: float = 2.0,
        read_timeout: float = 60.0,
        retries: int = 2,
    ) -> None:
        if multipart_threshold < MIN_PART_SIZE:
            raise ValueError(f"S3 parts must be at least 5 MiB, got multipart_threshold={multipart_threshold}")
        check_bucket_name(bucket)
        self.endpoint = endpoint
        self.bucket = bucket
        self.multipart_threshold = multipart_threshold
        connection = functools.partial(
            _make_client,
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            connect_timeout=connect_timeout,
        )
        self._client = connection(read_timeout=read_timeout, retries=retries)
        # Readiness probes must answer quickly even when the store accepts connections and then hangs.
        self._probe = connection(read_timeout=min(read_timeout, PROBE_SECONDS), retries=0)
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3BlobStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    @property
    def reads_without_blocking(self) -> bool:
        return False  # every read is a request to the server

    # -- writing ---------------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        stream: Readable,
        *,
        content_type: str,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> BlobInfo:
        expected = check_write(key, content_type, expected_sha256)
        self._ensure_bucket()
        reader = HashingReader(stream, expected_size=expected_size)
        with self._errors(key):
            staged = read_part(reader, self.multipart_threshold)
            if staged.whole:
                digest = reader.verify(expected_sha256=expected)
                sent = put_single(self._client, self.bucket, key, staged.part, headers_for(content_type, digest))
            else:
                # Parts go out before the hash is known: only an expected hash can be recorded.
                sent = put_parts(
                    self._client,
                    self.bucket,
                    key,
                    first=staged,
                    reader=reader,
                    headers=headers_for(content_type, expected),
                    part_size=self.multipart_threshold,
                    before_complete=lambda: reader.verify(expected_sha256=expected),
                )
                digest = reader.hexdigest()
        return self._written(key, reader.size, digest, content_type, sent)

    def put_original(self, stream: Readable, *, content_type: str, expected_sha256: str | None = None) -> BlobInfo:
        expected = check_write(None, content_type, expected_sha256)
        self._ensure_bucket()
        reader = HashingReader(stream)
        with self._errors(None):
            staged = read_part(reader, self.multipart_threshold)
        if staged.whole:
            # All of it is in memory: the key is known before anything is sent.
            digest = reader.verify(expected_sha256=expected)
            key = original_key(digest)
            present = self._stat_or_none(key)
            if present is not None and present.size == reader.size:
                return present
            with self._errors(key):
                sent = put_single(self._client, self.bucket, key, staged.part, headers_for(content_type, digest))
            return self._written(key, reader.size, digest, content_type, sent)
        # The key is known only after the last part: send the parts beside it, then copy into place.
        temporary = _temporary_key()
        with self._errors(temporary):
            put_parts(
                self._client,
                self.bucket,
                temporary,
                first=staged,
                reader=reader,
                headers=headers_for(content_type, None),
                part_size=self.multipart_threshold,
                before_complete=lambda: reader.verify(expected_sha256=expected),
            )
        try:
            digest = reader.hexdigest()
            key = original_key(digest)
            present = self._stat_or_none(key)
            # Same hash and size: the same bytes are already there, and originals are never rewritten.
            if present is not None and present.size == reader.size:
                return present
            with self._errors(key):
                copied = self._client.copy_object(
                    self.bucket,
                    key,
                    CopySource(self.bucket, temporary),
                    metadata=headers_for(content_type, digest),
                    metadata_directive=REPLACE,
                )
        finally:
            self._discard(temporary)
        return BlobInfo(
            key=key,
            size=reader.size,
            sha256=digest,
            content_type=content_type,
            etag=(copied.etag or "").strip('"'),
            last_modified=copied.last_modified or datetime.now(UTC),
        )

    def _discard(self, temporary: str) -> None:
        # Best effort: a temporary object left behind by a failure is invisible to iter_keys.
        with contextlib.suppress(StorageError), self._errors(temporary):
            self._client.remove_object(self.bucket, temporary)

    def _written(self, key: str, size: int, sha256: str, content_type: str, sent: Sent) -> BlobInfo:
        return BlobInfo(
            key=key,
            size=size,
            sha256=sha256,
            content_type=content_type,
            etag=sent.etag,
            last_modified=sent.last_modified,
        )

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock, self._errors(None):
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except (S3Error, InvalidResponseError) as exc:
                    if _code_of(exc) not in _ALREADY_MINE_CODES:  # another process was quicker
                        raise
            self._bucket_ready = True

    # -- reading ---------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key)
        return io.BufferedReader(_ResponseStream(response, key, self.endpoint), CHUNK_SIZE)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        check_key(key)
        if start < 0 or length < 0:
            raise ValueError(f"start and length must not be negative, got {start}, {length}")
        if length == 0:
            self.stat(key)  # a missing key must still fail
            return b""
        try:
            with self._errors(key):
                response = self._client.get_object(self.bucket, key, offset=start, length=length)
        except _RangeNotSatisfiable:
            return b""
        try:
            with self._errors(key):
                return response.read()
        finally:
            response.close()
            response.release_conn()

    def stat(self, key: str) -> BlobInfo:
        check_key(key)
        with self._errors(key):
            found = self._client.stat_object(self.bucket, key)
        return _info(key, found)

    def _stat_or_none(self, key: str) -> BlobInfo | None:
        try:
            return self.stat(key)
        except BlobNotFound:
            return None

    def exists(self, key: str) -> bool:
        return self._stat_or_none(key) is not None

    def url(self, key: str, *, expires_seconds: int, filename: str | None = None) -> str | None:
        check_key(key)
        check_expiry(expires_seconds)
        overrides: DictType | None = None
        if filename:
            overrides = {"response-content-disposition": content_disposition(filename)}
        with self._errors(key):
            return self._client.presigned_get_object(
                self.bucket,
                key,
                expires=timedelta(seconds=expires_seconds),
                response_headers=overrides,
            )

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        try:
            with self._errors(None):
                for found in self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
                    name = cast(Object, found).object_name
                    if name and not name.endswith("/") and not name.startswith(RESERVED_PREFIX):
                        yield name
        except BlobNotFound:
            return  # no bucket yet: nothing stored

    # -- removing and checking -------------------------------------------------------------------

    def delete(self, key: str) -> None:
        check_key(key)
        if is_original(key):
            raise OriginalImmutable(key)
        # S3 answers a delete of a missing key with success; the contract says BlobNotFound.
        self.stat(key)
        with self._errors(key):
            self._client.remove_object(self.bucket, key)

    def check(self) -> None:
        try:
            with self._errors(None):
                found = self._probe.bucket_exists(self.bucket)
        except StoreUnavailable:
            raise
        except StorageError as exc:
            raise StoreUnavailable(f"对象存储不可用 / object store unusable: {exc}") from exc
        if not found:
            self._bucket_ready = False
            self._ensure_bucket()

    def sweep_temporary(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Remove temporary objects left by uploads that died half-way; returns how many.

        ``older_than`` must exceed the longest upload. Incomplete multipart uploads are the
        server's to expire (a MinIO lifecycle rule, ``rclone serve s3 --multipart-expiry``).
        """
        cutoff = datetime.now(UTC) - older_than
        removed = 0
        try:
            with self._errors(None):
                for found in self._client.list_objects(self.bucket, prefix=TEMPORARY_PREFIX, recursive=True):
                    listed = cast(Object, found)
                    if listed.object_name and listed.last_modified is not None and listed.last_modified < cutoff:
                        self._client.remove_object(self.bucket, listed.object_name)
                        removed += 1
        except BlobNotFound:
            pass  # no bucket yet
        return removed

    # -- errors ----------------------------------------------------------------------------------

    def _errors(self, key: str | None) -> contextlib.AbstractContextManager[None]:
        return _translated_errors(key, self.endpoint)


class _ResponseStream(io.RawIOBase):
    """The body of a GET, read in chunks; closing it closes the HTTP response."""

    def __init__(self, response: BaseHTTPResponse, key: str, endpoint: str) -> None:
        super().__init__()
        self._response = response
        self._key = key
        self._endpoint = endpoint

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        with _translated_errors(self._key, self._endpoint):
            data = self._response.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        # The inherited version reads 8 KiB at a time.
        with _translated_errors(self._key, self._endpoint):
            return self._response.read()

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


@contextlib.contextmanager
def _translated_errors(key: str | None, endpoint: str) -> Iterator[None]:
    """Translate the SDK's and urllib3's errors into the storage errors."""
    try:
        yield
    except S3Error as exc:
        raise _translate(exc.response.status, exc.code, key, endpoint) from exc
    except InvalidResponseError as exc:
        raise _translate(_status_of(exc), _code_of(exc), key, endpoint) from exc
    except ServerError as exc:
        raise _translate(exc.status_code, None, key, endpoint) from exc
    except (HTTPError, MinioException) as exc:
        raise StoreUnavailable(
            f"对象存储无法连接 / object store at {endpoint} unreachable: {exc.__class__.__name__}: {exc}"
        ) from exc


def _make_client(
    endpoint: str,
    *,
    access_key: str,
    secret_key: str,
    secure: bool,
    region: str,
    connect_timeout: float,
    read_timeout: float,
    retries: int,
) -> Minio:
    # The SDK's own defaults wait five minutes per attempt and retry five times: a dead store would
    # hang a request for half an hour. Connecting is retried once, a stalled read never (the
    # request may have reached the store), overloaded answers (503 SlowDown) a few times.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        retries=urllib3.Retry(
            total=retries + 1,
            connect=1,
            read=0,
            status=retries,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            raise_on_status=False,
        ),
    )
    # A known region spares a location lookup before the first request (and keeps __init__ free of I/O).
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http)


def _translate(status: int | None, code: str | None, key: str | None, endpoint: str) -> StorageError:
    if status == 404 or code in _NOT_FOUND_CODES:
        return BlobNotFound(f"对象不存在 / no object under key {key!r}")
    if status == 416:
        return _RangeNotSatisfiable(f"range beyond the end of {key!r}")
    detail = f"HTTP {status}, {code or 'no error code'}"
    if status is None or status in (401, 403) or status >= 500:
        return StoreUnavailable(f"对象存储拒绝请求 / object store at {endpoint} refused the request: {detail}")
    return StorageError(f"对象存储请求失败 / object store request failed for {key!r}: {detail}")


def _status_of(exc: InvalidResponseError) -> int | None:
    status = getattr(exc, "_code", None)
    if isinstance(status, int):
        return status
    match = _STATUS_IN_MESSAGE.search(str(exc))
    return int(match[1]) if match else None


def _code_of(exc: S3Error | InvalidResponseError) -> str | None:
    if isinstance(exc, S3Error):
        return exc.code
    match = _CODE_IN_BODY.search(str(exc))
    return match[1] if match else None


def _info(key: str, found: Object) -> BlobInfo:
    metadata = {name.lower(): value for name, value in (found.metadata or {}).items()}
    recorded = metadata.get(f"x-amz-meta-{SHA256_METADATA}")
    try:
        sha256 = normalise_sha256(recorded) if recorded else sha256_of_original(key)
    except ValueError:
        sha256 = sha256_of_original(key)
    return BlobInfo(
        key=key,
        size=found.size or 0,
        sha256=sha256,
        content_type=found.content_type or "application/octet-stream",
        etag=(found.etag or "").strip('"'),
        last_modified=found.last_modified or datetime.now(UTC),
    )


def _temporary_key() -> str:
    return f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}"
