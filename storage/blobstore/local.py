"""Object storage in a folder of this machine (embedded mode, 单机部署).

An object ``a/b/c.pdf`` is the file ``<root>/a/b/c.pdf``. Its media type and SHA-256 are kept beside
it in ``<root>/.liantu/meta/a/b/c.pdf.json``, stamped with the file's identity (inode, size,
modification time) so that a stale record is recognised and ignored rather than believed.
Writes go to a temporary file in ``<root>/.liantu/tmp`` (same file system), are fsynced and then
renamed into place, so readers see the old object or the new one, never a part.

Durability: the file's bytes are always on disk before the rename, so after a crash a key names the
whole object or nothing, never an empty or partial file (which a browser would then cache as
immutable). The new name itself is fsynced (the folder) only for originals, which are the user's data
and cannot be made again. A derived object (tile, sheet PDF, thumbnail) saves that second fsync, which
was half the cost of writing a tile: a crash can at worst lose the names of the last objects written.
On journalling file systems (ext4, XFS) renames reach the disk in the order they were made and every
later fsync (the database's commit on the same disk, the next original) takes them along, so a pyramid's
descriptor, written after its tiles, is never there without them; a lost descriptor is rendered again.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from storage.blobstore.base import (
    CHUNK_SIZE,
    RESERVED_PREFIX,
    BlobInfo,
    HashingReader,
    InvalidKey,
    OriginalImmutable,
    Readable,
    check_expiry,
    check_key,
    check_prefix,
    check_write,
    is_original,
    original_key,
    sha256_of_original,
)
from storage.errors import BlobNotFound, StorageError, StoreUnavailable

_RESERVED_FOLDER = RESERVED_PREFIX.rstrip("/")


@dataclass(frozen=True)
class _Written:
    """A complete, verified temporary file waiting to be renamed into place."""

    path: Path
    size: int
    sha256: str
    stat: os.stat_result


class LocalBlobStore:
    """:class:`~storage.blobstore.BlobStore` in a folder; the folder is created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._root_text = str(self.root)
        self._temporary = self.root / _RESERVED_FOLDER / "tmp"
        self._metadata = self.root / _RESERVED_FOLDER / "meta"

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    @property
    def reads_without_blocking(self) -> bool:
        return True

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
        written = self._write_temporary(stream, expected_size=expected_size, expected_sha256=expected)
        return self._install(key, written, content_type)

    def put_original(self, stream: Readable, *, content_type: str, expected_sha256: str | None = None) -> BlobInfo:
        expected = check_write(None, content_type, expected_sha256)
        written = self._write_temporary(stream, expected_size=None, expected_sha256=expected)
        key = original_key(written.sha256)
        try:
            present = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            present = None
        # Same hash and size: the same bytes are already there, and originals are never rewritten.
        # A different size means the stored copy is damaged, and the verified upload replaces it.
        if present is not None and present.st_size == written.size:
            written.path.unlink(missing_ok=True)
            return self.stat(key)
        return self._install(key, written, content_type)

    def _write_temporary(self, stream: Readable, *, expected_size: int | None, expected_sha256: str | None) -> _Written:
        with _unavailable_on_os_error("create a temporary file"):
            self._temporary.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=self._temporary, prefix="upload-")
        path = Path(name)
        reader = HashingReader(stream, expected_size=expected_size)
        try:
            with os.fdopen(descriptor, "wb") as file:
                # The caller's stream raises its own errors; only the writing side is the store's.
                while chunk := reader.read(CHUNK_SIZE):
                    with _unavailable_on_os_error("write"):
                        file.write(chunk)
                digest = reader.verify(expected_sha256=expected_sha256)
                with _unavailable_on_os_error("flush to disk"):
                    file.flush()
                    os.fsync(file.fileno())
                    status = os.fstat(file.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Written(path=path, size=reader.size, sha256=digest, stat=status)

    def _install(self, key: str, written: _Written, content_type: str) -> BlobInfo:
        target = self._path(key)
        try:
            # The record goes first: until the rename it describes a file that is not there yet and
            # is ignored, after it both agree. The reverse order would leave a window of wrong types.
            record = {
                "content_type": content_type,
                "sha256": written.sha256,
                "fingerprint": _fingerprint(written.stat),
            }
            self._write_record(key, record)
            with _unavailable_on_os_error("rename into place"), _key_conflict(key):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(written.path, target)
                if is_original(key):
                    _fsync_folder(target.parent)
        finally:
            written.path.unlink(missing_ok=True)
        return BlobInfo(
            key=key,
            size=written.size,
            sha256=written.sha256,
            content_type=content_type,
            etag=written.sha256,
            last_modified=_modified(written.stat),
        )

    def _write_record(self, key: str, record: Mapping[str, object]) -> None:
        target = self._record_path(key)
        with _unavailable_on_os_error("write metadata"), _key_conflict(key):
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=self._temporary, prefix="meta-")
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                    json.dump(record, file, ensure_ascii=False)
                os.replace(name, target)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise

    # -- reading ---------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        # Plain strings rather than Path objects: the web process opens a tile file per request.
        path = os.path.join(self._root_text, *check_key(key).split("/"))
        try:
            return open(path, "rb")  # the caller closes it
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise _not_found(key) from None

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise ValueError(f"start and length must not be negative, got {start}, {length}")
        with self.open(key) as file:
            # Never ask for more than the file holds: the read would allocate the whole length first.
            available = max(0, os.fstat(file.fileno()).st_size - start)
            file.seek(start)
            return file.read(min(length, available))

    def stat(self, key: str) -> BlobInfo:
        path = self._path(key)
        try:
            status = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(key) from None
        if not path.is_file():
            raise _not_found(key)
        record = self._read_record(key, status)
        sha256 = record.get("sha256") or sha256_of_original(key)
        content_type = record.get("content_type") or mimetypes.guess_type(key)[0] or "application/octet-stream"
        return BlobInfo(
            key=key,
            size=status.st_size,
            sha256=sha256,
            content_type=content_type,
            etag=sha256 or f"{status.st_size:x}-{status.st_mtime_ns:x}",
            last_modified=_modified(status),
        )

    def _read_record(self, key: str, status: os.stat_result) -> dict[str, str]:
        try:
            record = json.loads(self._record_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(record, dict) or record.get("fingerprint") != _fingerprint(status):
            return {}
        return {name: value for name, value in record.items() if isinstance(value, str)}

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path:
        """The file holding the object, for web responses that send files themselves (range requests)."""
        path = self._path(key)
        if not path.is_file():
            raise _not_found(key)
        return path

    def url(self, key: str, *, expires_seconds: int, filename: str | None = None) -> str | None:
        check_key(key)
        check_expiry(expires_seconds)
        return None

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        folder, _, partial = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        yield from self._walk(start, f"{folder}/" if folder else "", partial)

    def _walk(self, folder: Path, key_prefix: str, partial: str) -> Iterator[str]:
        try:
            with os.scandir(folder) as scan:
                entries = [(entry, entry.is_dir(follow_symlinks=False)) for entry in scan]
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sorting a folder's entries with '/' after each subfolder name gives the order of whole keys.
        entries.sort(key=lambda item: (item[0].name + ("/" if item[1] else "")).encode("utf-8", "surrogateescape"))
        for entry, is_folder in entries:
            if not entry.name.startswith(partial):
                continue
            key = key_prefix + entry.name
            if is_folder:
                if key != _RESERVED_FOLDER:
                    yield from self._walk(Path(entry.path), key + "/", "")
            elif entry.is_file(follow_symlinks=False) and _is_listable(key):
                yield key

    # -- removing and checking -------------------------------------------------------------------

    def delete(self, key: str) -> None:
        check_key(key)
        if is_original(key):
            raise OriginalImmutable(key)
        try:
            self._path(key).unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise _not_found(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"对象存储无法删除 / cannot delete {key!r}: {exc}") from exc
        self._record_path(key).unlink(missing_ok=True)

    def check(self) -> None:
        with _unavailable_on_os_error("prepare the folder"):
            self._temporary.mkdir(parents=True, exist_ok=True)
            self._metadata.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK) or not os.access(self._temporary, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"对象存储目录不可写 / object store folder is not writable: {self.root}")

    def sweep_temporary(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Remove temporary files left by writes that died half-way; returns how many.

        ``older_than`` must exceed the longest upload, or a write still in progress loses its file.
        """
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(self._temporary) as scan:
            for entry in scan:
                with contextlib.suppress(FileNotFoundError):
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    # -- paths -----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _record_path(self, key: str) -> Path:
        *folders, name = key.split("/")
        return self._metadata.joinpath(*folders, name + ".json")


def _fingerprint(status: os.stat_result) -> list[int]:
    return [status.st_ino, status.st_size, status.st_mtime_ns]


def _modified(status: os.stat_result) -> datetime:
    return datetime.fromtimestamp(status.st_mtime_ns / 1e9, tz=UTC)


def _is_listable(key: str) -> bool:
    try:
        check_key(key)
    except InvalidKey:
        return False  # a file put there by hand, under a name no key can have
    return True


def _not_found(key: str) -> BlobNotFound:
    return BlobNotFound(f"对象不存在 / no object under key {key!r}")


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder entry itself reaches the disk.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _unavailable_on_os_error(action: str) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StoreUnavailable(
            f"对象存储无法{_ACTIONS_ZH.get(action, '写入')} / object store cannot {action}: {exc}"
        ) from exc


@contextlib.contextmanager
def _key_conflict(key: str) -> Iterator[None]:
    # On disk a key cannot be both an object and a folder of other objects ('a' and 'a/b').
    try:
        yield
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise InvalidKey(key, "conflicts with an existing key that is a folder on disk") from None


_ACTIONS_ZH = {
    "create a temporary file": "创建临时文件",
    "write": "写入",
    "flush to disk": "写入磁盘",
    "rename into place": "保存对象",
    "write metadata": "写入元数据",
    "prepare the folder": "准备目录",
}
