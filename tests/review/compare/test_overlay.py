from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from review.compare.errors import PageMissing
from review.compare.overlay import overlay_pdf, overlay_png, side_by_side
from review.compare.raster import raster_changes
from tests.review.compare.conftest import DOOR, DOOR_SHIFT, PAGE, sheet_page

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output" / "screenshots"


def _picture(pdf: bytes, dpi: int = 72) -> Image.Image:
    page = pymupdf.open(stream=pdf, filetype="pdf")[0]
    pix = page.get_pixmap(dpi=dpi, alpha=False)
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


@pytest.fixture(scope="module")
def revisions() -> tuple[bytes, bytes]:
    return sheet_page(), sheet_page(door_moved=True, new_text=True)


def test_overlay_shows_old_red_new_blue_and_common_ink_black(revisions: tuple[bytes, bytes]) -> None:
    old, new = revisions
    changes = raster_changes(old, 0, new, 0)
    pdf = overlay_pdf(old, 0, new, 0, changes)
    document = pymupdf.open(stream=pdf, filetype="pdf")
    assert document.page_count == 1
    assert tuple(document[0].rect)[2:] == PAGE
    picture = _picture(pdf, dpi=144)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    picture.save(SCREENSHOTS / "compare-overlay.png")

    def colour(x: float, y: float) -> tuple[int, int, int]:
        r, g, b = picture.getpixel((round(x * 2), round(y * 2)))  # type: ignore[misc]
        return r, g, b

    old_edge = colour(DOOR.x0, (DOOR.y0 + DOOR.y1) / 2)  # left side of the door where it stood
    new_edge = colour(DOOR.x1 + DOOR_SHIFT, (DOOR.y0 + DOOR.y1) / 2)  # right side where it stands now
    grid = colour(200, 50)  # a grid line drawn in both
    assert old_edge[0] > 150 > old_edge[2]  # red
    assert new_edge[2] > 150 > new_edge[0]  # blue
    assert max(grid) < 200  # ink, and neither red nor blue: grey to black
    assert max(grid) - min(grid) < 20
    assert colour(700, 300) == (255, 255, 255)


def test_side_by_side_places_both_pages_on_one(revisions: tuple[bytes, bytes]) -> None:
    old, new = revisions
    changes = raster_changes(old, 0, new, 0)
    pdf = side_by_side(old, 0, new, 0, changes)
    page = pymupdf.open(stream=pdf, filetype="pdf")[0]
    assert page.rect.width > 2 * PAGE[0]
    assert page.rect.height == PAGE[1]
    assert len(page.search_for("Existing general note 1")) == 2  # vector text of both pages
    assert len(page.search_for("Added fire door note")) == 1
    words = page.get_text()
    assert "旧版" in words
    assert "新版" in words
    assert "/ new" in words
    _picture(pdf).save(SCREENSHOTS / "compare-side-by-side.png")


def test_pages_of_other_sizes_and_missing_pages() -> None:
    small = sheet_page(size=(600.0, 400.0))
    pdf = overlay_pdf(small, 0, sheet_page(), 0)
    assert tuple(pymupdf.open(stream=pdf, filetype="pdf")[0].rect)[2:] == PAGE
    with pytest.raises(PageMissing):
        side_by_side(small, 1, small, 0)


def test_overlay_png_from_the_comparison_rasters(revisions: tuple[bytes, bytes]) -> None:
    import io

    from review.compare.raster import compare_pages

    old, new = revisions
    compared = compare_pages(old, 0, new, 0)
    png = overlay_png(compared.old, compared.new, compared.changes, compared.points_per_pixel)
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    assert picture.size == (compared.new.shape[1], compared.new.shape[0])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    picture.save(SCREENSHOTS / "compare-overlay-png.png")
    k = 1 / compared.points_per_pixel

    def colour(x: float, y: float) -> tuple[int, int, int]:
        """The darkest pixel within two pixels of (x, y) points: a line is one pixel wide at this resolution."""
        near = [picture.getpixel((round(x * k) + dx, round(y * k) + dy)) for dx in range(-2, 3) for dy in range(-2, 3)]
        r, g, b = min(near, key=sum)  # type: ignore[arg-type]
        return r, g, b

    middle = (DOOR.y0 + DOOR.y1) / 2
    old_edge = colour(DOOR.x0, middle)
    new_edge = colour(DOOR.x1 + DOOR_SHIFT, middle)
    grid = colour(200, 50)
    assert old_edge[0] > 150 > old_edge[2]  # red
    assert new_edge[2] > 150 > new_edge[0]  # blue
    assert max(grid) < 200
    assert max(grid) - min(grid) < 20
    assert colour(700, 300) == (255, 255, 255)
    # The region outlines are drawn in their kind's colour.
    orange = (255, 128, 0)
    region = next(r for r in compared.changes.rectangles if r.kind.value == "changed")
    assert colour(region.x0, (region.y0 + region.y1) / 2) == orange


def test_side_by_side_outlines_the_changes_on_both_pages(revisions: tuple[bytes, bytes]) -> None:
    old, new = revisions
    changes = raster_changes(old, 0, new, 0)
    page = pymupdf.open(stream=side_by_side(old, 0, new, 0, changes), filetype="pdf")[0]
    outlined = [d["rect"] for d in page.get_drawings() if d.get("dashes") not in (None, "[] 0")]
    region = changes.rectangles[0]
    lefts = sorted(round(r.x0) for r in outlined)
    assert round(region.x0) in lefts
    assert round(region.x0 + PAGE[0] + 24) in lefts
