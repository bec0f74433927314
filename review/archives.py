"""ZIP archives of drawings at intake (一窗受理 accepts PDF, DXF and ZIP archives of them), read defensively.

An archive is first listed from its central directory (:func:`inspect_zip`): every name, size and flag is
checked before a byte is inflated, and a hostile archive is refused as a whole with :class:`ArchiveRefused`
(path traversal, absolute paths, drive letters, NUL, symbolic links, encryption, unknown compression,
duplicated names, too many members, sizes or compression ratios beyond :class:`ArchiveLimits`).

Members are then inflated by our own streaming reader rather than :mod:`zipfile`'s, so that what is
counted is what comes out: a member that inflates past its declared size is cut off at that byte, while
decompressing, and a CRC or size that does not match at the end refuses the archive. Only PDF and DXF
members, judged by their content, are taken (:func:`select_drawings`); anything else is skipped with a
finding, nested archives included (no nesting is ever expanded).

Nothing here writes files: members are streams for the caller to store.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from review.errors import UnreadableDrawing
from review.filetypes import SNIFF_BYTES, FileKind, sniff
from review.sheets.findings import Finding, Severity

STORED = 0
DEFLATED = 8
_SUPPORTED_METHODS = frozenset({STORED, DEFLATED})
_FLAG_ENCRYPTED = 0x1
_FLAG_STRONG_ENCRYPTION = 0x40
_FLAG_UTF8 = 0x800
_METHOD_AES = 99
_UNICODE_PATH = 0x7075

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_READ_CHUNK = 64 * 1024

DRAWING_KINDS = frozenset({FileKind.PDF, FileKind.DXF_ASCII, FileKind.DXF_BINARY})
"""What is taken out of an archive; everything else is skipped with a finding."""

# Left behind by desktop systems, never drawings: skipped without being read.
_SYSTEM_FOLDERS = ("__MACOSX/",)
_SYSTEM_FILES = frozenset({"thumbs.db", ".ds_store", "desktop.ini"})
_DRIVE = re.compile(r"\A[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    """How far an archive may go before it is refused (压缩包限制)."""

    max_members: int = 2000
    """Entries in the central directory, folders included."""
    max_member_bytes: int = 2 * 1024**3
    """Uncompressed size of one member; the upload limit, since a member becomes an original of its own."""
    max_total_bytes: int = 10 * 1024**3
    """Uncompressed size of all members together."""
    max_ratio: float = 200.0
    """Uncompressed / compressed size, per member and for the whole archive."""
    ratio_floor_bytes: int = 1024**2
    """Sizes below this are not judged by ratio: a small run of blank lines compresses far beyond any limit."""

    @classmethod
    def for_upload(cls, max_upload_bytes: int, *, total_factor: int = 5) -> ArchiveLimits:
        """Limits under an upload limit: a member at most that, all members ``total_factor`` times that."""
        return cls(max_member_bytes=max_upload_bytes, max_total_bytes=max_upload_bytes * total_factor)


class ArchiveRefused(UnreadableDrawing):
    """An archive that is not expanded at all; :attr:`finding` says why in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.finding = Finding(code, Severity.ERROR, zh, en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class ArchiveEntry:
    """One file member as listed in the central directory, after every header check passed."""

    name: str
    """Path inside the archive, ``/``-separated, decoded (UTF-8 or GBK) and NFC-normalised."""
    size: int
    """Declared uncompressed size (checked again while inflating)."""
    compressed_size: int
    crc: int
    method: int
    header_offset: int
    raw_name: bytes
    """The name's bytes as stored, to match the local header against."""


@dataclass(frozen=True)
class ArchiveListing:
    """What the central directory of an archive holds."""

    entries: tuple[ArchiveEntry, ...]
    """File members to look at, in directory order."""
    ignored: tuple[str, ...]
    """System files (``__MACOSX/``, ``Thumbs.db``, …) skipped without reading; folders are not listed."""
    findings: tuple[Finding, ...]
    """About the archive as a whole (names decoded from GBK, …)."""
    total_size: int
    """Sum of the declared uncompressed sizes of :attr:`entries`."""


@dataclass(frozen=True)
class Member:
    """A PDF or DXF member, ready to be streamed out."""

    name: str
    size: int
    kind: FileKind
    entry: ArchiveEntry = field(repr=False)
    _source: BinaryIO = field(repr=False)
    _limits: ArchiveLimits = field(repr=False)

    def open(self) -> MemberStream:
        """A fresh stream of the member's inflated bytes (checked for size and CRC as they pass)."""
        return MemberStream(self._source, self.entry, self._limits)


@dataclass(frozen=True)
class Selection:
    """The members of an archive that are drawings, and what was left out."""

    members: tuple[Member, ...]
    findings: tuple[Finding, ...]
    """The listing's findings, then one per kind of skipped member (nested archives, other files)."""


def _refuse(code: str, zh: str, en: str) -> ArchiveRefused:
    return ArchiveRefused(code, zh, en)


def _as_stream(source: bytes | BinaryIO) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    if not source.seekable():
        raise ValueError("a ZIP archive is read from its end: the stream must be seekable")
    return source


def _stream_length(stream: BinaryIO) -> int:
    position = stream.tell()
    length = stream.seek(0, io.SEEK_END)
    stream.seek(position)
    return length


def decode_name(info: zipfile.ZipInfo) -> tuple[str, bytes, bool]:
    """The member name, its stored bytes, and whether it had to be decoded as GBK.

    Chinese Windows writes names in GBK without the UTF-8 flag (bit 11); zipfile then decodes them as
    cp437. The bytes are recovered from that (cp437 maps all 256 values); an Info-ZIP Unicode Path
    field for them wins, else they are decoded as UTF-8 when they are valid UTF-8, else as GB18030
    (a superset of GBK), else kept as cp437.
    """
    if info.flag_bits & _FLAG_UTF8:
        return info.orig_filename, info.orig_filename.encode("utf-8"), False
    raw = info.orig_filename.encode("cp437")
    unicode_path = _unicode_path(info.extra, raw)
    if unicode_path is not None:
        return unicode_path, raw, False
    if raw.isascii():
        return raw.decode("ascii"), raw, False
    try:
        return raw.decode("utf-8"), raw, False
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), raw, True
    except UnicodeDecodeError:
        return info.orig_filename, raw, False


