"""Object storage (对象存储) behind one small protocol, with a local-folder and an S3 backend.

Only ``app`` chooses the backend; everything else receives a :class:`BlobStore`.
"""

from storage.blobstore.base import (
    ORIGINALS_PREFIX,
    BlobInfo,
    BlobStore,
    InvalidKey,
    OriginalImmutable,
    Readable,
    content_disposition,
    original_key,
)
from storage.blobstore.local import LocalBlobStore
from storage.blobstore.s3 import S3BlobStore

__all__ = [
    "ORIGINALS_PREFIX",
    "BlobInfo",
    "BlobStore",
    "InvalidKey",
    "LocalBlobStore",
    "OriginalImmutable",
    "Readable",
    "S3BlobStore",
    "content_disposition",
    "original_key",
]
