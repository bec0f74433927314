"""ZIP archives at intake: drawings come out by content, hostile archives are refused with a code."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from dataclasses import dataclass

import pytest

from review.archives import (
    ArchiveLimits,
    ArchiveRefused,
    MemberStream,
    inspect_zip,
    iter_members,
    select_drawings,
    verify_member,
)
from review.filetypes import FileKind
from tests.app.intake.makers import layout_dxf, title_block_pdf

GBK_NAME = "三层平面图.dxf"


@dataclass(frozen=True)
class RawEntry:
    """One member of a hand-built archive: every header field as it will be written, true or not."""

    name: bytes
    data: bytes
    """The member's bytes as stored (already compressed when ``method`` is 8)."""
    size: int
    crc: int
    method: int = 0
    flags: int = 0
    external_attr: int = 0
    create_system: int = 0
    extra: bytes = b""


def stored(name: str | bytes, content: bytes, **fields: int) -> RawEntry:
    raw = name.encode() if isinstance(name, str) else name
    flags = fields.pop("flags", 0x800 if isinstance(name, str) and not name.isascii() else 0)
    return RawEntry(raw, content, len(content), zlib.crc32(content), flags=flags, **fields)


def raw_zip(*entries: RawEntry) -> bytes:
    """A ZIP written field by field, so that names, flags and sizes can say what zipfile would never write."""
    out = io.BytesIO()
    directory = io.BytesIO()
    for entry in entries:
        offset = out.tell()
        common = struct.pack(
            "<HHHHLLLH", entry.flags, entry.method, 0, 0x21, entry.crc, len(entry.data), entry.size, len(entry.name)
        )
        extra = struct.pack("<H", len(entry.extra))
        out.write(b"PK\x03\x04" + struct.pack("<H", 20) + common + extra + entry.name + entry.extra + entry.data)
        directory.write(
            b"PK\x01\x02"
            + struct.pack("<BBH", 20, entry.create_system, 20)
            + common
            + extra
            + struct.pack("<HHHLL", 0, 0, 0, entry.external_attr, offset)
            + entry.name
            + entry.extra
        )
    start = out.tell()
    central = directory.getvalue()
    out.write(central)
    out.write(b"PK\x05\x06" + struct.pack("<HHHHLLH", 0, 0, len(entries), len(entries), len(central), start, 0))
    return out.getvalue()


def drawings_zip(**extra: bytes) -> bytes:
    """An archive as a designer sends it: a PDF set, a DXF, and the clutter desktop systems add."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("建筑/建施-01.pdf", title_block_pdf())
        archive.writestr("建筑/", b"")
        archive.writestr("结构/结施-01.dxf", layout_dxf("结施-01", "基础平面图"))
        archive.writestr("说明.txt", "设计说明")
        archive.writestr("__MACOSX/建筑/._建施-01.pdf", b"\x00\x05\x16\x07")
        archive.writestr("Thumbs.db", b"\xd0\xcf\x11\xe0")
        for name, content in extra.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zero_bomb(blocks: int = 1023) -> bytes:
    """About ``blocks`` MiB of zeros, deflated in a few milliseconds: one fully flushed block repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = bytes(1024**2)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert first == again  # a full flush resets the history, so every block compresses alike
    return first + again * (blocks - 1) + compressor.flush()


def _expand(data: bytes, limits: ArchiveLimits | None = None) -> None:
    for member in iter_members(data, limits):
        verify_member(member)


def _drain(stream: MemberStream) -> None:
    while stream.read(4096):
        pass


def _refusal(data: bytes, limits: ArchiveLimits | None = None) -> ArchiveRefused:
    with pytest.raises(ArchiveRefused) as caught:
        _expand(data, limits)
    return caught.value


def test_pdf_and_dxf_members_are_taken_by_content_and_the_rest_listed() -> None:
    data = drawings_zip(**{"图纸.dat": title_block_pdf(), "照片.jpg": b"\xff\xd8\xff\xe0JFIF"})
    listing = inspect_zip(data)
    selection = select_drawings(data, listing)

    assert [(m.name, m.kind) for m in selection.members] == [
        ("建筑/建施-01.pdf", FileKind.PDF),
        ("结构/结施-01.dxf", FileKind.DXF_ASCII),
        ("图纸.dat", FileKind.PDF),  # a PDF under another extension is still a PDF
    ]
    for member in selection.members:
        with member.open() as stream:
            assert len(stream.read()) == member.size
    skipped = next(f for f in selection.findings if f.code == "ARCHIVE_MEMBERS_SKIPPED")
    for name in ("说明.txt", "照片.jpg", "Thumbs.db", "__MACOSX/建筑/._建施-01.pdf"):
        assert name in skipped.zh
        assert name in skipped.en


def test_member_bytes_are_the_original_bytes() -> None:
    pdf = title_block_pdf()
    data = raw_zip(stored("a.pdf", pdf))
    (member,) = iter_members(data)
    with member.open() as stream:
        assert stream.read(10) + stream.read() == pdf


