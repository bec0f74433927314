"""Reading uploaded DXF files (ASCII and binary, R12 to R2018, GBK code pages) into ezdxf documents.

A file is read strictly first; when that fails it is read again in ezdxf's recover mode, and what was
repaired becomes findings. Unreadable input raises :class:`~review.drawing.errors.UnreadableDxf`
(a :class:`review.errors.UnreadableDrawing`) with a Chinese and an English message.

ezdxf's recover mode reports nothing when a file was cut off inside ENTITIES: it simply returns fewer
entities. So the raw entity markers of the ENTITIES section are counted in the bytes and compared
with what was loaded, and a missing ``EOF`` marker is reported as truncation.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ezdxf import recover
from ezdxf.audit import AuditError, Auditor
from ezdxf.document import Drawing
from ezdxf.entities.dimension import Dimension
from ezdxf.filemanagement import read as read_text_stream
from ezdxf.lldxf.const import acad_release
from ezdxf.lldxf.tagger import binary_tags_loader
from ezdxf.lldxf.validator import dxf_info
from ezdxf.tools.codepage import toencoding

from review.drawing.errors import DrawingTooLarge, UnreadableDxf
from review.drawing.findings import Finding, Severity, finding
from review.drawing.gcpause import paused_gc

BINARY_SIGNATURE = b"AutoCAD Binary DXF\r\n\x1a\x00"
_ASCII_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:999\s*\r?\n[^\n]*\n\s*)*0\s*\r?\n\s*(?:SECTION|EOF)\s*\r?\n")
_ENTITY_MARKER = re.compile(rb"\n[ \t]*0[ \t]*\r?\n([A-Z][A-Z0-9_]*)[ \t]*\r?\n")
_UNICODE_ESCAPE = re.compile(r"\\U\+([0-9A-Fa-f]{4})")
_ANY_MARKER = re.compile(rb"\n[ \t]*0[ \t]*\r?\n[A-Z]")
_ENTITIES_START = re.compile(rb"\n[ \t]*2[ \t]*\r?\nENTITIES[ \t]*\r?\n")
_ENDSEC = re.compile(rb"\n[ \t]*0[ \t]*\r?\nENDSEC[ \t]*\r?\n")
_EOF = re.compile(rb"\n[ \t]*0[ \t]*\r?\nEOF[ \t]*(?:\r?\n|\Z)")
_CODEPAGE = re.compile(rb"\$DWGCODEPAGE[ \t]*\r?\n[ \t]*3[ \t]*\r?\n([^\r\n]*)")
# Sub-entities that ezdxf keeps inside their parent, not in the layout's entity list.
_NOT_TOP_LEVEL = frozenset({"VERTEX", "SEQEND", "ATTRIB", "ENDSEC", "EOF", "SECTION", "ENDBLK"})


@dataclass(frozen=True)
class ReadOptions:
    """How :func:`read_dxf` reads a file."""

    max_entities: int = 2_000_000
    """Refuse files with more entity markers than this (all sections), before parsing them."""
    encoding: str | None = None
    """Text encoding to use instead of the one the file declares (R2004 and older only)."""
    guess_encoding: bool = True
    """For files without ``$DWGCODEPAGE``: take UTF-8 or GBK when the bytes decode cleanly as such."""
    audit: bool = True
    """Run ezdxf's auditor after a strict read and report what it repaired."""
    lost_entity_ratio: float = 0.05
    """Report lost entities when more than this share of the ENTITIES markers did not load."""


@dataclass(frozen=True)
class DxfReadResult:
    """A DXF document as read, and what was found wrong with the file."""

    doc: Drawing
    findings: tuple[Finding, ...]
    dxf_version: str
    """``AC1015`` etc."""
    release: str
    """``R2000`` etc."""
    encoding: str
    """Python codec the text was decoded with (``gbk`` for ANSI_936)."""
    binary: bool
    recovered: bool
    """The strict reader failed and ezdxf's recover mode produced the document."""
    entity_markers: int | None
    """Entity markers counted in the ENTITIES section of the bytes (None for binary files)."""
    entities_loaded: int
    """Entities of model space and the active paper space after reading."""
    codes: frozenset[str] = field(default=frozenset())
    """The finding codes, for quick membership tests."""