def _unicode_path(extra: bytes, raw: bytes) -> str | None:
    """The UTF-8 name of an Info-ZIP Unicode Path field (0x7075), when it belongs to this very name."""
    offset = 0
    while offset + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + length]
        offset += 4 + length
        # Version 1, then the CRC-32 of the name it stands for: a name changed by a later tool no longer matches.
        if kind == _UNICODE_PATH and len(body) > 5 and body[0] == 1:
            if struct.unpack_from("<L", body, 1)[0] != zlib.crc32(raw):
                return None
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _check_path(name: str) -> str:
    """The member's path with ``/`` separators, or ArchiveRefused when it could escape the target folder."""
    shown = name.replace("\x00", "\\0")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise _refuse(
            "ARCHIVE_UNSAFE_PATH",
            f"压缩包内文件名含控制字符（如 NUL）：{shown!r}",
            f"a member name holds control characters (such as NUL): {shown!r}",
        )
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise _refuse(
            "ARCHIVE_UNSAFE_PATH",
            f"压缩包内含绝对路径：{name}",
            f"a member has an absolute path: {name}",
        )
    parts = path.split("/")
    if ".." in parts:
        raise _refuse(
            "ARCHIVE_UNSAFE_PATH",
            f"压缩包内路径指向包外（..）：{name}",
            f"a member path leads outside the archive (..): {name}",
        )
    kept = [part for part in parts[:-1] if part not in ("", ".")]
    if parts[-1] == "." or not (kept or parts[-1]):
        raise _refuse(
            "ARCHIVE_UNSAFE_PATH",
            f"压缩包内文件名为空或无效：{name!r}",
            f"a member name is empty or not valid: {name!r}",
        )
    return "/".join([*kept, parts[-1]])


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix tools keep st_mode in the high 16 bits; other systems leave them zero.
    return stat.S_ISLNK(info.external_attr >> 16)


