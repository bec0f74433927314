"""Rendering sheets to vector PDF: page size, white paper, ink where the geometry is, real Chinese text."""

from __future__ import annotations

import ezdxf
import pymupdf
import pytest

from review.drawing.dxf_reader import read_dxf
from review.drawing.layouts import find_sheets
from review.drawing.pdf_backend import POINTS_PER_MM
from review.drawing.render import ColorMode, RenderOptions, render_dxf, render_dxf_file, render_sheet, render_sheet_pdf
from tests.review.drawing.conftest import (
    PATTERN_HATCH,
    SOLID_HATCH,
    TITLE,
    chinese_drawing,
    dxf_bytes,
    ink,
    page_pixmap,
)

DPI = 40


@pytest.fixture(scope="module")
def rendered(chinese_dxf: bytes):
    return render_dxf(chinese_dxf)


@pytest.fixture(scope="module")
def page(rendered):
    with pymupdf.open(stream=rendered.sheets[0].pdf, filetype="pdf") as document:
        yield document[0].get_text("words"), document[0].rect, page_pixmap(rendered.sheets[0].pdf, DPI)


def model_to_page(x: float, y: float) -> tuple[float, float]:
    """Model space mm → PDF points from the top left, for the fixture's 1:100 viewport on A3."""
    # Viewport centre (200, 137.5) mm on paper shows model (19000, 13000); paper origin is 10 mm in.
    paper_x = 10 + 200 + (x - 19000) / 100
    paper_y = 10 + 137.5 + (y - 13000) / 100
    return paper_x * POINTS_PER_MM, (297 - paper_y) * POINTS_PER_MM


def test_page_has_the_paper_size_and_a_white_background(rendered, page) -> None:
    _words, rect, pix = page

    assert len(rendered.sheets) == 1
    assert rect.width == pytest.approx(420 * POINTS_PER_MM, abs=0.1)
    assert rect.height == pytest.approx(297 * POINTS_PER_MM, abs=0.1)
    for x, y in ((0, 0), (pix.width - 1, 0), (0, pix.height - 1), (pix.width - 1, pix.height - 1)):
        assert pix.pixel(x, y)[:3] == (255, 255, 255)


def test_ink_is_where_the_geometry_is(page) -> None:
    _words, _rect, pix = page
    x0, y0 = model_to_page(SOLID_HATCH[0], SOLID_HATCH[3])
    x1, y1 = model_to_page(SOLID_HATCH[2], SOLID_HATCH[1])
    assert ink(pix, x0 + 3, y0 + 3, x1 - 3, y1 - 3, DPI) > 0.95
    centre = pix.pixel(int((x0 + x1) / 2 * DPI / 72), int((y0 + y1) / 2 * DPI / 72))
    assert centre[:3] == (0, 0, 255)  # ACI 5 blue, solid

    x0, y0 = model_to_page(PATTERN_HATCH[0], PATTERN_HATCH[3])
    x1, y1 = model_to_page(PATTERN_HATCH[2], PATTERN_HATCH[1])
    assert 0.1 < ink(pix, x0 + 3, y0 + 3, x1 - 3, y1 - 3, DPI) < 0.9  # lines, not a blot

    # An empty part of the sheet stays white.
    x0, y0 = model_to_page(20000, 4000)
    x1, y1 = model_to_page(26000, 9000)
    assert ink(pix, x0, y0, x1, y1, DPI) == 0


def test_chinese_text_is_real_text_with_glyphs(rendered, page) -> None:
    words, _rect, pix = page
    texts = [w[4] for w in words]

    assert texts.count(TITLE) == 2  # 宋体 (simsun.ttc) and txt.shx + gbcbig.shx
    assert {"施工图审查", "消防", "人防", "第二行", "图纸目录", "建施-01"} <= set(texts)
    for word in (w for w in words if w[4] == TITLE):
        assert ink(pix, *word[:4], DPI) > 0.08  # glyph outlines, not empty boxes
    assert rendered.sheets[0].findings == ()


def test_dimension_text_and_attribute_are_drawn(page) -> None:
    words, _rect, _pix = page
    texts = {w[4] for w in words}

    assert "14000" in texts
    assert "图纸目录" in texts  # ATTRIB of the 图签 block


