"""One contract for every object store backend: the local folder and S3 (a real server on loopback).

Each test runs against both backends; what differs between them is said in the test. What only
one backend has is tested in ``test_local_blobstore`` and ``test_s3_blobstore``.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import tracemalloc
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from storage.blobstore import (
    BlobStore,
    InvalidKey,
    LocalBlobStore,
    OriginalImmutable,
    S3BlobStore,
    original_key,
)
from storage.errors import BlobNotFound, IntegrityMismatch, StorageError
from tests.storage.blobs import (
    CHINESE_KEY,
    CHINESE_NAME,
    MIB,
    PART_SIZE,
    PDF,
    GeneratedStream,
    generated_sha256,
    read_all,
    sha256,
)
from tests.support.s3 import S3Server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "objects")
    server: S3Server = request.getfixturevalue("s3_server")
    return S3BlobStore(
        endpoint=server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        bucket=request.getfixturevalue("s3_bucket"),
        secure=False,
        region=server.region,
        multipart_threshold=PART_SIZE,
    )


# -- the protocol ------------------------------------------------------------------------------


def test_backend_implements_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    operations = [name for name, value in vars(BlobStore).items() if callable(value) and not name.startswith("_")]
    assert len(operations) == 11
    for name in operations:
        promised = inspect.signature(getattr(BlobStore, name)).parameters.values()
        offered = inspect.signature(getattr(type(store), name)).parameters.values()
        assert [(p.name, p.kind) for p in offered] == [(p.name, p.kind) for p in promised], name
        assert all(o.default == p.default for o, p in zip(offered, promised, strict=True) if p.default is not ...), name


def test_backend_says_whether_its_reads_wait_on_the_network(store: BlobStore) -> None:
    # A property, not an operation: the count of operations above leaves it out.
    assert isinstance(inspect.getattr_static(type(store), "reads_without_blocking"), property)
    assert store.reads_without_blocking is isinstance(store, LocalBlobStore)


def test_check_prepares_a_fresh_store(store: BlobStore) -> None:
    store.check()
    store.check()
    assert list(store.iter_keys()) == []


# -- writing and reading -----------------------------------------------------------------------


def test_round_trip_under_a_chinese_key(store: BlobStore) -> None:
    info = store.put_stream(CHINESE_KEY, io.BytesIO(PDF), content_type="application/pdf")

    assert (info.key, info.size, info.content_type) == (CHINESE_KEY, len(PDF), "application/pdf")
    assert info.sha256 == sha256(PDF)
    assert info.etag
    assert info.last_modified.tzinfo is not None
    stat = store.stat(CHINESE_KEY)
    assert (stat.key, stat.size, stat.content_type, stat.etag) == (CHINESE_KEY, len(PDF), "application/pdf", info.etag)
    assert stat.sha256 == sha256(PDF)
    assert store.exists(CHINESE_KEY)
    assert read_all(store, CHINESE_KEY) == PDF
    assert list(store.iter_keys("图纸/")) == [CHINESE_KEY]


def test_overwriting_a_derived_object_replaces_it(store: BlobStore) -> None:
    first = store.put_stream("derived/sheet.png", io.BytesIO(b"first version"), content_type="image/png")
    second = store.put_stream("derived/sheet.png", io.BytesIO(b"second, longer version"), content_type="image/webp")

    assert second.etag != first.etag
    assert read_all(store, "derived/sheet.png") == b"second, longer version"
    assert store.stat("derived/sheet.png").content_type == "image/webp"
    assert list(store.iter_keys()) == ["derived/sheet.png"]


def test_empty_object(store: BlobStore) -> None:
    info = store.put_stream("derived/empty", io.BytesIO(b""), content_type="text/plain", expected_size=0)

    assert (info.size, info.sha256) == (0, sha256(b""))
    assert read_all(store, "derived/empty") == b""
    assert store.read_range("derived/empty", 0, 10) == b""


def test_open_streams_in_chunks_and_closes(store: BlobStore) -> None:
    store.put_stream("derived/big", GeneratedStream(3 * MIB), content_type="application/octet-stream")

    digest = hashlib.sha256()
    with store.open("derived/big") as stream:
        first = stream.read(1000)
        assert len(first) == 1000
        digest.update(first)
        while chunk := stream.read(256 * 1024):
            assert len(chunk) <= 256 * 1024
            digest.update(chunk)
    assert stream.closed
    assert digest.hexdigest() == generated_sha256(3 * MIB)


def test_closing_a_partly_read_object_leaves_the_store_usable(store: BlobStore) -> None:
    store.put_stream("derived/big", GeneratedStream(3 * MIB), content_type="application/octet-stream")

    # An early close drops the rest of the body; later requests must not read its leftovers.
    for _ in range(12):
        with store.open("derived/big") as stream:
            assert len(stream.read(10)) == 10
    assert store.read_range("derived/big", 3 * MIB - 4, 10) == GeneratedStream(3 * MIB).read()[-4:]


def test_large_upload_streams_in_parts_with_bounded_memory(store: BlobStore) -> None:
    size = 5 * PART_SIZE + 12345  # six parts of the smallest size S3 allows, the last one short
    expected = generated_sha256(size)
    stream = GeneratedStream(size)

    tracemalloc.start()
    try:
        info = store.put_stream("derived/set.pdf", stream, content_type="application/pdf")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (info.size, info.sha256) == (size, expected)
    # The local store copies a chunk at a time; S3 holds the part being sent and a chunk or two.
    limit = 3 * MIB if isinstance(store, LocalBlobStore) else PART_SIZE + 4 * MIB
    assert peak < limit, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB upload"
    assert peak < size / 3
    digest = hashlib.sha256()
    with store.open("derived/set.pdf") as read_back:
        while chunk := read_back.read(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == expected
    stat = store.stat("derived/set.pdf")
    assert stat.size == size
    # Sent in parts before the hash was known: S3 could not record it; local did.
    assert stat.sha256 == (None if isinstance(store, S3BlobStore) else expected)


def test_known_size_upload_checks_the_size_while_streaming(store: BlobStore) -> None:
    size = 2 * PART_SIZE + 1

    info = store.put_stream("derived/known", GeneratedStream(size), content_type="application/pdf", expected_size=size)

    assert (info.size, info.sha256) == (size, generated_sha256(size))
    assert store.read_range("derived/known", size - 1, 10) == GeneratedStream(size).read()[-1:]


# -- integrity ---------------------------------------------------------------------------------


def test_expected_sha256_is_verified_and_recorded(store: BlobStore) -> None:
    digest = sha256(PDF)
    info = store.put_stream("derived/a.pdf", io.BytesIO(PDF), content_type="application/pdf", expected_sha256=digest)

    assert info.sha256 == sha256(PDF)
    assert store.stat("derived/a.pdf").sha256 == sha256(PDF)


@pytest.mark.parametrize("size", [len(PDF), 6 * MIB], ids=["one-part", "multipart"])
def test_wrong_sha256_leaves_the_key_as_it_was(store: BlobStore, size: int) -> None:
    content = GeneratedStream(size).read()
    store.put_stream("derived/kept", io.BytesIO(b"earlier"), content_type="text/plain")

    with pytest.raises(IntegrityMismatch):
        store.put_stream("derived/new", io.BytesIO(content), content_type="text/plain", expected_sha256="0" * 64)
    with pytest.raises(IntegrityMismatch):
        store.put_stream("derived/kept", io.BytesIO(content), content_type="text/plain", expected_sha256="f" * 64)

    assert not store.exists("derived/new")
    assert read_all(store, "derived/kept") == b"earlier"
    assert list(store.iter_keys()) == ["derived/kept"]


@pytest.mark.parametrize(
    ("actual", "declared"),
    [(1000, 999), (999, 1000), (6 * MIB, 6 * MIB - 1), (6 * MIB - 1, 6 * MIB)],
    ids=["longer", "shorter", "longer-multipart", "shorter-multipart"],
)
def test_wrong_size_stores_nothing(store: BlobStore, actual: int, declared: int) -> None:
    with pytest.raises(IntegrityMismatch):
        store.put_stream("derived/x", GeneratedStream(actual), content_type="text/plain", expected_size=declared)

    assert not store.exists("derived/x")
    assert list(store.iter_keys()) == []


def test_a_failing_upload_stream_stores_nothing(store: BlobStore) -> None:
    stream = GeneratedStream(8 * MIB, fail_after=6 * MIB)  # fails inside the second part

    with pytest.raises(ConnectionResetError):
        store.put_stream("derived/x", stream, content_type="application/pdf")

    assert not store.exists("derived/x")
    assert list(store.iter_keys()) == []


# -- originals ---------------------------------------------------------------------------------


def test_put_original_keys_by_hash_and_stores_once(store: BlobStore) -> None:
    first = store.put_original(io.BytesIO(PDF), content_type="application/pdf")
    again = store.put_original(io.BytesIO(PDF), content_type="application/octet-stream")

    key = original_key(sha256(PDF))
    assert key == f"originals/{sha256(PDF)[:2]}/{sha256(PDF)[2:4]}/{sha256(PDF)}"
    assert first.key == again.key == key
    assert (first.size, first.sha256) == (len(PDF), sha256(PDF))
    # Not rewritten: the second upload's media type did not replace the first one's.
    assert (again.content_type, store.stat(key).content_type) == ("application/pdf", "application/pdf")
    assert store.stat(key).sha256 == sha256(PDF)
    assert list(store.iter_keys()) == [key]
    assert read_all(store, key) == PDF


@pytest.mark.parametrize("size", [len(PDF), 2 * PART_SIZE + 7], ids=["one-part", "multipart"])
def test_put_original_checks_the_expected_hash(store: BlobStore, size: int) -> None:
    content = GeneratedStream(size).read()
    info = store.put_original(
        io.BytesIO(content), content_type="application/pdf", expected_sha256=sha256(content).upper()
    )
    assert (info.key, info.size) == (original_key(sha256(content)), size)

    with pytest.raises(IntegrityMismatch):
        store.put_original(io.BytesIO(content[:-1]), content_type="application/pdf", expected_sha256=sha256(content))
    assert list(store.iter_keys()) == [info.key]


def test_large_originals_are_stored_once(store: BlobStore) -> None:
    size = PART_SIZE + 1
    first = store.put_original(GeneratedStream(size), content_type="application/pdf")
    again = store.put_original(GeneratedStream(size), content_type="image/vnd.dxf")

    assert first.key == again.key == original_key(generated_sha256(size))
    assert (first.size, first.sha256) == (size, generated_sha256(size))
    assert store.stat(first.key).content_type == "application/pdf"
    assert store.stat(first.key).sha256 == first.sha256
    assert list(store.iter_keys()) == [first.key]


def test_originals_are_never_overwritten_or_deleted(store: BlobStore) -> None:
    key = store.put_original(io.BytesIO(PDF), content_type="application/pdf").key

    with pytest.raises(OriginalImmutable) as refused:
        store.delete(key)
    assert isinstance(refused.value, StorageError)
    with pytest.raises(OriginalImmutable):
        store.put_stream(key, io.BytesIO(b"replacement"), content_type="application/pdf")
    assert read_all(store, key) == PDF


def test_derived_objects_can_be_deleted(store: BlobStore) -> None:
    store.put_stream("derived/tiles/0/0_0.png", io.BytesIO(b"tile"), content_type="image/png")
    store.put_stream("derived/tiles/0/0_1.png", io.BytesIO(b"tile"), content_type="image/png")

    store.delete("derived/tiles/0/0_0.png")

    assert not store.exists("derived/tiles/0/0_0.png")
    assert list(store.iter_keys("derived/")) == ["derived/tiles/0/0_1.png"]


def plant_temporary(store: BlobStore) -> None:
    """What an upload that died between writing and moving into place leaves behind."""
    if isinstance(store, LocalBlobStore):
        folder = store.root / ".liantu" / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "upload-abandoned").write_bytes(b"half")
    else:
        assert isinstance(store, S3BlobStore)
        store.check()
        store._client.put_object(store.bucket, ".liantu/tmp/abandoned", io.BytesIO(b"half"), 4)


def test_sweep_removes_what_dead_uploads_left(store: BlobStore) -> None:
    assert store.sweep_temporary() == 0
    store.put_stream("derived/kept", io.BytesIO(b"kept"), content_type="text/plain")
    plant_temporary(store)

    assert list(store.iter_keys()) == ["derived/kept"]  # never listed
    assert store.sweep_temporary(older_than=timedelta(hours=1)) == 0  # could still be in progress
    assert store.sweep_temporary(older_than=timedelta(0)) == 1
    assert store.sweep_temporary(older_than=timedelta(0)) == 0
    assert read_all(store, "derived/kept") == b"kept"


# -- ranges, missing keys, listing -------------------------------------------------------------


def test_range_reads(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    store.put_stream("derived/r", io.BytesIO(data), content_type="application/octet-stream")

    assert store.read_range("derived/r", 0, 10) == data[:10]
    assert store.read_range("derived/r", 1000, 300) == data[1000:1300]
    assert store.read_range("derived/r", len(data) - 5, 100) == data[-5:]
    assert store.read_range("derived/r", len(data), 10) == b""
    assert store.read_range("derived/r", len(data) + 100, 1) == b""
    assert store.read_range("derived/r", 5, 0) == b""
    with pytest.raises(ValueError, match="negative"):
        store.read_range("derived/r", -1, 10)


def test_missing_key(store: BlobStore) -> None:
    store.put_stream("derived/present", io.BytesIO(b"x"), content_type="text/plain")

    for operation in (
        lambda: store.open("derived/absent"),
        lambda: store.stat("derived/absent"),
        lambda: store.read_range("derived/absent", 0, 10),
        lambda: store.read_range("derived/absent", 0, 0),
        lambda: store.delete("derived/absent"),
        lambda: store.stat("derived/present/below"),
    ):
        with pytest.raises(BlobNotFound):
            operation()
    assert not store.exists("derived/absent")
    assert issubclass(BlobNotFound, KeyError)


def test_iter_keys_lists_by_prefix_in_byte_order(store: BlobStore) -> None:
    keys = ["derived/a/2.png", "derived/a-b.png", "derived/b/建.png", "derived/a/1.png", "other/x", "derived/ab"]
    for key in keys:
        store.put_stream(key, io.BytesIO(key.encode()), content_type="image/png")
    original = store.put_original(io.BytesIO(PDF), content_type="application/pdf").key

    everything = list(store.iter_keys())
    assert everything == sorted([*keys, original], key=lambda key: key.encode())
    assert list(store.iter_keys("derived/a")) == ["derived/a-b.png", "derived/a/1.png", "derived/a/2.png", "derived/ab"]
    assert list(store.iter_keys("derived/a/")) == ["derived/a/1.png", "derived/a/2.png"]
    assert list(store.iter_keys("originals/")) == [original]
    assert list(store.iter_keys("nothing/")) == []


ESCAPING_KEYS = ["../outside", "/etc/passwd", "a/../../outside", "a\\b", "a\x00b", "a\nb", "", "a//b", "a/", "./a"]


@pytest.mark.parametrize("key", [*ESCAPING_KEYS, ".liantu/tmp/x"])
def test_keys_that_could_escape_are_refused(store: BlobStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidKey) as refused:
        store.put_stream(key, io.BytesIO(b"x"), content_type="text/plain")
    assert isinstance(refused.value, ValueError)
    assert isinstance(refused.value, StorageError)
    for operation in (store.open, store.stat, store.exists, store.delete):
        with pytest.raises(InvalidKey):
            operation(key)
    assert not (tmp_path / "outside").exists()
    assert list(store.iter_keys()) == []


def test_overlong_key_is_refused(store: BlobStore) -> None:
    with pytest.raises(InvalidKey, match="1024"):
        store.put_stream("derived/" + "图" * 400, io.BytesIO(b"x"), content_type="text/plain")


# -- download links ----------------------------------------------------------------------------


def test_download_url_offers_the_chinese_file_name(store: BlobStore) -> None:
    store.put_stream(CHINESE_KEY, io.BytesIO(PDF), content_type="application/pdf")

    url = store.url(CHINESE_KEY, expires_seconds=60, filename=CHINESE_NAME)

    if isinstance(store, LocalBlobStore):
        assert url is None  # the web process serves local objects behind its own signed link
        return
    assert url is not None
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == PDF
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, encoding="utf-8", errors="strict") == CHINESE_NAME
    assert 'filename="' in disposition
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403


@pytest.mark.parametrize("seconds", [0, -5, 8 * 24 * 3600])
def test_download_url_lifetime_is_bounded(store: BlobStore, seconds: int) -> None:
    with pytest.raises(ValueError, match="7"):
        store.url("derived/x", expires_seconds=seconds)
