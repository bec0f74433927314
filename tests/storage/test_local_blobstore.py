"""What only the local folder store has: files, folders, metadata records beside the objects."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from storage.blobstore import InvalidKey, LocalBlobStore
from storage.errors import IntegrityMismatch, StoreUnavailable
from tests.storage.blobs import MIB, PDF, GeneratedStream, read_all


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    store.put_stream("derived/a", io.BytesIO(b"a"), content_type="text/plain")
    with pytest.raises(IntegrityMismatch):
        store.put_stream("derived/b", io.BytesIO(b"b"), content_type="text/plain", expected_size=5)
    with pytest.raises(ConnectionResetError):
        store.put_stream("derived/c", GeneratedStream(3 * MIB, fail_after=MIB), content_type="text/plain")

    assert list((tmp_path / "objects" / ".liantu" / "tmp").iterdir()) == []
    assert (tmp_path / "objects" / "derived" / "a").read_bytes() == b"a"


def test_local_stale_metadata_is_not_believed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    store.put_stream("derived/page.pdf", io.BytesIO(PDF), content_type="application/x-sheet")
    # Someone replaces the file behind the store's back: the recorded type and hash no longer apply.
    (tmp_path / "objects" / "derived" / "page.pdf").write_bytes(b"%PDF-1.4 other")

    info = store.stat("derived/page.pdf")

    assert (info.sha256, info.content_type, info.size) == (None, "application/pdf", 14)


def test_local_key_that_is_also_a_folder_is_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    store.put_stream("derived/a", io.BytesIO(b"a"), content_type="text/plain")

    with pytest.raises(InvalidKey, match="folder"):
        store.put_stream("derived/a/b", io.BytesIO(b"b"), content_type="text/plain")
    assert read_all(store, "derived/a") == b"a"


def test_local_construction_does_no_io(tmp_path: Path) -> None:
    LocalBlobStore(tmp_path / "not" / "yet")
    assert not (tmp_path / "not").exists()


def test_local_unwritable_folder_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    store = LocalBlobStore(tmp_path / "file" / "objects")

    with pytest.raises(StoreUnavailable):
        store.check()
    with pytest.raises(StoreUnavailable):
        store.put_stream("derived/a", io.BytesIO(b"a"), content_type="text/plain")


def test_local_writes_sync_the_bytes_and_only_an_original_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    store = LocalBlobStore(tmp_path)
    store.put_stream("derived/tiles/0/0_0.png", io.BytesIO(b"\x89PNG tile"), content_type="image/png")
    assert synced == ["file"]
    synced.clear()
    info = store.put_original(io.BytesIO(PDF), content_type="application/pdf")
    assert synced == ["file", "folder"]
    with store.open(info.key) as stream:
        assert stream.read() == PDF
    with store.open("derived/tiles/0/0_0.png") as stream:
        assert stream.read() == b"\x89PNG tile"