def test_song_and_hei_styles_use_serif_and_sans_faces(rendered) -> None:
    with pymupdf.open(stream=rendered.sheets[0].pdf, filetype="pdf") as document:
        fonts = {f[3] for f in document[0].get_fonts()}
    assert len(fonts) >= 2  # at least one serif and one sans Type 3 font


def test_render_sheet_pdf_and_file_wrapper(tmp_path, chinese_dxf: bytes) -> None:
    result = read_dxf(chinese_dxf)
    sheet = find_sheets(result.doc)[0]
    pdf = render_sheet_pdf(result.doc, sheet)
    assert pdf.startswith(b"%PDF-1.7")
    assert pdf == render_sheet_pdf(result.doc, sheet)  # deterministic: cacheable by hash

    source = tmp_path / "plan.dxf"
    source.write_bytes(chinese_dxf)
    written = render_dxf_file(source, tmp_path / "out")
    assert [p.name for p in written] == ["plan-01-建施-01.pdf"]
    assert written[0].read_bytes() == pdf


def test_gbk_r2000_file_renders_chinese() -> None:
    doc = chinese_drawing("R2000")
    doc.encoding = "gbk"
    data = dxf_bytes(doc)
    assert TITLE.encode("gbk") in data

    rendered = render_dxf(data)

    with pymupdf.open(stream=rendered.sheets[0].pdf, filetype="pdf") as document:
        assert TITLE in document[0].get_text()


def test_linetypes_become_dash_patterns_and_lineweights_widths(rendered) -> None:
    with pymupdf.open(stream=rendered.sheets[0].pdf, filetype="pdf") as document:
        drawings = document[0].get_drawings()
    dashed = [d for d in drawings if d.get("dashes") not in (None, "[] 0", "[] 0.0")]
    assert dashed, "the DASHED line keeps a dash pattern"
    widths = {round(d["width"], 2) for d in drawings if d.get("width")}
    assert round(0.5 * POINTS_PER_MM, 2) in widths  # lineweight 0.50 mm


def test_black_color_mode(chinese_dxf: bytes) -> None:
    rendered = render_dxf(chinese_dxf, RenderOptions(color_mode=ColorMode.BLACK))
    pix = page_pixmap(rendered.sheets[0].pdf, DPI)
    x0, y0 = model_to_page(SOLID_HATCH[0], SOLID_HATCH[3])
    x1, y1 = model_to_page(SOLID_HATCH[2], SOLID_HATCH[1])
    assert pix.pixel(int((x0 + x1) / 2 * DPI / 72), int((y0 + y1) / 2 * DPI / 72))[:3] == (0, 0, 0)


def test_model_space_sheet_and_survey_coordinates() -> None:
    doc = ezdxf.new("R2010", units=6)  # metres, on a CGCS2000 Gauss-Krüger grid
    msp = doc.modelspace()
    x, y = 40_500_000.0, 3_400_000.0
    msp.add_lwpolyline([(x, y), (x + 200, y), (x + 200, y + 100), (x, y + 100)], close=True)
    msp.add_line((x, y), (x + 200, y + 100))

    rendered = render_dxf(dxf_bytes(doc))

    sheet = rendered.sheets[0]
    assert sheet.source.is_modelspace
    assert sheet.source.scale_label == "1:200"
    with pymupdf.open(stream=sheet.pdf, filetype="pdf") as document:
        drawings = document[0].get_drawings()
        rect = document[0].rect
    frame = max((d for d in drawings if d["type"] == "s"), key=lambda d: d["rect"].width)["rect"]
    # 200 m at 1:200 is 1000 mm wide, centred on the page, exact despite the huge coordinates.
    assert frame.width == pytest.approx(1000 * POINTS_PER_MM, abs=0.2)
    assert frame.x0 == pytest.approx((rect.width - frame.width) / 2, abs=0.2)