def test_gbk_names_without_the_utf8_flag_are_decoded() -> None:
    dxf = layout_dxf()
    data = raw_zip(stored(GBK_NAME.encode("gbk"), dxf), stored("图纸/建施-01.pdf", title_block_pdf()))
    listing = inspect_zip(data)

    assert [e.name for e in listing.entries] == [GBK_NAME, "图纸/建施-01.pdf"]
    assert [f.code for f in listing.findings] == ["ARCHIVE_NAMES_GBK"]
    (first, _) = select_drawings(data, listing).members
    assert first.kind is FileKind.DXF_ASCII
    assert first.open().read() == dxf


def test_an_info_zip_unicode_path_field_names_the_member() -> None:
    raw = "平面图.pdf".encode("gbk")
    field = struct.pack("<B", 1) + struct.pack("<L", zlib.crc32(raw)) + "一层平面图.pdf".encode()
    extra = struct.pack("<HH", 0x7075, len(field)) + field
    listing = inspect_zip(raw_zip(stored(raw, b"%PDF-1.7\n", extra=extra)))
    assert listing.entries[0].name == "一层平面图.pdf"
    # A field written for another name (the name was changed since) is ignored.
    stale = struct.pack("<HH", 0x7075, len(field)) + field[:1] + struct.pack("<L", 0) + field[5:]
    listing = inspect_zip(raw_zip(stored(raw, b"%PDF-1.7\n", extra=stale)))
    assert listing.entries[0].name == "平面图.pdf"