def _is_system_file(path: str) -> bool:
    return path.startswith(_SYSTEM_FOLDERS) or path.rsplit("/", 1)[-1].lower() in _SYSTEM_FILES


def _ratio_exceeded(size: int, compressed: int, limits: ArchiveLimits) -> bool:
    return size > limits.ratio_floor_bytes and size > limits.max_ratio * max(compressed, 1)


def _check_entry(info: zipfile.ZipInfo, name: str, limits: ArchiveLimits) -> None:
    if _is_symlink(info):
        raise _refuse("ARCHIVE_SYMLINK", f"压缩包内含符号链接：{name}", f"the archive holds a symbolic link: {name}")
    if info.flag_bits & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION) or info.compress_type == _METHOD_AES:
        raise _refuse(
            "ARCHIVE_ENCRYPTED",
            f"压缩包内文件已加密：{name}。请去掉密码后重新打包上传",
            f"a member is encrypted: {name}. Pack the archive again without a password",
        )
    if info.compress_type not in _SUPPORTED_METHODS:
        raise _refuse(
            "ARCHIVE_UNSUPPORTED_METHOD",
            f"压缩包内文件使用了不支持的压缩方式（{info.compress_type}）：{name}。请用标准 ZIP（Deflate）重新打包",
            f"a member uses an unsupported compression method ({info.compress_type}): {name}. "
            "Pack it again as a standard (Deflate) ZIP",
        )
    if info.file_size > limits.max_member_bytes:
        raise _refuse(
            "ARCHIVE_MEMBER_TOO_LARGE",
            f"压缩包内文件解压后超过 {limits.max_member_bytes // 1024**2} MB：{name}",
            f"a member is larger than {limits.max_member_bytes // 1024**2} MB uncompressed: {name}",
        )
    if _ratio_exceeded(info.file_size, info.compress_size, limits):
        raise _refuse(
            "ARCHIVE_RATIO",
            f"压缩包内文件压缩比异常（超过 {limits.max_ratio:g}:1），疑似压缩炸弹：{name}",
            f"a member's compression ratio is beyond {limits.max_ratio:g}:1 (a likely zip bomb): {name}",
        )


def inspect_zip(source: bytes | BinaryIO, limits: ArchiveLimits | None = None) -> ArchiveListing:
    """List a ZIP archive from its central directory, refusing it (ArchiveRefused) when any header is unsafe."""
    limits = limits or ArchiveLimits()
    stream = _as_stream(source)
    archive_size = _stream_length(stream)
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, UnicodeDecodeError, ValueError, EOFError, OSError) as exc:
        raise _refuse(
            "ARCHIVE_CORRUPT",
            "压缩包已损坏或不完整，无法读取目录",
            f"the archive is damaged or incomplete; its directory cannot be read ({exc})",
        ) from exc
    if len(infos) > limits.max_members:
        raise _refuse(
            "ARCHIVE_TOO_MANY_MEMBERS",
            f"压缩包内文件过多（{len(infos)} 个，上限 {limits.max_members}）",
            f"the archive holds too many members ({len(infos)}; at most {limits.max_members})",
        )
    entries: list[ArchiveEntry] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    decoded_gbk = False
    for info in infos:
        raw_name, raw_bytes, from_gbk = decode_name(info)
        decoded_gbk = decoded_gbk or from_gbk
        path = _check_path(unicodedata.normalize("NFC", raw_name))
        folded = path.rstrip("/").casefold()
        if folded in seen:
            raise _refuse(
                "ARCHIVE_DUPLICATE_NAME",
                f"压缩包内有重名文件：{seen[folded]} 与 {path}",
                f"the archive holds the same name twice: {seen[folded]} and {path}",
            )
        seen[folded] = path
        _check_entry(info, path, limits)
        if path.endswith("/"):
            continue
        if _is_system_file(path):
            ignored.append(path)
            continue
        entries.append(
            ArchiveEntry(
                name=path,
                size=info.file_size,
                compressed_size=info.compress_size,
                crc=info.CRC,
                method=info.compress_type,
                header_offset=info.header_offset,
                raw_name=raw_bytes,
            )
        )
    total = sum(entry.size for entry in entries)
    if total > limits.max_total_bytes:
        raise _refuse(
            "ARCHIVE_TOO_LARGE",
            f"压缩包解压后超过 {limits.max_total_bytes // 1024**2} MB",
            f"the archive is larger than {limits.max_total_bytes // 1024**2} MB uncompressed",
        )
    # Members may share compressed data (overlapping entries): only the whole file's size bounds that.
    if _ratio_exceeded(total, archive_size, limits):
        raise _refuse(
            "ARCHIVE_RATIO",
            f"压缩包整体压缩比异常（超过 {limits.max_ratio:g}:1），疑似压缩炸弹",
            f"the archive's overall compression ratio is beyond {limits.max_ratio:g}:1 (a likely zip bomb)",
        )
    findings = []
    if decoded_gbk:
        findings.append(
            Finding(
                "ARCHIVE_NAMES_GBK",
                Severity.INFO,
                "压缩包内文件名按 GBK 编码识别",
                "member names were read as GBK (no UTF-8 flag)",
            )
        )
    return ArchiveListing(tuple(entries), tuple(ignored), tuple(findings), total)


