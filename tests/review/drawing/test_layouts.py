"""Which layouts become sheets, on what paper and at what scale."""

from __future__ import annotations

import ezdxf
import pytest

from review.drawing.layouts import Orientation, SheetOptions, find_sheets, measuring_units, modelspace_sheet
from review.drawing.pdf_backend import POINTS_PER_MM
from tests.review.drawing.conftest import chinese_drawing


def test_layout_with_a_viewport_is_the_sheet() -> None:
    sheets = find_sheets(chinese_drawing())

    assert [s.layout_name for s in sheets] == ["建施-01"]
    sheet = sheets[0]
    assert not sheet.is_modelspace
    assert (sheet.paper.width_mm, sheet.paper.height_mm, sheet.paper.name) == (420, 297, "A3")
    assert sheet.paper.width_pt == pytest.approx(420 * POINTS_PER_MM)
    assert sheet.scale_label == "1:100"
    assert sheet.paper_units == "mm"
    assert sheet.drawing_units == "mm"
    assert not sheet.fitted
    # Page setup margins of 10 mm: paperspace (0, 0) is 10 mm from the paper's lower-left corner.
    a, _b, _c, d, e, f = sheet.to_page
    assert (a, d) == pytest.approx((POINTS_PER_MM, POINTS_PER_MM))
    assert (e, f) == pytest.approx((10 * POINTS_PER_MM, 10 * POINTS_PER_MM))


def test_model_space_when_no_layout_has_content() -> None:
    doc = ezdxf.new("R2010", units=4)
    doc.modelspace().add_line((0, 0), (30000, 20000))  # 30 m × 20 m in mm

    sheets = find_sheets(doc)

    assert [s.layout_name for s in sheets] == ["Model"]
    sheet = sheets[0]
    assert sheet.is_modelspace
    # 1:50 fits A0 (1169 × 821 printable); at 1:50 the drawing is 600 × 400 mm → A1 is the smallest.
    assert sheet.scale_label == "1:50"
    assert sheet.paper.name == "A1"
    assert (sheet.paper.width_mm, sheet.paper.height_mm) == (841, 594)


def test_layout_showing_an_empty_corner_of_model_space_is_no_sheet() -> None:
    doc = ezdxf.new("R2010", units=4)
    for i in range(10):
        doc.modelspace().add_circle((50000 + i * 100, 50000), 40)
    layout = doc.layouts.get("Layout1")
    layout.page_setup(size=(297, 210), units="mm")
    layout.add_viewport(center=(140, 100), size=(250, 180), view_center_point=(0, 0), view_height=180)

    assert [s.layout_name for s in find_sheets(doc)] == ["Model"]


def test_layouts_are_sheets_in_tab_order() -> None:
    doc = ezdxf.new("R2010", units=4)
    doc.modelspace().add_line((0, 0), (1000, 1000))
    for name in ("结施-02", "结施-01"):
        layout = doc.layouts.new(name)
        layout.page_setup(size=(594, 420), units="mm")
        layout.add_line((0, 0), (100, 100))

    sheets = find_sheets(doc)

    assert [(s.layout_name, s.order) for s in sheets] == [("结施-02", 1), ("结施-01", 2)]
    assert {s.paper.name for s in sheets} == {"A2"}


def test_content_off_the_page_setup_is_fitted() -> None:
    doc = ezdxf.new("R2010", units=4)
    layout = doc.layouts.new("Sheet")
    layout.page_setup(size=(297, 210), units="mm")
    layout.add_lwpolyline([(5000, 5000), (5600, 5000), (5600, 5400)])

    sheet = find_sheets(doc)[0]

    assert sheet.fitted
    assert sheet.scale_denominator is None
    a, _b, _c, _d, e, _f = sheet.to_page
    x = 5000 * a + e
    assert 0 <= x <= sheet.paper.width_pt


def test_portrait_drawings_turn_the_page_when_asked() -> None:
    doc = ezdxf.new("R2010", units=4)
    doc.modelspace().add_line((0, 0), (2000, 9000))

    landscape = modelspace_sheet(doc)
    auto = modelspace_sheet(doc, SheetOptions(orientation=Orientation.AUTO))

    assert landscape.paper.width_mm > landscape.paper.height_mm
    assert auto.paper.width_mm < auto.paper.height_mm


def test_unitless_imperial_drawings_are_in_inches() -> None:
    doc = ezdxf.new("R2010", units=0)
    doc.header["$MEASUREMENT"] = 0
    doc.modelspace().add_line((0, 0), (480, 360))  # 40 ft × 30 ft

    sheet = modelspace_sheet(doc)

    assert sheet.scale_label == "1:20"  # 12.2 m × 9.1 m at 1:20 → 610 × 457 mm on A1
    assert sheet.paper.name == "A1"


def test_measuring_units_come_from_insunits_and_the_true_scale() -> None:
    # A layout at 1:100 in millimetres: a point of paper is 100 x 25.4 / 72 mm of the building.
    doc = chinese_drawing()
    [layout] = find_sheets(doc)
    assert measuring_units(doc, layout) == (pytest.approx(100 / POINTS_PER_MM), "mm")

    # Model space in metres placed at 1:50: a point is 50 / POINTS_PER_MM mm, i.e. that over 1000 in m.
    metres = ezdxf.new("R2010", units=6)
    metres.modelspace().add_line((0, 0), (30, 20))
    model = modelspace_sheet(metres)
    assert model.scale_label == "1:50"
    per_point, unit = measuring_units(metres, model) or (0.0, "")
    assert (per_point, unit) == (pytest.approx(50 / POINTS_PER_MM / 1000), "m")
    # Measured on the page: the 30 m line spans 30 * k points, and k points are one metre back again.
    a = model.to_page[0]
    assert 30 * a * per_point == pytest.approx(30)

    # Unitless imperial drawings are in inches.
    inches = ezdxf.new("R2010", units=0)
    inches.header["$MEASUREMENT"] = 0
    inches.modelspace().add_line((0, 0), (480, 360))
    assert measuring_units(inches, modelspace_sheet(inches)) == (pytest.approx(20 / POINTS_PER_MM / 25.4), "in")


def test_no_measuring_units_without_a_true_scale() -> None:
    doc = ezdxf.new("R2010", units=4)
    layout = doc.layouts.new("Sheet")
    layout.page_setup(size=(297, 210), units="mm")
    layout.add_lwpolyline([(5000, 5000), (5600, 5000), (5600, 5400)])
    assert measuring_units(doc, find_sheets(doc)[0]) is None