class _Unseekable(io.RawIOBase):
    """A pipe-like sink: zipfile then writes sizes after the data, in data descriptors (flag bit 3)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_members_followed_by_data_descriptors_are_read() -> None:
    sink = _Unseekable()
    pdf = title_block_pdf()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("建施-01.pdf", pdf)
        archive.writestr("结施-01.dxf", layout_dxf("结施-01"))
    data = bytes(sink.data)
    assert struct.unpack_from("<H", data, 6)[0] & 0x8
    members = list(iter_members(data))
    assert [m.kind for m in members] == [FileKind.PDF, FileKind.DXF_ASCII]
    assert members[0].open().read() == pdf


def test_windows_backslash_separators_become_folders() -> None:
    listing = inspect_zip(
        raw_zip(stored("建筑\\建施-01.pdf", b"%PDF-1.7\n"), stored("./结构//结施-01.pdf", b"%PDF-1.7\n"))
    )
    assert [entry.name for entry in listing.entries] == ["建筑/建施-01.pdf", "结构/结施-01.pdf"]


@pytest.mark.parametrize(
    "name",
    ["../evil.pdf", "图纸/../../evil.pdf", "/etc/evil.pdf", "C:/Windows/evil.pdf", "c:evil.pdf", "..\\evil.pdf",
     "图纸\\..\\..\\evil.pdf", "evil.pdf\x00.txt", "\\\\server\\share\\evil.pdf", "", "./", "a/."],
)  # fmt: skip
def test_names_that_escape_the_folder_are_refused(name: str) -> None:
    refusal = _refusal(raw_zip(stored("ok.pdf", b"%PDF-1.7\n"), stored(name, b"%PDF-1.7\n")))
    assert refusal.finding.code == "ARCHIVE_UNSAFE_PATH"
    assert refusal.zh
    assert refusal.en


def test_a_symbolic_link_is_refused() -> None:
    link = stored("link.pdf", b"/etc/passwd", external_attr=0o120777 << 16, create_system=3)
    assert _refusal(raw_zip(stored("a.pdf", b"%PDF-1.7\n"), link)).finding.code == "ARCHIVE_SYMLINK"


def test_an_encrypted_member_is_refused() -> None:
    # Traditional PKWARE encryption only sets bit 0 of the flags; the content does not matter for the refusal.
    refusal = _refusal(raw_zip(stored("a.pdf", b"%PDF-1.7\n", flags=0x1)))
    assert refusal.finding.code == "ARCHIVE_ENCRYPTED"
    assert "密码" in refusal.zh


def test_an_unknown_compression_method_is_refused() -> None:
    content = b"%PDF-1.7\n"
    entry = RawEntry(b"a.pdf", content, len(content), zlib.crc32(content), method=14)  # LZMA
    assert _refusal(raw_zip(entry)).finding.code == "ARCHIVE_UNSUPPORTED_METHOD"


def test_the_same_name_twice_is_refused() -> None:
    data = raw_zip(stored("建施-01.pdf", b"%PDF-1.7\n1"), stored("建施-01.PDF", b"%PDF-1.7\n2"))
    assert _refusal(data).finding.code == "ARCHIVE_DUPLICATE_NAME"


def test_too_many_members_are_refused() -> None:
    data = raw_zip(*(stored(f"{n}.pdf", b"%PDF-1.7\n") for n in range(5)))
    refusal = _refusal(data, ArchiveLimits(max_members=4))
    assert refusal.finding.code == "ARCHIVE_TOO_MANY_MEMBERS"


def test_declared_sizes_beyond_the_limits_are_refused_before_inflating() -> None:
    bomb = zero_bomb(8)
    honest = RawEntry(b"zeros.pdf", bomb, 8 * 1024**2, 0, method=8)
    assert _refusal(raw_zip(honest)).finding.code == "ARCHIVE_RATIO"
    small = ArchiveLimits(max_member_bytes=1024**2)
    assert _refusal(raw_zip(honest), small).finding.code == "ARCHIVE_MEMBER_TOO_LARGE"
    total = ArchiveLimits(max_total_bytes=1024, ratio_floor_bytes=10**9)
    pdfs = raw_zip(stored("a.pdf", b"%PDF-1.7\n" + bytes(600)), stored("b.pdf", b"%PDF-1.7\n" + bytes(600)))
    assert _refusal(pdfs, total).finding.code == "ARCHIVE_TOO_LARGE"


def test_overlapping_members_are_caught_by_the_ratio_of_the_whole_file() -> None:
    # Each entry declares a plausible 150:1, but all of them point at the same compressed bytes.
    bomb = zero_bomb(2)
    entry = RawEntry(b"0.pdf", bomb, 2 * 1024**2, 0, method=8)
    single = raw_zip(entry)
    # 400 directory records sharing one local header (offset 0): the whole file stays small.
    record_at = single.index(b"PK\x01\x02")
    record = single[record_at : single.index(b"PK\x05\x06")]
    records = b"".join(
        record[:-5] + f"{n:>05}".encode()
        for n in range(400)  # names of equal length, all different
    )
    eocd = b"PK\x05\x06" + struct.pack("<HHHHLLH", 0, 0, 400, 400, len(records), record_at, 0)
    refusal = _refusal(single[:record_at] + records + eocd, ArchiveLimits(max_ratio=1000))
    assert refusal.finding.code == "ARCHIVE_RATIO"


def test_a_zip_bomb_with_lying_headers_is_cut_off_while_inflating() -> None:
    bomb = zero_bomb()  # ~1 GiB of zeros in ~1 MB
    head = b"%PDF-1.7\n"
    # The headers claim 2 KiB: the ratio check on the directory passes, the inflated stream must not.
    lying = RawEntry(b"plan.pdf", bomb, 2048, zlib.crc32(head), method=8)
    data = raw_zip(lying)
    tracemalloc.start()
    started = time.monotonic()
    try:
        refusal = _refusal(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refusal.finding.code == "ARCHIVE_SIZE_MISMATCH"
    assert time.monotonic() - started < 2
    assert peak < 64 * 1024**2


def test_a_member_inflating_past_its_declared_size_stops_at_that_byte() -> None:
    content = b"%PDF-1.7\n" + bytes(200_000)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(content) + compressor.flush()
    lying = RawEntry(b"a.pdf", deflated, 100_000, zlib.crc32(content[:100_000]), method=8)
    (member,) = select_drawings(raw_zip(lying), inspect_zip(raw_zip(lying))).members
    stream = member.open()
    with pytest.raises(ArchiveRefused) as caught:
        _drain(stream)
    assert caught.value.finding.code == "ARCHIVE_SIZE_MISMATCH"
    assert stream.produced <= 100_000 + 4096


def test_a_wrong_crc_is_refused() -> None:
    content = b"%PDF-1.7\n" + b"x" * 100
    entry = RawEntry(b"a.pdf", content, len(content), zlib.crc32(content) ^ 1)
    assert _refusal(raw_zip(entry)).finding.code == "ARCHIVE_CRC_MISMATCH"


def test_a_truncated_archive_is_refused() -> None:
    data = drawings_zip()
    assert _refusal(data[: len(data) // 2]).finding.code == "ARCHIVE_CORRUPT"
    # Directory intact, member data gone: the local header no longer matches.
    directory = data.index(b"PK\x01\x02")
    damaged = b"\x00" * directory + data[directory:]
    assert _refusal(damaged).finding.code == "ARCHIVE_CORRUPT"


def test_nested_archives_are_skipped_with_a_finding() -> None:
    inner = drawings_zip()
    data = drawings_zip(**{"旧版/图纸.zip": inner})
    selection = select_drawings(data, inspect_zip(data))
    nested = next(f for f in selection.findings if f.code == "ARCHIVE_NESTED")
    assert "旧版/图纸.zip" in nested.zh
    assert all(member.kind is not FileKind.ZIP for member in selection.members)


def test_an_archive_without_drawings_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("说明.txt", "设计说明")
    assert _refusal(buffer.getvalue()).finding.code == "ARCHIVE_NO_DRAWINGS"


def test_limits_follow_the_upload_limit() -> None:
    limits = ArchiveLimits.for_upload(100 * 1024**2)
    assert limits.max_member_bytes == 100 * 1024**2
    assert limits.max_total_bytes == 500 * 1024**2
