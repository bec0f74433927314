"""Decide what an uploaded file is from its first bytes, never from its name (一窗受理 accepts PDF, DXF, ZIP)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SNIFF_BYTES = 4096
"""How many leading bytes :func:`sniff` needs to decide."""


class FileKind(StrEnum):
    PDF = "pdf"
    DXF_ASCII = "dxf"
    DXF_BINARY = "dxf-binary"
    ZIP = "zip"
    DWG = "dwg"
    UNKNOWN = "unknown"


MEDIA_TYPES: dict[FileKind, str] = {
    FileKind.PDF: "application/pdf",
    FileKind.DXF_ASCII: "image/vnd.dxf",
    FileKind.DXF_BINARY: "image/vnd.dxf",
    FileKind.ZIP: "application/zip",
    FileKind.DWG: "image/vnd.dwg",
    FileKind.UNKNOWN: "application/octet-stream",
}

_BINARY_DXF = b"AutoCAD Binary DXF\r\n\x1a\x00"
# An ASCII DXF opens with group code 0 and SECTION (or, for the tiniest R12 files, ENTITIES) or a
# comment (group code 999); code pages and line endings vary, so match loosely on the first pairs.
_ASCII_DXF = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:999\r?\n[^\n]*\r?\n\s*)*0\r?\n\s*(?:SECTION|EOF)\s*\r?\n")
_DWG = re.compile(rb"\AAC10(?:0[2-9]|1[0-9]|2[0-9]|3[0-9])")


@dataclass(frozen=True)
class Sniffed:
    """What the leading bytes say a file is."""

    kind: FileKind
    """The decided kind; UNKNOWN when nothing matched."""
    media_type: str
    """MIME type stored with the original."""


def sniff(head: bytes) -> Sniffed:
    """Decide the kind of a file from its first :data:`SNIFF_BYTES` bytes."""
    kind = _kind(head)
    return Sniffed(kind=kind, media_type=MEDIA_TYPES[kind])


def _kind(head: bytes) -> FileKind:
    if head.startswith(_BINARY_DXF):
        return FileKind.DXF_BINARY
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return FileKind.ZIP
    if _DWG.match(head):
        return FileKind.DWG
    # PDF readers accept the header anywhere in the first kilobyte; so do we, after the formats
    # whose magic must stand at offset 0 (a stored ZIP member may itself begin with %PDF-).
    if b"%PDF-" in head[:1024]:
        return FileKind.PDF
    if _ASCII_DXF.match(head):
        return FileKind.DXF_ASCII
    return FileKind.UNKNOWN
