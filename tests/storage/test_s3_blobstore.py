"""What only the S3 store has: a network in between (down, hanging, refusing) and a bucket to create."""

from __future__ import annotations

import io
import time

import pytest

from storage.blobstore import S3BlobStore
from storage.errors import StoreUnavailable
from tests.storage.blobs import PART_SIZE
from tests.support.s3 import S3Server


@pytest.mark.s3
def test_s3_store_that_is_down_fails_within_seconds(dead_s3_endpoint: str) -> None:
    store = S3BlobStore(
        endpoint=dead_s3_endpoint,
        access_key="liantu-test-access",
        secret_key="liantu-test-secret-key",
        bucket="liantu-down",
        multipart_threshold=PART_SIZE,
    )  # constructing does no I/O, so this succeeds

    for operation in (
        store.check,
        lambda: store.stat("derived/x"),
        lambda: store.open("derived/x"),
        lambda: store.put_stream("derived/x", io.BytesIO(b"x"), content_type="text/plain"),
        lambda: list(store.iter_keys()),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            operation()
        assert time.monotonic() - started < 3.0
    # Presigning is a local computation: it works while the store is down.
    assert store.url("derived/x", expires_seconds=60, filename="图.pdf") is not None


@pytest.mark.s3
def test_s3_store_that_hangs_fails_within_its_timeout(hung_s3_endpoint: str) -> None:
    store = S3BlobStore(
        endpoint=hung_s3_endpoint,
        access_key="liantu-test-access",
        secret_key="liantu-test-secret-key",
        bucket="liantu-hung",
        read_timeout=0.5,
    )

    for operation in (store.check, lambda: store.stat("derived/x")):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="ReadTimeout"):
            operation()
        assert time.monotonic() - started < 2.0


@pytest.mark.s3
def test_s3_wrong_credentials_are_unavailable(s3_server: S3Server, s3_bucket: str) -> None:
    store = S3BlobStore(
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key="not-the-secret-key",
        bucket=s3_bucket,
        region=s3_server.region,
    )

    with pytest.raises(StoreUnavailable, match="403"):
        store.check()
    with pytest.raises(StoreUnavailable):
        store.open("derived/x")


@pytest.mark.s3
def test_s3_bucket_is_created_on_first_write(s3_server: S3Server, s3_bucket: str) -> None:
    store = S3BlobStore(
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        bucket=s3_bucket,
        region=s3_server.region,
    )
    assert not (s3_server.data_dir / s3_bucket).exists()
    assert list(store.iter_keys()) == []  # reading an absent bucket finds nothing

    store.put_stream("derived/x", io.BytesIO(b"x"), content_type="text/plain")

    assert (s3_server.data_dir / s3_bucket / "derived" / "x").read_bytes() == b"x"