def read_dxf(data: bytes | BinaryIO, options: ReadOptions | None = None) -> DxfReadResult:
    """Read a DXF document from bytes or a binary stream."""
    options = options or ReadOptions()
    raw = data if isinstance(data, bytes | bytearray | memoryview) else data.read()
    raw = bytes(raw)
    if not raw.strip():
        raise UnreadableDxf("文件为空。", "The file is empty.")
    binary = raw.startswith(BINARY_SIGNATURE)
    if not binary and not _ASCII_START.match(raw[:4096]):
        raise UnreadableDxf(
            "文件不是 DXF 图纸（开头不是 DXF 段落）。", "The file is not a DXF drawing (no DXF section at its start)."
        )
    # Group code 0 followed by a type name starts every object; binary files are bounded by their size.
    total_markers = len(_ANY_MARKER.findall(raw)) if not binary else len(raw) // 64
    if total_markers > options.max_entities:
        raise DrawingTooLarge(
            f"图纸包含约 {total_markers} 个对象，超过上限 {options.max_entities}。",
            f"The drawing holds about {total_markers} objects, more than the limit of {options.max_entities}.",
        )
    findings: list[Finding] = []
    with _captured_ezdxf_log() as messages, paused_gc():
        if binary:
            doc, encoding, recovered = _read_binary(raw), "", False
        else:
            doc, encoding, recovered = _read_ascii(raw, options, findings)
        # Before the audit, which deletes dimensions without a graphics block.
        _rebuild_dimension_graphics(doc, findings)
        if not recovered and options.audit:
            _audit_findings(doc.audit(), findings, recovered=False)
    if binary:
        encoding = doc.encoding
    if messages:
        findings.append(
            finding(
                "DXF_READ_WARNINGS",
                Severity.INFO,
                f"读取时有 {len(messages)} 条警告。",
                f"{len(messages)} warnings while reading.",
                details=tuple(messages[:10]),
            )
        )
    markers = None if binary else _entities_section_markers(raw)
    loaded = _loaded_entities(doc)
    if recovered and loaded == 0 and not markers and not any(len(block) for block in doc.blocks):
        raise UnreadableDxf(
            "文件开头像 DXF，但其中没有可读取的图形数据。",
            "The file starts like a DXF file but holds no readable drawing data.",
        )
    _completeness_findings(raw, binary=binary, markers=markers, loaded=loaded, options=options, findings=findings)
    version = doc.dxfversion
    return DxfReadResult(
        doc=doc,
        findings=tuple(findings),
        dxf_version=version,
        release=acad_release.get(version, version),
        encoding=encoding,
        binary=binary,
        recovered=recovered,
        entity_markers=markers,
        entities_loaded=loaded,
        codes=frozenset(f.code for f in findings),
    )


def read_dxf_file(path: str | Path, options: ReadOptions | None = None) -> DxfReadResult:
    """Thin wrapper over :func:`read_dxf` for a file on disk."""
    return read_dxf(Path(path).read_bytes(), options)


def _read_binary(raw: bytes) -> Drawing:
    try:
        return Drawing.load(binary_tags_loader(raw, errors="surrogateescape"))
    except Exception as exc:  # any failure of the binary parser means the file is unreadable
        raise UnreadableDxf(
            f"二进制 DXF 文件已损坏，无法读取（{type(exc).__name__}）。",
            f"The binary DXF file is damaged and cannot be read ({type(exc).__name__}).",
        ) from exc


def _read_ascii(raw: bytes, options: ReadOptions, findings: list[Finding]) -> tuple[Drawing, str, bool]:
    encoding = options.encoding or _detect_encoding(raw, options, findings)
    try:
        stream: io.TextIOBase
        if b"\\U+" in raw:
            # Characters outside the code page are written as \U+XXXX; ezdxf's strict reader keeps
            # the escapes (only recover mode decodes them), so decode them before parsing.
            text = raw.decode(encoding, errors="surrogateescape")
            stream = io.StringIO(_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text), newline=None)
        else:
            # Decoded as a text file would be (CR LF → LF), incrementally: no second copy of a large file.
            stream = io.TextIOWrapper(io.BytesIO(raw), encoding=encoding, errors="surrogateescape", newline=None)
        doc = read_text_stream(stream)
    except Exception as strict_error:  # noqa: BLE001 - a damaged file can break the strict parser anywhere
        try:
            doc, auditor = recover.read(io.BytesIO(raw), errors="surrogateescape")
        except Exception as exc:  # nothing more can be done with this file
            raise UnreadableDxf(
                f"DXF 文件结构已损坏，修复模式也无法读取（{type(exc).__name__}）。",
                f"The DXF file structure is damaged beyond what recover mode can read ({type(exc).__name__}).",
            ) from exc
        findings.append(
            finding(
                "DXF_RECOVERED",
                Severity.WARNING,
                "DXF 文件结构有误，已用修复模式读取；请核对图纸内容是否完整。",
                "The DXF file structure is faulty and was read in recover mode; check that the drawing is complete.",
                details=(f"{type(strict_error).__name__}: {str(strict_error)[:200]}",),
            )
        )
        _audit_findings(auditor, findings, recovered=True)
        return doc, doc.encoding, True
    return doc, encoding, False


