"""Test data for the object store tests: sample bytes and large streams made up on the fly."""

from __future__ import annotations

import hashlib
import random

from storage.blobstore import BlobStore

MIB = 1024 * 1024
PART_SIZE = 5 * MIB  # the smallest part S3 accepts
CHINESE_KEY = "图纸/建施-01 总平面图.pdf"
CHINESE_NAME = "建施-01 总平面图（第2版）.pdf"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


class GeneratedStream:
    """``size`` reproducible bytes made up while being read, never all in memory at once.

    Every MiB is a different rotation of one random MiB, so parts stored in the wrong order would
    change the hash.
    """

    BLOCK = MIB

    def __init__(self, size: int, *, fail_after: int | None = None) -> None:
        self._double = memoryview(random.Random(20260101).randbytes(self.BLOCK) * 2)
        self.size = size
        self.position = 0
        self._fail_after = fail_after

    def read(self, size: int = -1, /) -> bytes:
        remaining = self.size - self.position
        wanted = remaining if size < 0 else min(size, remaining)
        if self._fail_after is not None and self.position + wanted > self._fail_after:
            raise ConnectionResetError("the uploader went away")
        pieces = []
        while wanted > 0:
            block, offset = divmod(self.position, self.BLOCK)
            start = (block * 7919) % self.BLOCK + offset
            piece = self._double[start : start + min(wanted, self.BLOCK - offset)]
            pieces.append(piece)
            self.position += len(piece)
            wanted -= len(piece)
        return b"".join(pieces)


def generated_sha256(size: int) -> str:
    stream, digest = GeneratedStream(size), hashlib.sha256()
    while chunk := stream.read(MIB):
        digest.update(chunk)
    return digest.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(store: BlobStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()
