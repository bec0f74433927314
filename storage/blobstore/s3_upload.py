"""Sending a stream to S3 one part at a time, checked before it becomes visible.

The SDK's ``put_object`` holds up to three parts in memory for a stream of unknown length and has
no hook between reading the last byte and completing the upload. Here each part is read into its
own buffer, sent and dropped, so an upload holds about one part. The caller's check runs after the
last byte was read and before the object appears: before the single PUT, or before
CompleteMultipartUpload (a failed check aborts the upload). A wrong stream therefore never shows
under its key, and whatever was there before stays.

The multipart requests are the SDK's internal methods (``_create_multipart_upload`` and friends);
the contract tests run them against a real S3 server, so a change in the SDK shows there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import cast

from minio import Minio
from minio.datatypes import Part
from minio.error import MinioException
from minio.helpers import DictType
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import HTTPError

from storage.blobstore.base import CHUNK_SIZE, HashingReader
from storage.errors import StorageError

MAX_PARTS = 10_000
"""S3's limit on the number of parts of one upload."""


@dataclass(frozen=True)
class Sent:
    """What the server said about a completed upload."""

    etag: str
    last_modified: datetime


@dataclass
class Staged:
    """One part of a stream, read before it is sent."""

    part: bytearray
    following: bytes
    """The first bytes after the part; empty when the stream ends with this part."""

    @property
    def whole(self) -> bool:
        return not self.following


def read_part(reader: HashingReader, part_size: int, start: bytes = b"") -> Staged:
    """Read up to ``part_size`` bytes, then a little more to learn whether the stream goes on."""
    first = start or reader.read(CHUNK_SIZE)
    if len(first) < CHUNK_SIZE:
        # A short read is the end (the reader fills its reads): small objects such as tiles stay small.
        return Staged(bytearray(first), b"")
    # One buffer of the part's size, filled in place: growing it would copy it several times over.
    part = bytearray(part_size)
    filled = 0
    with memoryview(part) as view:
        chunk = first
        while chunk:
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
            if filled == part_size:
                break
            chunk = reader.read(min(CHUNK_SIZE, part_size - filled))
    del part[filled:]
    return Staged(part, reader.read(CHUNK_SIZE) if filled == part_size else b"")


def headers_for(content_type: str, sha256: str | None) -> DictType:
    headers: DictType = {"Content-Type": content_type}
    if sha256 is not None:
        headers["x-amz-meta-sha256"] = sha256
    return headers


def put_single(client: Minio, bucket: str, key: str, part: bytearray, headers: DictType) -> Sent:
    # The SDK hashes, measures and sends any buffer; a bytearray spares a copy of the part.
    result = client._put_object(bucket, key, cast(bytes, part), headers)
    return Sent(etag=(result.etag or "").strip('"'), last_modified=_response_time(result.http_headers))


def put_parts(
    client: Minio,
    bucket: str,
    key: str,
    *,
    first: Staged,
    reader: HashingReader,
    headers: DictType,
    part_size: int,
    before_complete: Callable[[], object],
) -> Sent:
    """Send ``first`` and the rest of ``reader`` as a multipart upload; abort on any failure.

    ``first`` is consumed: each part's buffer is released once sent, so that only one is held.
    """
    upload_id = client._create_multipart_upload(bucket, key, dict(headers))
    try:
        parts: list[Part] = []
        staged = first
        while True:
            if len(parts) == MAX_PARTS:
                raise StorageError(f"对象过大 / object larger than {MAX_PARTS} parts of {part_size} bytes")
            number = len(parts) + 1
            etag = client._upload_part(bucket, key, cast(bytes, staged.part), None, upload_id, number)
            parts.append(Part(number, etag))
            following = staged.following
            staged.part, staged.following = bytearray(), b""
            if not following:
                break
            staged = read_part(reader, part_size, following)
        before_complete()
        result = client._complete_multipart_upload(bucket, key, upload_id, parts)
    except BaseException:
        # Leaves nothing behind; if the abort fails too, the store expires the upload later.
        with contextlib.suppress(MinioException, HTTPError):
            client._abort_multipart_upload(bucket, key, upload_id)
        raise
    return Sent(etag=(result.etag or "").strip('"'), last_modified=_response_time(result.http_headers))


def _response_time(headers: HTTPHeaderDict) -> datetime:
    # Uploads answer with the server's Date, not a Last-Modified; it is the moment of the write.
    for name in ("Last-Modified", "Date"):
        value = headers.get(name)
        if value:
            with contextlib.suppress(TypeError, ValueError):
                return parsedate_to_datetime(value).astimezone(UTC)
    return datetime.now(UTC)
