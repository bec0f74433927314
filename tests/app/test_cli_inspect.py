"""``liantu inspect`` and ``liantu render`` on generated and real drawing files, without a database."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import ezdxf
import pymupdf
import pytest
from click.testing import CliRunner, Result
from lxml import etree
from PIL import Image

from app.cli import cli
from app.commands.inspect import display_width, safe_name
from tests.app.intake.makers import layout_dxf, title_block_pdf
from tests.conftest import sample

FARMHOUSE = "pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf"
DZI_NS = "{http://schemas.microsoft.com/deepzoom/2008}"


def _run(*arguments: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in arguments])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A PDF set (建施-01, 建施-02), a DXF layout (建施-03), its binary twin, a DWG-like and an encrypted file."""
    made = {
        "pdf": tmp_path / "set.pdf",
        "dxf": tmp_path / "layout.dxf",
        "dxf_binary": tmp_path / "layout-binary.dxf",
        "dwg": tmp_path / "plan.dwg",
        "encrypted": tmp_path / "locked.pdf",
        "zip": tmp_path / "set.zip",
    }
    made["pdf"].write_bytes(title_block_pdf())
    made["dxf"].write_bytes(layout_dxf())
    ezdxf.readfile(made["dxf"]).saveas(made["dxf_binary"], fmt="bin")
    made["dwg"].write_bytes(b"AC1032\x00\x00\x00\x00\x00\x0f" + bytes(512))
    made["encrypted"].write_bytes(title_block_pdf(password="secret"))
    made["zip"].write_bytes(b"PK\x03\x04" + bytes(64))
    return made


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _numbers(document: Any) -> list[str]:
    return [sheet["number"]["display"] for f in document["files"] for sheet in f["sheets"] if sheet["number"]]