def test_dense_hatch_becomes_a_light_tint() -> None:
    doc = ezdxf.new("R2010", units=4)
    hatch = doc.modelspace().add_hatch()
    hatch.set_pattern_fill("ANSI31", color=1, scale=0.001)
    hatch.paths.add_polyline_path([(0, 0), (20000, 0), (20000, 10000), (0, 10000)], is_closed=True)

    rendered = render_dxf(dxf_bytes(doc))

    pix = page_pixmap(rendered.sheets[0].pdf, DPI)
    r, g, b = pix.pixel(pix.width // 2, pix.height // 2)[:3]
    assert r == 255
    assert 150 < g < 255
    assert g == b


def test_empty_drawing_is_a_blank_sheet_with_a_finding() -> None:
    rendered = render_dxf(dxf_bytes(ezdxf.new("R2010")))

    sheet = rendered.sheets[0]
    assert [f.code for f in sheet.findings] == ["SHEET_EMPTY"]
    assert sheet.source.paper.name == "A4"


def test_render_options_are_frozen() -> None:
    options = RenderOptions()
    with pytest.raises(AttributeError):
        options.color_mode = ColorMode.BLACK  # type: ignore[misc]


def test_render_sheet_reports_primitives(chinese_dxf: bytes) -> None:
    result = read_dxf(chinese_dxf)
    sheet = render_sheet(result.doc, find_sheets(result.doc)[0])
    assert sheet.primitives > 15


def test_layers_that_do_not_plot_are_not_drawn() -> None:
    doc = ezdxf.new("R2010", units=4)
    doc.layers.add("VIEWPORT-FRAMES").dxf.plot = 0
    msp = doc.modelspace()
    msp.add_line((0, 0), (1000, 0), dxfattribs={"layer": "VIEWPORT-FRAMES"})
    msp.add_line((0, 100), (1000, 100), dxfattribs={"layer": "Defpoints"})
    msp.add_line((0, 200), (1000, 200), dxfattribs={"layer": "WALL"})

    rendered = render_dxf(dxf_bytes(doc))

    with pymupdf.open(stream=rendered.sheets[0].pdf, filetype="pdf") as document:
        strokes = [d for d in document[0].get_drawings() if d["type"] == "s"]
    assert len(strokes) == 1
    assert strokes[0]["rect"].height == pytest.approx(0, abs=0.01)


def test_text_is_placed_where_ezdxf_lays_it_out() -> None:
    from ezdxf.enums import TextEntityAlignment

    doc = ezdxf.new("R2010", units=4)
    doc.styles.add("SONG", font="simsun.ttc")
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (10000, 0), (10000, 6000), (0, 6000)], close=True)
    for y, style in ((4000, "SONG"), (2000, "Standard")):
        text = msp.add_text(f"{TITLE} “A-101”", height=500, dxfattribs={"style": style})
        text.set_placement((5000, y), align=TextEntityAlignment.MIDDLE_CENTER)

    sheet = render_dxf(dxf_bytes(doc)).sheets[0]

    a, _b, _c, d, e, f = sheet.source.to_page
    with pymupdf.open(stream=sheet.pdf, filetype="pdf") as document:
        height = document[0].rect.height
        lines = [b for b in document[0].get_text("dict")["blocks"] if b["type"] == 0]
    assert len(lines) == 2
    for block, y in zip(sorted(lines, key=lambda b: b["bbox"][1]), (4000, 2000), strict=True):
        x0, _y0, x1, _y1 = block["bbox"]
        # Centred on x = 5000: the glyph widths in the PDF are the ones ezdxf measured.
        assert (x0 + x1) / 2 == pytest.approx(5000 * a + e, abs=0.5)
        # MIDDLE_CENTER puts the middle of the capitals on y: the baseline is half a text height lower.
        baseline = y - 250
        assert block["lines"][0]["spans"][0]["origin"][1] == pytest.approx(height - (baseline * d + f), abs=0.5)


def test_points_and_zero_length_dashes_show_as_dots() -> None:
    doc = ezdxf.new("R2010", units=4)
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (1000, 0), (1000, 600), (0, 600)], close=True)
    msp.add_point((500, 300), dxfattribs={"lineweight": 200})  # a 2 mm dot

    sheet = render_dxf(dxf_bytes(doc)).sheets[0]

    a, _b, _c, d, e, f = sheet.source.to_page
    pix = page_pixmap(sheet.pdf, 100)
    x, y = 500 * a + e, pix.height * 72 / 100 - (300 * d + f)
    assert ink(pix, x - 2, y - 2, x + 2, y + 2, 100) > 0.5
