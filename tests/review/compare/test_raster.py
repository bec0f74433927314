from __future__ import annotations

import numpy as np
import pymupdf
import pytest

from review.compare.errors import CompareError, PageMissing
from review.compare.raster import RasterCompareOptions, changed_pixels, compare_pages, raster_changes
from review.compare.regions import ChangeKind, meets
from review.errors import ReviewError, UnreadableDrawing
from tests.review.compare.conftest import DOOR, DOOR_SHIFT, GRID_X, NEW_TEXT_AT, PAGE, sheet_page


def test_identical_pages_have_no_changes() -> None:
    page = sheet_page()
    changes = raster_changes(page, 0, page, 0)
    assert changes.rectangles == ()
    assert (changes.page_width, changes.page_height) == PAGE
    assert changes.findings == ()


@pytest.mark.parametrize("shift", [0.2, 0.35, 0.5, 0.7, 1.0])
def test_re_render_noise_is_not_a_change(shift: float) -> None:
    # Everything moved by up to one point (1.3 px at 96 dpi): antialiasing differs along every line and glyph.
    changes = raster_changes(sheet_page(), 0, sheet_page(shift=shift), 0)
    assert changes.rectangles == ()


def test_moved_door_and_new_text_are_covered_and_nothing_else() -> None:
    changes = raster_changes(sheet_page(), 0, sheet_page(door_moved=True, new_text=True), 0)
    old_door = (DOOR.x0, DOOR.y0, DOOR.x1, DOOR.y1)
    new_door = (DOOR.x0 + DOOR_SHIFT, DOOR.y0, DOOR.x1 + DOOR_SHIFT, DOOR.y1)
    x, y = NEW_TEXT_AT
    new_text = (x + 5, y - 5, x + 100, y)
    for place in (old_door, new_door, new_text):
        assert meets(changes, place), place
    assert not meets(changes, (GRID_X[0], 40, GRID_X[1], 440))  # the grid of lines
    assert not meets(changes, (100, 490, 200, 502))  # the untouched note
    assert len(changes.rectangles) == 2
    kinds = {r.kind for r in changes.rectangles}
    assert kinds == {ChangeKind.CHANGED, ChangeKind.ADDED}
    text_rect = next(r for r in changes.rectangles if r.kind is ChangeKind.ADDED)
    # The rectangle is tight around the text line: within the merge distance.
    assert text_rect.x0 >= x - 12
    assert text_rect.y1 <= y + 12
    assert text_rect.y0 >= y - 24


@pytest.mark.parametrize(
    ("width", "y", "dpi", "tolerance"),
    [(0.5, 100.0, 96.0, 2), (0.5, 100.5, 96.0, 2), (0.6, 100.0, 72.0, 1), (0.37, 100.0, 120.0, 2)],
)
def test_a_removed_thin_line_is_found(width: float, y: float, dpi: float, tolerance: int) -> None:
    # A lone line on its own is the faintest change. The thinnest found: 0.5 pt (0.18 mm) at 96 dpi,
    # 0.6 pt at 72 dpi; 0.13 mm (0.37 pt) lines need 120 dpi.
    old = pymupdf.open()
    page = old.new_page(width=400, height=300)
    page.draw_line((50, y), (350, y), width=width)
    new = pymupdf.open()
    new.new_page(width=400, height=300)
    options = RasterCompareOptions(dpi=dpi, tolerance_px=tolerance)
    changes = raster_changes(old.tobytes(), 0, new.tobytes(), 0, options)
    assert [r.kind for r in changes.rectangles] == [ChangeKind.REMOVED]
    r = changes.rectangles[0]
    assert r.x0 <= 52
    assert r.x1 >= 348
    assert r.y0 <= y <= r.y1


def test_a_larger_page_is_aligned_top_left_and_reported() -> None:
    bigger = (PAGE[0] + 200, PAGE[1] + 100)
    changes = raster_changes(sheet_page(), 0, sheet_page(size=bigger), 0)
    assert [f.code for f in changes.findings] == ["PAGE_SIZE_CHANGED"]
    assert "mm" in changes.findings[0].zh
    assert "mm" in changes.findings[0].en
    assert changes.rectangles == ()  # the same drawing on larger paper
    assert (changes.page_width, changes.page_height) == bigger


@pytest.mark.parametrize(("dpi", "tolerance"), [(72.0, 1), (150.0, 3)])
def test_other_resolutions_still_ignore_noise_and_find_changes(dpi: float, tolerance: int) -> None:
    options = RasterCompareOptions(dpi=dpi, tolerance_px=tolerance)
    assert raster_changes(sheet_page(), 0, sheet_page(shift=0.5), 0, options).rectangles == ()
    changes = raster_changes(sheet_page(), 0, sheet_page(new_text=True), 0, options)
    assert meets(changes, (NEW_TEXT_AT[0] + 5, NEW_TEXT_AT[1] - 5, NEW_TEXT_AT[0] + 50, NEW_TEXT_AT[1]))