def _detect_encoding(raw: bytes, options: ReadOptions, findings: list[Finding]) -> str:
    head = raw[:65536].decode("utf-8", errors="ignore")
    try:
        info = dxf_info(io.StringIO(head))
    except Exception:  # noqa: BLE001 - a header too damaged to scan: the recover reader will decide
        return "cp1252"
    if info.version >= "AC1021":  # R2007 and later are always UTF-8
        return "utf-8"
    declared = _CODEPAGE.search(raw[:65536])
    encoding = toencoding(declared.group(1).decode("ascii", "ignore").strip()) if declared else info.encoding
    if not options.guess_encoding or raw.isascii():
        return encoding
    # Many programs write UTF-8 whatever code page they declare; text that is valid UTF-8 is almost
    # never genuine ANSI_1252. GBK is guessed only when no code page is declared at all, because
    # accented Latin-1 text can also form valid GBK byte pairs.
    if declared is None:
        candidates: tuple[str, ...] = ("utf-8", "gbk")
    elif encoding == "cp1252":
        candidates = ("utf-8",)
    else:
        return encoding
    for candidate in candidates:
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        findings.append(
            finding(
                "DXF_ENCODING_GUESSED",
                Severity.INFO,
                f"文件未声明代码页，按 {candidate.upper()} 解码文字。",
                f"The file declares no code page; its text was decoded as {candidate.upper()}.",
                details=(candidate,),
            )
        )
        return candidate
    return encoding


def _audit_findings(auditor: Auditor, findings: list[Finding], *, recovered: bool) -> None:
    if auditor.fixes:
        codes = Counter(_code_name(e.code) for e in auditor.fixes)
        findings.append(
            finding(
                "DXF_AUDIT_FIXED",
                Severity.INFO if not recovered else Severity.WARNING,
                f"读取时自动修正了 {len(auditor.fixes)} 处数据错误。",
                f"{len(auditor.fixes)} data errors were corrected while reading.",
                details=tuple(f"{name}×{count}" for name, count in sorted(codes.items())),
            )
        )
    if auditor.errors:
        codes = Counter(_code_name(e.code) for e in auditor.errors)
        findings.append(
            finding(
                "DXF_AUDIT_ERROR",
                Severity.WARNING,
                f"图纸中有 {len(auditor.errors)} 处无法自动修正的数据错误。",
                f"The drawing has {len(auditor.errors)} data errors that could not be corrected.",
                details=tuple(f"{name}×{count}" for name, count in sorted(codes.items())),
            )
        )


def _rebuild_dimension_graphics(doc: Drawing, findings: list[Finding]) -> None:
    """Draw dimensions whose graphics block is missing (files written by other CAD programs)."""
    rebuilt = failed = 0
    for block in list(doc.blocks):
        for dimension in block.query("DIMENSION"):
            if not isinstance(dimension, Dimension) or dimension.get_geometry_block() is not None:
                continue
            try:
                dimension.render()
                rebuilt += 1
            except Exception:  # noqa: BLE001 - one odd dimension must not stop the sheet
                failed += 1
    if rebuilt or failed:
        findings.append(
            finding(
                "DXF_DIMENSIONS_REBUILT",
                Severity.INFO,
                f"{rebuilt} 个尺寸标注缺少图形块，已按标注样式重新生成；{failed} 个无法生成。",
                f"{rebuilt} dimensions had no graphics block and were redrawn from their style; {failed} could not be.",
                details=(f"rebuilt={rebuilt}", f"failed={failed}"),
            )
        )


def _code_name(code: int) -> str:
    try:
        return AuditError(code).name
    except ValueError:
        return str(code)


def _entities_section_markers(raw: bytes) -> int:
    start = _ENTITIES_START.search(raw)
    if start is None:
        return 0
    end = _ENDSEC.search(raw, start.end() - 1)
    section = raw[start.end() - 1 : end.start() + 1 if end else len(raw)]
    return sum(1 for m in _ENTITY_MARKER.finditer(section) if m.group(1).decode("ascii") not in _NOT_TOP_LEVEL)


def _loaded_entities(doc: Drawing) -> int:
    count = len(doc.modelspace())
    # A document without an active paper space has none to count.
    with contextlib.suppress(Exception):
        count += len(doc.layouts.active_layout())
    return count


def _completeness_findings(
    raw: bytes,
    *,
    binary: bool,
    markers: int | None,
    loaded: int,
    options: ReadOptions,
    findings: list[Finding],
) -> None:
    has_eof = raw.rstrip(b"\x00 \r\n").endswith(b"EOF") if binary else _EOF.search(raw) is not None
    if not has_eof:
        findings.append(
            finding(
                "DXF_TRUNCATED",
                Severity.WARNING,
                "DXF 文件缺少结束标记 EOF，可能上传不完整或被截断。",
                "The DXF file has no EOF marker; the upload may be incomplete or the file truncated.",
            )
        )
    if markers is None or markers == 0:
        return
    lost = markers - loaded
    if lost > max(1, options.lost_entity_ratio * markers) or (not has_eof and lost > 0):
        findings.append(
            finding(
                "DXF_ENTITIES_LOST",
                Severity.ERROR,
                f"ENTITIES 段有 {markers} 个对象，只读入 {loaded} 个；图纸内容不完整。",
                f"The ENTITIES section holds {markers} objects but only {loaded} were read; the drawing is incomplete.",
                details=(f"markers={markers}", f"loaded={loaded}"),
            )
        )


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:200])


@contextmanager
def _captured_ezdxf_log() -> Iterator[list[str]]:
    """Collect ezdxf's warnings as findings instead of letting them reach stderr."""
    logger = logging.getLogger("ezdxf")
    collector = _Collector()
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
