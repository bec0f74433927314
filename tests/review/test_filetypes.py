"""File kinds are decided by content: a PDF named .dxf is a PDF, an empty file is unknown."""

from __future__ import annotations

import io
import zipfile

import ezdxf
import pymupdf
import pytest

from review.filetypes import SNIFF_BYTES, FileKind, sniff
from tests.conftest import SAMPLES


def _pdf() -> bytes:
    document = pymupdf.open()
    document.new_page()
    return document.tobytes()


def _dxf(version: str) -> bytes:
    doc = ezdxf.new(version)
    doc.modelspace().add_line((0, 0), (1, 1))
    stream = io.StringIO()
    doc.write(stream)
    return stream.getvalue().encode()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("建施-01.pdf", b"%PDF-1.7")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (_pdf(), FileKind.PDF),
        (_dxf("R12"), FileKind.DXF_ASCII),
        (_dxf("R2018"), FileKind.DXF_ASCII),
        (_zip(), FileKind.ZIP),
        (b"AC1032\x00\x00\x00", FileKind.DWG),
        (b"", FileKind.UNKNOWN),
        (b"<html><script>alert(1)</script>", FileKind.UNKNOWN),
        (b"\x89PNG\r\n\x1a\n", FileKind.UNKNOWN),
    ],
)
def test_kind_comes_from_content(content: bytes, kind: FileKind) -> None:
    assert sniff(content[:SNIFF_BYTES]).kind is kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("dxf_broken/ezdxf_bin_dxf_r2000.dxf", FileKind.DXF_BINARY),
        ("dxf_broken/ezdxf_Minimal_DXF_AC1009.dxf", FileKind.DXF_ASCII),
        ("dxf_broken/ezdxf_R12_with_trash_beyond_EOF.dxf", FileKind.DXF_ASCII),
        ("dxf/libredwg_example_2018.dxf", FileKind.DXF_ASCII),
        ("dxf/ezdxf_dxf_unicode.dxf", FileKind.DXF_ASCII),
        ("pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf", FileKind.PDF),
    ],
)
def test_samples_are_recognised(name: str, kind: FileKind) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample not available: {name}")
    assert sniff(path.read_bytes()[:SNIFF_BYTES]).kind is kind


def test_every_sample_drawing_is_recognised_as_what_it_is() -> None:
    folders = [SAMPLES / "dxf", SAMPLES / "dxf_broken", SAMPLES / "pdf_drawings"]
    files = [path for folder in folders if folder.exists() for path in sorted(folder.iterdir())]
    if not files:
        pytest.skip("samples not available")
    unknown = [path.name for path in files if sniff(path.read_bytes()[:SNIFF_BYTES]).kind is FileKind.UNKNOWN]
    assert unknown == []
