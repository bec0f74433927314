"""DXF fixtures generated with ezdxf: a Chinese sheet with every kind of entity intake must show."""

from __future__ import annotations

import io

import ezdxf
import pymupdf
import pytest
from ezdxf.document import Drawing

TITLE = "建筑设计总说明"

# Where things are in model space (mm); the layout's viewport shows model space at 1:100.
SOLID_HATCH = (2000.0, 5000.0, 8000.0, 9000.0)
PATTERN_HATCH = (10000.0, 5000.0, 16000.0, 9000.0)
RED_LINE_Y = 1000.0


def chinese_drawing(version: str = "R2018") -> Drawing:
    """Lines, polylines, circles, arcs, hatches, a dimension, a block with attributes, TEXT and MTEXT in
    宋体 (simsun.ttc) and in txt.shx + gbcbig.shx, and a layout 建施-01 with a 1:100 viewport."""
    doc = ezdxf.new(version, setup=True, units=4)
    doc.styles.add("SONG", font="simsun.ttc")
    doc.styles.add("HZ", font="txt.shx").dxf.bigfont = "gbcbig.shx"
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0), (38000, 0), (38000, 26000), (0, 26000)], close=True, dxfattribs={"lineweight": 50})
    msp.add_line((1000, RED_LINE_Y), (20000, RED_LINE_Y), dxfattribs={"color": 1, "lineweight": 50})
    msp.add_line((1000, 2000), (20000, 2000), dxfattribs={"linetype": "DASHED", "color": 3})
    msp.add_circle((30000, 15000), 3000)
    msp.add_arc((30000, 15000), 4000, 0, 90)
    x0, y0, x1, y1 = SOLID_HATCH
    solid = msp.add_hatch(color=5)
    solid.paths.add_polyline_path([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], is_closed=True)
    x0, y0, x1, y1 = PATTERN_HATCH
    pattern = msp.add_hatch(color=1)
    pattern.set_pattern_fill("ANSI31", color=1, scale=50)
    pattern.paths.add_polyline_path([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], is_closed=True)
    dim = msp.add_linear_dim(
        base=(2000, 12000),
        p1=(2000, 10000),
        p2=(16000, 10000),
        dimstyle="EZDXF",
        override={"dimtxt": 500, "dimasz": 300, "dimlfac": 1, "dimexe": 200, "dimexo": 200},
    )
    dim.render()
    block = doc.blocks.new("图签")
    block.add_lwpolyline([(0, 0), (8000, 0), (8000, 3000), (0, 3000)], close=True)
    block.add_attdef("TITLE", (500, 1500), dxfattribs={"height": 500, "style": "SONG"})
    msp.add_blockref("图签", (29000, 1000)).add_auto_attribs({"TITLE": "图纸目录"})
    msp.add_text(TITLE, height=1200, dxfattribs={"style": "SONG"}).set_placement((2000, 20000))
    msp.add_text(TITLE, height=1200, dxfattribs={"style": "HZ"}).set_placement((2000, 16000))
    msp.add_mtext(
        "施工图审查 消防 人防\\P第二行 ABC 123",
        dxfattribs={"style": "SONG", "char_height": 800, "insert": (20000, 24000), "width": 15000},
    )
    layout = doc.layouts.new("建施-01")
    layout.page_setup(size=(420, 297), margins=(10, 10, 10, 10), units="mm")
    # 1:100: 390 × 265 mm of paper show 39 000 × 26 500 mm of model space, lower-left at (-500, -250).
    layout.add_viewport(center=(200, 137.5), size=(390, 265), view_center_point=(19000, 13000), view_height=26500)
    layout.add_text("建施-01", height=7, dxfattribs={"style": "HZ"}).set_placement((340, 5))
    return doc


def dxf_bytes(doc: Drawing) -> bytes:
    """The file as ezdxf saves it: in the code page of ``$DWGCODEPAGE`` (R2004 and older) or UTF-8."""
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding=doc.output_encoding, errors="dxfreplace", newline="")
    doc.write(stream)
    stream.flush()
    return buffer.getvalue()


@pytest.fixture(scope="session")
def chinese_dxf() -> bytes:
    return dxf_bytes(chinese_drawing())


def page_pixmap(pdf: bytes, dpi: int = 50) -> pymupdf.Pixmap:
    with pymupdf.open(stream=pdf, filetype="pdf") as document:
        return document[0].get_pixmap(dpi=dpi)


def ink(pix: pymupdf.Pixmap, x0: float, y0: float, x1: float, y1: float, dpi: int) -> float:
    """Share of non-white pixels in a rectangle given in PDF points (origin top left)."""
    scale = dpi / 72
    xs = range(max(0, int(x0 * scale)), min(pix.width, int(x1 * scale) + 1))
    ys = range(max(0, int(y0 * scale)), min(pix.height, int(y1 * scale) + 1))
    total = dark = 0
    for y in ys:
        for x in xs:
            total += 1
            if sum(pix.pixel(x, y)[:3]) < 700:
                dark += 1
    return dark / total if total else 0.0
