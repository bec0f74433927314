"""Real PDF drawings from the shared samples (skipped when the folder is absent)."""

from __future__ import annotations

import pymupdf
import pytest

from review.compare.overlay import overlay_pdf
from review.compare.raster import raster_changes
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
