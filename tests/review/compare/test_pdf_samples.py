"""Real PDF drawings from the shared samples (skipped when the folder is absent)."""

from __future__ import annotations

import pymupdf
import pytest

from review.compare.overlay import overlay_pdf
from review.compare.raster import RasterCompareOptions, raster_changes
from review.compare.regions import meets
from tests.review.compare.test_overlay import SCREENSHOTS

SITE_PLAN = "pdf_drawings/pdfjs_landscape_site_plan_archD.pdf"


def _redrawn(data: bytes, dx: float = 0.0, dy: float = 0.0, note: str | None = None) -> bytes:
    """The first page placed on a new page of the same size, shifted by (dx, dy) points, with a note."""
    source = pymupdf.open(stream=data, filetype="pdf")
    rect = source[0].rect
    out = pymupdf.open()
    page = out.new_page(width=rect.width, height=rect.height)
    page.show_pdf_page(pymupdf.Rect(rect.x0 + dx, rect.y0 + dy, rect.x1 + dx, rect.y1 + dy), source, 0)
    if note:
        page.insert_text((rect.width * 0.6, rect.height * 0.2), note, fontsize=14)
    data_out: bytes = out.tobytes()
    return data_out


@pytest.fixture(scope="module")
def site_plan() -> bytes:
    from tests.conftest import sample

    return sample(SITE_PLAN).read_bytes()


@pytest.mark.parametrize(("dx", "dy"), [(0.0, 0.0), (0.4, 0.0), (0.3, 0.6)])
def test_a_redrawn_real_sheet_has_no_changes(site_plan: bytes, dx: float, dy: float) -> None:
    assert raster_changes(site_plan, 0, _redrawn(site_plan, dx, dy), 0).rectangles == ()


def test_a_note_added_to_a_real_sheet_is_the_only_change(site_plan: bytes) -> None:
    new = _redrawn(site_plan, 0.4, 0.2, note="REVISED: STAIR WIDTH 1.40 m")
    changes = raster_changes(site_plan, 0, new, 0)
    page = pymupdf.open(stream=new, filetype="pdf")[0]
    x, y = page.rect.width * 0.6, page.rect.height * 0.2
    assert len(changes.rectangles) == 1
    assert meets(changes, (x + 10, y - 8, x + 200, y))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    overlay = pymupdf.open(stream=overlay_pdf(site_plan, 0, new, 0, changes, dpi=100), filetype="pdf")[0]
    overlay.get_pixmap(dpi=50).save(SCREENSHOTS / "compare-overlay-site-plan.png")


FULL_ANTIALIASING = RasterCompareOptions(antialias=8, threshold=48, min_line_px=0.0, opening_px=0)
"""The settings before two-bit rendering became the default: slower, the reference for what must be found."""


def _page(path: str, number: int) -> bytes:
    from tests.conftest import sample

    source = pymupdf.open(sample(path))
    out = pymupdf.open()
    out.insert_pdf(source, from_page=number, to_page=number)
    data: bytes = out.tobytes()
    return data


@pytest.mark.parametrize(
    ("path", "number"),
    [
        (SITE_PLAN, 0),
        ("pdf_drawings/pdfjs_autocad2014_farmhouse_set_25sheets.pdf", 10),
        ("pdf_drawings/pdfjs_kompas3d_gost_title_block.pdf", 0),
        ("pdf_drawings/qcad_flange_plot.pdf", 0),
    ],
)
@pytest.mark.parametrize(("dx", "dy", "note"), [(0.3, 0.6, None), (0.6, 0.3, None), (0.4, 0.2, "REVISED 1.40 m")])
def test_two_bit_defaults_find_the_regions_full_antialiasing_finds(
    path: str, number: int, dx: float, dy: float, note: str | None
) -> None:
    # These pages gave 2 to 9 false regions with two bits alone (before the minimum line width, the higher
    # threshold and the opening); now they must give what eight bits give, within a few points.
    old = _page(path, number)
    new = _redrawn(old, dx, dy, note=note)
    fast = raster_changes(old, 0, new, 0).rectangles
    full = raster_changes(old, 0, new, 0, FULL_ANTIALIASING).rectangles
    assert len(fast) == len(full) == (1 if note else 0)
    for a, b in zip(fast, full, strict=True):
        assert a.kind is b.kind
        assert max(abs(p - q) for p, q in zip(a.bounds, b.bounds, strict=True)) <= 6