class MemberStream:
    """Inflates one member from the archive, counting every byte against its declared size and CRC.

    Reads position the source themselves, so several members may be open on one source. A member
    that inflates beyond its declared size is refused at that byte; a short or damaged one at its end.
    """

    def __init__(self, source: BinaryIO, entry: ArchiveEntry, limits: ArchiveLimits) -> None:
        self._source = source
        self._entry = entry
        self._limits = limits
        self._position = self._data_offset()
        self._compressed_left = entry.compressed_size
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if entry.method == DEFLATED else None
        self._pending = b""
        self.produced = 0
        self._consumed = 0
        self._crc = 0
        self._finished = False

    def _data_offset(self) -> int:
        self._source.seek(self._entry.header_offset)
        header = self._source.read(_LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
            raise self._corrupt("没有本地文件头", "its local header is missing")
        fields = _LOCAL_HEADER.unpack(header)
        name_length: int = fields[-2]
        extra_length: int = fields[-1]
        if self._source.read(name_length) != self._entry.raw_name:
            raise self._corrupt("本地文件头与目录中的文件名不一致", "its local header names another file")
        return self._entry.header_offset + _LOCAL_HEADER.size + name_length + extra_length

    def _corrupt(self, zh: str, en: str, code: str = "ARCHIVE_CORRUPT") -> ArchiveRefused:
        name = self._entry.name
        return _refuse(code, f"压缩包内文件已损坏：{name}（{zh}）", f"a member is damaged: {name} ({en})")

    def _read_compressed(self, size: int) -> bytes:
        want = min(size, self._compressed_left)
        if want <= 0:
            return b""
        self._source.seek(self._position)
        data = self._source.read(want)
        if not data:
            raise self._corrupt("数据被截断", "its data is cut short")
        self._position += len(data)
        self._compressed_left -= len(data)
        self._consumed += len(data)
        return data

    def _inflate(self, size: int) -> bytes:
        inflater = self._inflater
        if inflater is None:
            return self._read_compressed(size)
        while True:
            if inflater.eof:
                return b""
            if inflater.unconsumed_tail:
                data = inflater.decompress(inflater.unconsumed_tail, size)
            elif self._compressed_left > 0:
                data = inflater.decompress(self._read_compressed(_READ_CHUNK), size)
            else:
                raise self._corrupt("压缩数据不完整", "its compressed data ends early")
            if data:
                return data

    def _count(self, data: bytes) -> None:
        self.produced += len(data)
        self._crc = zlib.crc32(data, self._crc)
        entry = self._entry
        if self.produced > entry.size:
            raise self._corrupt(
                f"解压后超过声明的 {entry.size} 字节，疑似压缩炸弹",
                f"it inflates beyond its declared {entry.size} bytes (a likely zip bomb)",
                "ARCHIVE_SIZE_MISMATCH",
            )
        if _ratio_exceeded(self.produced, self._consumed, self._limits):
            raise self._corrupt(
                f"压缩比超过 {self._limits.max_ratio:g}:1，疑似压缩炸弹",
                f"its compression ratio is beyond {self._limits.max_ratio:g}:1 (a likely zip bomb)",
                "ARCHIVE_RATIO",
            )

    def _finish(self) -> None:
        self._finished = True
        entry = self._entry
        if self.produced != entry.size:
            raise self._corrupt(
                f"解压得到 {self.produced} 字节，声明为 {entry.size} 字节",
                f"it inflates to {self.produced} bytes, not the declared {entry.size}",
                "ARCHIVE_SIZE_MISMATCH",
            )
        if self._crc != entry.crc:
            raise self._corrupt("CRC 校验失败", "its CRC check failed", "ARCHIVE_CRC_MISMATCH")

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` inflated bytes (all that is left when negative); empty at the end."""
        if size < 0:
            return b"".join(iter(lambda: self.read(_READ_CHUNK), b""))
        if self._finished or size == 0:
            return b""
        data = self._inflate(size)
        if data:
            self._count(data)
            return data
        self._finish()
        return b""

    def close(self) -> None:
        """Nothing to release: the source belongs to the caller."""

    def __enter__(self) -> MemberStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify_member(member: Member) -> str:
    """Inflate a whole member and return its SHA-256, so that a damaged archive is refused before anything is stored."""
    digest = hashlib.sha256()
    with member.open() as stream:
        while chunk := stream.read(1024**2):
            digest.update(chunk)
    return digest.hexdigest()


def _head(source: BinaryIO, entry: ArchiveEntry, limits: ArchiveLimits) -> bytes:
    stream = MemberStream(source, entry, limits)
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def select_drawings(
    source: bytes | BinaryIO, listing: ArchiveListing, limits: ArchiveLimits | None = None
) -> Selection:
    """The PDF and DXF members of a listed archive, by content; the rest become findings."""
    limits = limits or ArchiveLimits()
    stream = _as_stream(source)
    members: list[Member] = []
    nested: list[str] = []
    skipped: list[str] = list(listing.ignored)
    for entry in listing.entries:
        kind = sniff(_head(stream, entry, limits)).kind
        if kind in DRAWING_KINDS:
            members.append(Member(entry.name, entry.size, kind, entry, stream, limits))
        elif kind is FileKind.ZIP:
            nested.append(entry.name)
        else:
            skipped.append(entry.name)
    findings = list(listing.findings)
    if nested:
        findings.append(
            Finding(
                "ARCHIVE_NESTED",
                Severity.WARNING,
                f"压缩包内的压缩包不展开，请直接上传其中的图纸：{'、'.join(nested)}",
                f"archives inside the archive are not expanded; upload their drawings directly: {', '.join(nested)}",
            )
        )
    if skipped:
        findings.append(
            Finding(
                "ARCHIVE_MEMBERS_SKIPPED",
                Severity.INFO,
                f"以下文件不是 PDF 或 DXF 图纸，已跳过：{'、'.join(skipped)}",
                f"these members are not PDF or DXF drawings and were skipped: {', '.join(skipped)}",
            )
        )
    return Selection(tuple(members), tuple(findings))


def iter_members(source: bytes | BinaryIO, limits: ArchiveLimits | None = None) -> Iterator[Member]:
    """The PDF and DXF members of an archive; ArchiveRefused when the archive is unsafe or holds no drawing."""
    limits = limits or ArchiveLimits()
    stream = _as_stream(source)
    selection = select_drawings(stream, inspect_zip(stream, limits), limits)
    if not selection.members:
        raise no_drawings()
    yield from selection.members


def no_drawings() -> ArchiveRefused:
    """The refusal of an archive that holds no PDF or DXF drawing."""
    return _refuse(
        "ARCHIVE_NO_DRAWINGS",
        "压缩包内没有 PDF 或 DXF 图纸",
        "the archive holds no PDF or DXF drawing",
    )
