"""Reading DXF bytes: versions, binary files, code pages, damage, truncation and limits."""

from __future__ import annotations

import io
import random

import ezdxf
import pytest

from review.drawing.dxf_reader import ReadOptions, read_dxf, read_dxf_file
from review.drawing.errors import DrawingTooLarge, UnreadableDxf
from review.errors import UnreadableDrawing
from tests.conftest import sample
from tests.review.drawing.conftest import TITLE, dxf_bytes


def small_drawing(version: str) -> ezdxf.document.Drawing:
    doc = ezdxf.new(version)
    msp = doc.modelspace()
    for i in range(20):
        msp.add_line((0, i), (100, i))
    msp.add_text(TITLE, height=5).set_placement((0, 30))
    return doc


@pytest.mark.parametrize("version", ["R12", "R2000", "R2004", "R2007", "R2010", "R2013", "R2018"])
def test_reads_every_version_with_its_entities(version: str) -> None:
    result = read_dxf(dxf_bytes(small_drawing(version)))

    assert result.release == version
    assert result.entities_loaded == 21
    assert result.entity_markers == 21
    assert not result.recovered
    assert result.findings == ()
    assert [e.dxf.text for e in result.doc.modelspace().query("TEXT")] == [TITLE]


def test_empty_entities_section_loses_nothing() -> None:
    result = read_dxf(dxf_bytes(ezdxf.new("R2010")))

    assert result.entity_markers == 0
    assert result.findings == ()


def test_reads_from_a_binary_stream_and_from_a_path(tmp_path) -> None:
    data = dxf_bytes(small_drawing("R2010"))
    path = tmp_path / "plan.dxf"
    path.write_bytes(data)

    assert read_dxf(io.BytesIO(data)).entities_loaded == 21
    assert read_dxf_file(path).entities_loaded == 21


def test_binary_dxf_is_read(tmp_path) -> None:
    path = tmp_path / "binary.dxf"
    small_drawing("R2000").saveas(path, fmt="bin")
    data = path.read_bytes()
    assert data.startswith(b"AutoCAD Binary DXF")

    result = read_dxf(data)

    assert result.binary
    assert len(result.doc.modelspace()) == 21
    assert "DXF_TRUNCATED" not in result.codes


def test_gbk_code_page_is_honoured() -> None:
    doc = small_drawing("R2000")
    doc.encoding = "gbk"  # written as $DWGCODEPAGE ANSI_936
    data = dxf_bytes(doc)
    assert TITLE.encode("gbk") in data

    result = read_dxf(data)

    assert result.encoding == "gbk"
    assert result.doc.modelspace().query("TEXT")[0].dxf.text == TITLE


def test_missing_code_page_is_guessed_from_the_bytes() -> None:
    doc = small_drawing("R12")
    doc.encoding = "gbk"  # written as $DWGCODEPAGE ANSI_936
    text = dxf_bytes(doc).decode("gbk")
    assert "$DWGCODEPAGE" in text
    data = text.replace("  9\n$DWGCODEPAGE\n  3\nANSI_936\n", "").encode("gbk")
    assert b"$DWGCODEPAGE" not in data

    result = read_dxf(data)

    assert "DXF_ENCODING_GUESSED" in result.codes
    assert result.doc.modelspace().query("TEXT")[0].dxf.text == TITLE


def test_damaged_structure_is_recovered_with_findings() -> None:
    text = dxf_bytes(small_drawing("R2000")).decode("utf-8")
    # An ENDSEC without its SECTION: the strict reader gives up, recover mode copes.
    damaged = text.replace("  0\nSECTION\n  2\nBLOCKS\n", "  0\nENDSEC\n  0\nSECTION\n  2\nBLOCKS\n", 1)

    result = read_dxf(damaged.encode("utf-8"))

    assert result.recovered
    assert "DXF_RECOVERED" in result.codes
    finding = next(f for f in result.findings if f.code == "DXF_RECOVERED")
    assert "recover" in finding.en
    assert "修复模式" in finding.zh
    assert "DXFStructureError" in finding.en  # what the strict reader tripped over


def test_truncated_entities_section_is_reported() -> None:
    data = dxf_bytes(small_drawing("R2000"))
    start = data.index(b"ENTITIES")
    cut = data[: start + (len(data) - start) // 10]

    result = read_dxf(cut)

    assert {"DXF_TRUNCATED", "DXF_ENTITIES_LOST"} <= result.codes
    lost = next(f for f in result.findings if f.code == "DXF_ENTITIES_LOST")
    assert f"loaded={result.entities_loaded}" in lost.en
    assert result.entities_loaded < result.entity_markers


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"%PDF-1.7\n...",
        b"PK\x03\x04 zip",
        b"  0\nSECTION\n  2\nHEADER\n" + random.Random(1).randbytes(3000),
        b"AutoCAD Binary DXF\r\n\x1a\x00" + random.Random(2).randbytes(500),
    ],
)
def test_unreadable_input_raises_with_chinese_and_english(data: bytes) -> None:
    with pytest.raises(UnreadableDrawing) as caught:
        read_dxf(data)

    error = caught.value
    assert isinstance(error, UnreadableDxf)
    assert error.zh
    assert error.en
    assert error.zh != error.en
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error.zh)


def test_entity_limit_refuses_before_parsing() -> None:
    data = dxf_bytes(small_drawing("R2000"))

    with pytest.raises(DrawingTooLarge) as caught:
        read_dxf(data, ReadOptions(max_entities=10))

    assert isinstance(caught.value, UnreadableDrawing)
    assert "10" in caught.value.en


def test_damaged_sample_needs_recovery() -> None:
    result = read_dxf_file(sample("dxf_broken/ezdxf_recover01.dxf"))

    assert result.recovered
    assert "DXF_RECOVERED" in result.codes
    assert result.entities_loaded > 1000


def test_binary_sample_reads() -> None:
    result = read_dxf_file(sample("dxf_broken/ezdxf_bin_dxf_r2000.dxf"))

    assert result.binary
    assert result.release == "R2000"
    assert len(result.doc.modelspace()) >= 1


def test_truncated_sample_warns() -> None:
    data = sample("dxf/us_residential_floorplan_R2004.dxf").read_bytes()
    start = data.index(b"ENTITIES")

    result = read_dxf(data[: start + (len(data) - start) // 2])

    assert {"DXF_TRUNCATED", "DXF_ENTITIES_LOST"} <= result.codes
    assert result.entity_markers is not None
    assert result.entities_loaded < result.entity_markers
