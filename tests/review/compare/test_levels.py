from __future__ import annotations

import io
from typing import Any

import numpy as np
import pymupdf as _pymupdf
import pytest
from PIL import Image

from review.compare.levels import TilesUnreadable, darken, level_for, pyramid_of, read_level, stored_level
from review.tiles.dzi import Pyramid, TileOptions, build_pyramid
from tests.review.compare.conftest import DOOR, PAGE, sheet_page

pymupdf: Any = _pymupdf  # untyped at this boundary, as in the package
# Small tiles, so that a level is stitched from many tiles with their overlaps.
OPTIONS = TileOptions(dpi=144, tile_size=128, overlap=1, workers=1)


@pytest.fixture(scope="module")
def stored() -> tuple[bytes, dict[str, bytes]]:
    """A sheet's pyramid as intake stores it: the descriptor and the tiles by name."""
    tiles: dict[str, bytes] = {}
    pyramid = build_pyramid(sheet_page(), 0, tiles.__setitem__, OPTIONS)
    return pyramid.descriptor(), tiles


def test_the_descriptor_gives_the_pyramid_it_was_written_from() -> None:
    pyramid = Pyramid(9933, 7016, 510, 1)
    assert pyramid_of(pyramid.descriptor()) == pyramid
    with pytest.raises(TilesUnreadable):
        pyramid_of(b'<Image TileSize="510" Overlap="1"><Size Width="9933"/></Image>')
    with pytest.raises(TilesUnreadable):
        pyramid_of(Pyramid(100, 100, 0, 1).descriptor())


def test_the_lowest_level_of_at_least_the_overlay_resolution_is_chosen() -> None:
    a1 = Pyramid(9933, 7016, 510, 1)  # A1 at 300 dpi
    width_pt = 841 * 72 / 25.4
    level, points_per_pixel = level_for(a1, width_pt, 72.0)
    assert a1.max_level - level == 2  # 75 dpi
    assert a1.level_size(level) == (2484, 1754)
    assert points_per_pixel == pytest.approx(72 / 75, rel=1e-3)
    # Tiles below the wanted resolution: the top level, the most there is.
    coarse = Pyramid(1655, 1169, 510, 1)  # A1 at 50 dpi
    assert level_for(coarse, width_pt, 72.0)[0] == coarse.max_level


def test_a_level_is_stitched_from_its_tiles_overlaps_and_all(stored: tuple[bytes, dict[str, bytes]]) -> None:
    descriptor, tiles = stored
    pyramid = pyramid_of(descriptor)
    for level in (pyramid.max_level, pyramid.max_level - 1, pyramid.max_level - 3):
        grey = read_level(pyramid, level, tiles.__getitem__)
        width, height = pyramid.level_size(level)
        assert grey.shape == (height, width)
        cols, rows = pyramid.grid(level)
        assert cols * rows > 1
        for row in range(rows):
            for col in range(cols):
                left, top, right, bottom = pyramid.tile_box(level, col, row)
                tile = np.asarray(Image.open(io.BytesIO(tiles[f"{level}/{col}_{row}.png"])).convert("L"))
                # Each pixel comes from the tile whose core holds it; the overlap a tile repeats of its neighbours
                # (rendered in another band, so not always to the grey level) is theirs.
                x0, y0 = col * pyramid.tile_size, row * pyramid.tile_size
                x1 = right - (pyramid.overlap if col < cols - 1 else 0)
                y1 = bottom - (pyramid.overlap if row < rows - 1 else 0)
                core = tile[y0 - top : y1 - top, x0 - left : x1 - left]
                assert np.array_equal(grey[y0:y1, x0:x1], core), (level, col, row)


def test_the_top_level_matches_a_render_of_the_page(stored: tuple[bytes, dict[str, bytes]]) -> None:
    descriptor, tiles = stored
    pyramid = pyramid_of(descriptor)
    grey = read_level(pyramid, pyramid.max_level, tiles.__getitem__)
    page = pymupdf.open(stream=sheet_page(), filetype="pdf")[0]
    pix = page.get_pixmap(matrix=pymupdf.Matrix(2, 2), colorspace=pymupdf.csGRAY, alpha=False)
    rendered = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width)
    assert grey.shape == rendered.shape
    difference = np.abs(grey.astype(np.int16) - rendered)
    # The pyramid renders the page in bands: pixels on a band's edge may be antialiased a little differently.
    assert np.count_nonzero(difference > 2) < difference.size / 1000
    assert difference.max() <= 32


def test_the_overlay_level_is_darkened_and_scaled_to_the_sheet(stored: tuple[bytes, dict[str, bytes]]) -> None:
    descriptor, tiles = stored
    picture = stored_level(descriptor, PAGE[0], 72.0, tiles.__getitem__)
    assert picture.level == pyramid_of(descriptor).max_level - 1  # 72 dpi of 144
    assert picture.points_per_pixel == pytest.approx(1.0, rel=1e-3)
    # The door's left edge (1 pt wide) is black, the paper white.
    x, y = round(DOOR.x0 / picture.points_per_pixel), round((DOOR.y0 + DOOR.y1) / 2 / picture.points_per_pixel)
    assert picture.grey[y, x - 1 : x + 2].min() <= 8
    assert picture.grey[300, 700] == 255
    assert list(darken(np.array([255, 200, 128, 127, 0], np.uint8))) == [255, 145, 1, 0, 0]


def test_a_damaged_or_missing_tile_is_reported(stored: tuple[bytes, dict[str, bytes]]) -> None:
    descriptor, tiles = stored
    pyramid = pyramid_of(descriptor)
    level = pyramid.max_level - 1
    damaged = {**tiles, f"{level}/0_0.png": b"not a png"}
    with pytest.raises(TilesUnreadable):
        read_level(pyramid, level, damaged.__getitem__)
    wrong_size = {**tiles, f"{level}/0_0.png": tiles[f"{level}/1_0.png"]}
    with pytest.raises(TilesUnreadable):
        read_level(pyramid, level, wrong_size.__getitem__)
    with pytest.raises(TilesUnreadable):
        stored_level(descriptor, 0.0, 72.0, tiles.__getitem__)
