"""A sheet in grey from one level of its stored Deep Zoom pyramid (瓦片层级), for the overlay picture.

Intake stores every sheet PDF as a pyramid of PNG tiles (:mod:`review.tiles.dzi`): the top level at 300 dpi,
each level below it halved with a 2 x 2 box filter. The level just above the overlay's resolution (75 dpi for
a 300 dpi pyramid, about twenty tiles on A1) is already the page rendered and scaled down, so the overlay of an
entity comparison is composed from the two revisions' stored levels instead of two fresh renders of their
sheet PDFs, which on a dense A1 sheet cost ten times as long as reading and stitching the tiles.

Halving twice averages a hairline over four pixels: its ink comes out light grey where a render at the lower
resolution (drawing hairlines a pixel wide) gives black. :func:`darken` stretches the grey levels so that a
line half a pixel wide is black again and the overlay shows its colours as clearly as from a render.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from review.compare.errors import CompareError
from review.tiles.dzi import Pyramid, tile_name

Gray = npt.NDArray[np.uint8]

_MAX_PIXELS = 40_000_000
"""Largest level read (an A0 sheet at 150 dpi is 35 M pixels); the overlay needs far fewer."""


class TilesUnreadable(CompareError):
    """A stored pyramid whose descriptor or tiles cannot be read; the overlay is rendered instead."""

    code = "COMPARE_TILES_UNREADABLE"


@dataclass(frozen=True)
class LevelPicture:
    """One pyramid level of a sheet, in grey (white 255)."""

    grey: Gray
    level: int
    points_per_pixel: float
    """Sheet points per pixel of this level."""


def _unreadable(why: str, en: str) -> TilesUnreadable:
    return TilesUnreadable(f"无法读取已存瓦片（{why}）", f"the stored tiles cannot be read ({en})")


def pyramid_of(descriptor: bytes) -> Pyramid:
    """The geometry a stored ``.dzi`` descriptor gives; :class:`TilesUnreadable` when it cannot be read."""
    try:
        return Pyramid.from_descriptor(descriptor)
    except ValueError as exc:
        raise _unreadable("描述文件无效", f"invalid descriptor: {exc}") from exc


def level_for(pyramid: Pyramid, page_width_pt: float, dpi: float) -> tuple[int, float]:
    """The lowest level with at least ``dpi`` (the top level when none has), and its points per pixel."""
    top_points_per_pixel = page_width_pt / pyramid.width
    below = 0
    while below < pyramid.max_level and 72.0 / (top_points_per_pixel * 2 ** (below + 1)) >= dpi:
        below += 1
    level = pyramid.max_level - below
    # A level's size is the top's halved with rounding up: its own width gives the exact scale.
    return level, page_width_pt / pyramid.level_size(level)[0]


def read_level(pyramid: Pyramid, level: int, read_tile: Callable[[str], bytes]) -> Gray:
    """Level ``level`` of the pyramid in grey, stitched from its tiles; ``read_tile(name)`` gives a tile's bytes.

    Colour tiles are converted to grey as the comparison's renders are (ITU-R 601 luma).
    """
    width, height = pyramid.level_size(level)
    if width * height > _MAX_PIXELS:
        raise _unreadable(f"层级 {level} 过大", f"level {level} is too large")
    grey = np.empty((height, width), dtype=np.uint8)
    cols, rows = pyramid.grid(level)
    for row in range(rows):
        for col in range(cols):
            left, top, right, bottom = pyramid.tile_box(level, col, row)
            try:
                with Image.open(io.BytesIO(read_tile(tile_name(level, col, row)))) as image:
                    tile = np.asarray(image if image.mode == "L" else image.convert("L"))
            except (OSError, ValueError, SyntaxError) as exc:
                raise _unreadable(f"瓦片 {level}/{col}_{row}", f"tile {level}/{col}_{row}: {exc}") from exc
            if tile.shape != (bottom - top, right - left):
                raise _unreadable(f"瓦片 {level}/{col}_{row} 尺寸不符", f"tile {level}/{col}_{row} has the wrong size")
            # The overlap a tile shares with its left and upper neighbours is skipped; its own pixels are the same.
            dx, dy = left - (col * pyramid.tile_size), top - (row * pyramid.tile_size)
            core = tile[-dy:, -dx:] if dx or dy else tile
            grey[top - dy : bottom, left - dx : right] = core
    return grey


_DARKEN_GAIN = 2.0
"""Ink at half coverage (grey 128) becomes black; paper (255) stays white."""
_DARKEN = np.clip(255.0 - (255.0 - np.arange(256)) * _DARKEN_GAIN, 0, 255).round().astype(np.uint8)


def darken(grey: Gray) -> Gray:
    """``grey`` with its ink darkened (see the module's docstring); a new array."""
    darkened: Gray = _DARKEN[grey]
    return darkened


def stored_level(
    descriptor: bytes, page_width_pt: float, dpi: float, read_tile: Callable[[str], bytes]
) -> LevelPicture:
    """The sheet in grey at the pyramid's lowest level of at least ``dpi``, its ink darkened for the overlay."""
    pyramid = pyramid_of(descriptor)
    if not math.isfinite(page_width_pt) or page_width_pt <= 0:
        raise _unreadable("页面宽度未知", "the page width is unknown")
    level, points_per_pixel = level_for(pyramid, page_width_pt, dpi)
    return LevelPicture(darken(read_level(pyramid, level, read_tile)), level, points_per_pixel)