def test_a_pdf_and_a_dxf_layout_are_listed_in_an_aligned_table(files: dict[str, Path]) -> None:
    result = _run("inspect", files["pdf"], files["dxf"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = [line for line in lines if "建施-0" in line and "平面图" in line]
    assert len(rows) == 3
    assert "一层平面图" in rows[0]
    assert "建施-1" in rows[0]
    assert "A3" in rows[0]
    assert "1:100" in rows[0]
    assert "三层平面图" in rows[2]
    assert "420x297" in rows[2]
    # Columns line up on the terminal: the header's track column starts where each row's does.
    header = next(line for line in lines if "tracks" in line)
    column = display_width(header[: header.index("tracks")])
    for row in rows:
        assert display_width(row[: row.index("fire")]) == column
    assert "无缺号" in result.stdout
    assert "no gaps" in result.stdout


def test_json_has_numbers_titles_paper_scale_and_tracks_with_reasons(files: dict[str, Path]) -> None:
    result = _run("inspect", "--json", files["pdf"], files["dxf_binary"])

    assert result.exit_code == 0, result.output
    document = _json(result)
    assert _numbers(document) == ["建施-01", "建施-02", "建施-03"]
    assert [f["kind"] for f in document["files"]] == ["pdf", "dxf-binary"]
    first = document["files"][0]["sheets"][0]
    assert first["number"] == {"display": "建施-01", "key": "建施-1"}
    assert first["title"] == "一层平面图"
    assert first["discipline"] == "architecture"
    assert first["paper"] == {"name": "A3", "width_mm": 420.2, "height_mm": 297.0}
    assert first["scale"] == "1:100"
    tracks = {track["code"]: track["reasons"] for track in first["tracks"]}
    assert "construction" in tracks
    assert all(reasons and reasons[0]["zh"] for reasons in tracks.values())
    layout = document["files"][1]["sheets"][0]
    assert layout["layout"] == "建施-03"
    assert layout["scale"] == "1:100"
    assert document["numbering"] == {"duplicates": [], "gaps": []}
    assert document["sheet_count"] == 3
    assert document["ok"] is True
    assert "\\u" not in result.stdout  # ensure_ascii=False: Chinese stays readable


def test_json_gives_each_sheet_the_units_the_measuring_tool_will_use(tmp_path: Path, files: dict[str, Path]) -> None:
    unscaled = tmp_path / "unscaled.pdf"
    document = pymupdf.open()
    document.new_page(width=1191, height=842).insert_text((900, 770), "图号：建施-09", fontname="china-s", fontsize=9)
    unscaled.write_bytes(document.tobytes())

    result = _run("inspect", "--json", files["dxf"], files["pdf"], unscaled)

    assert result.exit_code == 0, result.output
    sheets = [sheet for f in _json(result)["files"] for sheet in f["sheets"]]
    # The DXF is in millimetres ($INSUNITS 4) shown at 1:100 in its viewport; the PDF's title block says 1:100.
    mm_per_point_at_1_100 = 100 * 25.4 / 72
    for sheet in sheets[:3]:
        assert sheet["measuring"]["units"] == "mm"
        assert sheet["measuring"]["units_per_point"] == pytest.approx(mm_per_point_at_1_100)
    assert sheets[3]["number"]["display"] == "建施-09"
    assert sheets[3]["measuring"] is None


def test_duplicates_and_gaps_are_reported_across_files(tmp_path: Path, files: dict[str, Path]) -> None:
    other = tmp_path / "other.pdf"
    other.write_bytes(title_block_pdf((("建施-01", "一层平面图（修改）"), ("建施-05", "屋顶平面图"))))

    result = _run("inspect", "--json", files["pdf"], other)

    assert result.exit_code == 0, result.output
    numbering = _json(result)["numbering"]
    assert [f["code"] for f in numbering["duplicates"]] == ["SHEET_NUMBER_DUPLICATE"]
    assert "建施-01" in numbering["duplicates"][0]["zh"]
    assert [f["code"] for f in numbering["gaps"]] == ["SHEET_NUMBER_GAP"]
    assert "建施-03" in numbering["gaps"][0]["zh"]
    assert "建施-04" in numbering["gaps"][0]["en"]
    text = _run("inspect", files["pdf"], other).stdout
    assert "SHEET_NUMBER_DUPLICATE" in text
    assert "SHEET_NUMBER_GAP" in text


def test_refused_files_are_named_and_the_others_still_read(files: dict[str, Path]) -> None:
    result = _run("inspect", files["dwg"], files["pdf"], files["encrypted"], files["zip"])

    assert result.exit_code == 1
    assert "建施-01" in result.stdout
    assert "一层平面图" in result.stdout
    assert "dwg" in result.stdout
    assert "请上传 PDF 或 DXF" in result.stdout
    assert "upload PDF or DXF" in result.stdout
    assert "PDF已加密" in result.stdout
    assert "encrypted" in result.stdout
    assert "3 个文件被拒收" in result.stderr
    assert "3 file(s) refused" in result.stderr

    as_json = _run("inspect", "--json", files["dwg"], files["pdf"], files["encrypted"])
    assert as_json.exit_code == 1
    document = _json(as_json)
    assert [f["status"] for f in document["files"]] == ["refused", "read", "refused"]
    assert document["files"][2]["error"]["code"] == "FILE_UNREADABLE"
    assert "needs a password" in document["files"][2]["error"]["en"]
    assert document["ok"] is False
    assert _numbers(document) == ["建施-01", "建施-02"]


def test_a_missing_file_is_refused_not_a_crash(tmp_path: Path, files: dict[str, Path]) -> None:
    result = _run("inspect", tmp_path / "nowhere.pdf", files["pdf"])

    assert result.exit_code == 1
    assert "无法读取文件" in result.stdout
    assert "cannot read the file" in result.stdout


def test_usage_errors_exit_with_2(files: dict[str, Path]) -> None:
    assert _run("inspect").exit_code == 2
    unknown = _run("inspect", "--track", "weather", files["pdf"])
    assert unknown.exit_code == 2
    assert "weather" in unknown.output


def test_track_option_limits_routing(files: dict[str, Path]) -> None:
    document = _json(_run("inspect", "--json", "--track", "fire", files["pdf"]))

    assert document["tracks_enabled"] == ["fire"]
    assert {t["code"] for s in document["files"][0]["sheets"] for t in s["tracks"]} == {"fire"}


def test_the_farmhouse_set_has_25_sheets_and_no_gaps() -> None:
    path = sample(FARMHOUSE)

    result = _run("inspect", "--json", path)

    assert result.exit_code == 0, result.output
    document = _json(result)
    numbers = _numbers(document)
    assert len(numbers) == 25
    assert len(set(numbers)) == 25
    assert numbers[0] == "A-0.0"
    assert numbers[-1] == "A-5.0"
    assert document["numbering"] == {"duplicates": [], "gaps": []}
    assert {s["paper"]["name"] for s in document["files"][0]["sheets"]} == {"ANSI B"}


def _check_pyramid(out: Path, name: str) -> int:
    root = etree.parse(str(out / f"{name}.dzi")).getroot()
    assert root.tag == f"{DZI_NS}Image"
    assert root.get("Format") == "png"
    size = root.find(f"{DZI_NS}Size")
    assert size is not None
    width, height, tile = int(size.get("Width", "0")), int(size.get("Height", "0")), int(root.get("TileSize", "0"))
    levels = sorted(int(p.name) for p in (out / f"{name}_files").iterdir())
    assert levels == list(range(math.ceil(math.log2(max(width, height))) + 1))
    cols, rows = -(-width // tile), -(-height // tile)
    top_tiles = sorted(p.name for p in (out / f"{name}_files" / str(levels[-1])).iterdir())
    assert top_tiles == sorted(f"{c}_{r}.png" for c in range(cols) for r in range(rows))
    with Image.open(out / f"{name}_files" / "0" / "0_0.png") as smallest:
        assert smallest.size == (1, 1)
    return len(levels)


def test_render_writes_sheet_pdfs_a_dzi_pyramid_and_thumbnails(tmp_path: Path, files: dict[str, Path]) -> None:
    out = tmp_path / "out"

    result = _run("render", files["pdf"], "-o", out, "--dpi", "20")

    assert result.exit_code == 0, result.output
    for name, title in (("建施-01", "一层平面图"), ("建施-02", "二层平面图")):
        with pymupdf.open(out / f"{name}.pdf") as sheet:
            assert sheet.page_count == 1
            assert title in sheet[0].get_text()
        assert _check_pyramid(out, name) > 5
        with Image.open(out / f"{name}.thumb.png") as thumb:
            assert max(thumb.size) == 512
    assert "timings" in result.stdout
    assert "瓦片 / tiles" in result.stdout
    assert "合计 / total" in result.stdout


def test_render_of_a_dxf_layout_and_without_tiles(tmp_path: Path, files: dict[str, Path]) -> None:
    out = tmp_path / "out"

    result = _run("render", files["dxf"], "-o", out, "--no-tiles")

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["建施-03.pdf", "建施-03.thumb.png"]
    with pymupdf.open(out / "建施-03.pdf") as sheet:
        assert "三层平面图" in sheet[0].get_text()


def test_render_refuses_what_it_cannot_read(tmp_path: Path, files: dict[str, Path]) -> None:
    result = _run("render", files["encrypted"], "-o", tmp_path / "out")

    assert result.exit_code == 1
    assert "PDF已加密" in result.stderr
    assert "encrypted" in result.stderr
    assert not (tmp_path / "out").exists()
    assert _run("render", files["pdf"], "-o", tmp_path / "out", "--dpi", "0").exit_code == 2


def test_safe_names_keep_sheet_numbers_and_stay_unique() -> None:
    taken: set[str] = set()
    assert safe_name("建施-01", taken) == "建施-01"
    assert safe_name("建施-01", taken) == "建施-01~2"
    assert safe_name("../A 1/2", taken) == "A_1_2"
    assert safe_name("...", taken) == "sheet"


def test_a_sheet_without_a_number_is_named_after_its_file_and_page(tmp_path: Path) -> None:
    document = pymupdf.open()
    document.new_page(width=842, height=595).insert_text((100, 100), "no title block here")
    (tmp_path / "loose.pdf").write_bytes(document.tobytes())
    document.close()

    result = _run("render", tmp_path / "loose.pdf", "-o", tmp_path / "out", "--no-tiles")

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["loose-01.pdf", "loose-01.thumb.png"]