def test_bad_input_raises_errors_in_both_languages() -> None:
    with pytest.raises(PageMissing) as missing:
        raster_changes(sheet_page(), 0, sheet_page(), 3)
    assert isinstance(missing.value, CompareError)
    assert isinstance(missing.value, ReviewError)
    assert "第 4 页" in missing.value.zh
    assert "page 4" in missing.value.en
    with pytest.raises(UnreadableDrawing):
        raster_changes(b"not a pdf", 0, sheet_page(), 0)


def test_the_process_wide_antialiasing_level_is_given_back() -> None:
    before = pymupdf.TOOLS.show_aa_level()
    raster_changes(sheet_page(), 0, sheet_page(), 0, RasterCompareOptions(antialias=1))
    assert pymupdf.TOOLS.show_aa_level() == before


@pytest.mark.parametrize(("width", "y"), [(0.3, 100.25), (0.4, 100.0), (0.5, 100.5)])
def test_hairlines_are_found_at_two_antialiasing_bits(width: float, y: float) -> None:
    # Drawn at least a pixel wide, a hairline keeps enough ink to pass the threshold after smoothing;
    # without the minimum line width the 2-bit coverage of a 0.5 pt line is lost.
    old = pymupdf.open()
    old.new_page(width=400, height=300).draw_line((50, y), (350, y), width=width)
    new = pymupdf.open()
    new.new_page(width=400, height=300)
    assert [r.kind for r in raster_changes(old.tobytes(), 0, new.tobytes(), 0).rectangles] == [ChangeKind.REMOVED]
    thin = RasterCompareOptions(min_line_px=0.0)
    assert raster_changes(old.tobytes(), 0, new.tobytes(), 0, thin).rectangles == ()


def test_the_opening_drops_slivers_and_keeps_marks() -> None:
    old = np.full((40, 40), 255, dtype=np.uint8)
    new = old.copy()
    new[5, 5:30] = 0  # a one-pixel sliver, as coarse antialiasing leaves along an edge
    new[20:23, 5:30] = 0  # a line three pixels wide after smoothing
    options = RasterCompareOptions(smooth_px=1, tolerance_px=0)
    added, removed = changed_pixels(old, new, options)
    assert not removed.any()
    assert not added[5].any()
    assert added[20:23, 5:30].all()
    unopened, _ = changed_pixels(old, new, RasterCompareOptions(smooth_px=1, tolerance_px=0, opening_px=0))
    assert unopened[5, 5:30].all()


def test_compare_pages_keeps_the_rasters_it_compared() -> None:
    old, new = sheet_page(), sheet_page(door_moved=True, new_text=True)
    compared = compare_pages(old, 0, new, 0)
    assert compared.changes == raster_changes(old, 0, new, 0)
    assert compared.points_per_pixel == pytest.approx(72 / 96)
    height, width = round(PAGE[1] * 96 / 72), round(PAGE[0] * 96 / 72)
    assert abs(compared.old.shape[0] - height) <= 1
    assert abs(compared.new.shape[1] - width) <= 1
    assert compared.old.min() < 128 < compared.old.max()


def test_regions_leave_a_margin_around_the_changed_ink() -> None:
    # An outline drawn on the last pixel of the door would hide the very edge the reviewer looks for.
    changes = raster_changes(sheet_page(), 0, sheet_page(door_moved=True), 0)
    (region,) = changes.rectangles
    assert region.x0 < DOOR.x0
    assert region.x1 > DOOR.x1 + DOOR_SHIFT
    assert region.y0 < DOOR.y0
    assert region.y1 > DOOR.y1


@pytest.mark.parametrize("shape", [(57, 83), (40, 3), (2, 9)])
def test_the_separable_filters_give_what_the_whole_windows_give(shape: tuple[int, int]) -> None:
    from review.compare.raster import _cell_counts, _darkest_nearby, _smooth

    grey = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    h, w = shape
    for radius in (1, 2):
        padded = np.pad(grey, radius, constant_values=255)
        expected = np.array(
            [[padded[y : y + 2 * radius + 1, x : x + 2 * radius + 1].min() for x in range(w)] for y in range(h)]
        )
        assert np.array_equal(_darkest_nearby(grey, radius), expected)
    for size in (2, 3):
        padded = np.pad(grey, ((0, size - 1), (0, size - 1)), mode="edge").astype(np.int64)
        expected = np.array([[padded[y : y + size, x : x + size].sum() // size**2 for x in range(w)] for y in range(h)])
        assert np.array_equal(_smooth(grey, size), expected)
    mask = grey < 100
    for cell in (3, 4):
        counts = _cell_counts(mask, cell)
        assert counts.shape == (-(-h // cell), -(-w // cell))
        for (r, c), n in np.ndenumerate(counts):
            assert n == mask[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell].sum()
