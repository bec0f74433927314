"""A minimal PNG writer for tiles: 8-bit RGB or grey, no row filter, deflate at a fast level.

Drawing tiles are mostly white runs with thin lines, which deflate compresses well without PNG's row
filters; Pillow tries every filter on every row and spent three to five times longer for files only
a few percent smaller. Tiles whose every pixel is grey (r = g = b: black and grey linework sheets) are
written as 8-bit greyscale: a third of the bytes to deflate, about half the file, the same pixels.

Deflate is ISA-L's (``isal``), which writes the same zlib stream format as zlib: on the tiles of an
ARCH D sheet its level 1 took a sixth of zlib level 1's time for slightly smaller files. It releases
the GIL, so tiles are compressed in parallel on worker threads.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib
from numpy.typing import NDArray

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def scanlines(pixels: memoryview, stride: int, box: tuple[int, int, int, int]) -> bytes:
    """PNG scanlines (filter byte 0, then the row) of ``box`` (left, top, right, bottom) in an RGB buffer."""
    left, top, right, bottom = box
    rows: list[bytes | memoryview] = []
    for y in range(top, bottom):
        start = y * stride + left * 3
        rows += (b"\x00", pixels[start : start + (right - left) * 3])
    return b"".join(rows)


def deflate(data: bytes | memoryview, level: int = 1) -> bytes:
    """A zlib stream of ``data``; ``level`` 0 (fastest) to 3 (smallest), ISA-L's levels."""
    return isal_zlib.compress(data, min(max(level, 0), 3))


def encode_scanlines(width: int, height: int, lines: bytes, level: int = 1) -> bytes:
    """PNG of 8-bit RGB ``lines`` as made by ``scanlines``."""
    if len(lines) != (width * 3 + 1) * height:
        raise ValueError(f"expected {(width * 3 + 1) * height} bytes of scanlines, got {len(lines)}")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", deflate(lines, level)) + _IEND


def encode_pixels(pixels: NDArray[np.uint8], level: int = 1) -> bytes:
    """PNG of a (height, width, 3) RGB or (height, width) grey array, which may be a view into a larger raster.

    An RGB array is written as greyscale when every pixel is grey, as RGB otherwise. The scanlines are
    assembled by numpy, which releases the GIL for the comparison and the copies, so this runs in
    parallel on worker threads.
    """
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        grey, green = True, pixels
    else:
        green = pixels[:, :, 1]
        grey = np.array_equal(pixels[:, :, 0], green) and np.array_equal(pixels[:, :, 2], green)
    lines = np.empty((height, (width if grey else width * 3) + 1), np.uint8)
    lines[:, 0] = 0
    if grey:
        lines[:, 1:] = green
    else:
        rows = lines[:, 1:]
        rows.shape = (height, width, 3)  # a view, never a copy (assigning the shape raises otherwise)
        rows[...] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if grey else 2, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", deflate(lines.data, level)) + _IEND


def encode_rgb(width: int, height: int, pixels: bytes | memoryview, level: int = 1) -> bytes:
    """PNG of ``width`` x ``height`` RGB pixels, rows top to bottom, 3 bytes a pixel."""
    if len(pixels) != width * 3 * height:
        raise ValueError(f"expected {width * 3 * height} bytes of RGB pixels, got {len(pixels)}")
    lines = scanlines(memoryview(pixels), width * 3, (0, 0, width, height))
    return encode_scanlines(width, height, lines, level)
