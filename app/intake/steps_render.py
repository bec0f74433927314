"""Steps that make a sheet viewable: Deep Zoom tiles, thumbnail and searchable text from its sheet PDF.

Each artefact is keyed by the sheet PDF's SHA-256, the tiler version and its parameters; the pyramid's
``.dzi`` descriptor is written after its last tile, so a stored descriptor means a complete pyramid and
the tiles are skipped.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from app.intake.keys import dzi_key, thumbnail_key, tile_key, tiles_prefix
from app.intake.steps_read import Report, no_report, sha256_of
from review.tiles.dzi import TILER_VERSION, Pyramid, SheetPage, TileOptions
from storage.blobstore import BlobStore


@dataclass(frozen=True)
class ViewOptions:
    """How a sheet is prepared for the viewer."""

    dpi: int = 300
    """Top-level resolution of the tiles: an A0 sheet at 300 dpi is 14043 x 9933 px."""
    max_pixels: int = 160_000_000
    """Cap of the top level; larger pages get a lower dpi (A0 at 300 dpi is 139 M px, so it keeps 300)."""
    min_dpi: int = 36
    """Floor of the dpi chosen for huge pages."""
    thumbnail_px: int = 512
    """Longer side of the thumbnail in pixels."""
    tile_workers: int = 2
    """Threads compressing tiles."""


@dataclass(frozen=True)
class SheetView:
    """What was stored for one sheet PDF."""

    tiles_key: str
    """Key of the ``.dzi`` descriptor."""
    thumbnail_key: str
    dpi: int
    text: str
    """The page's text, for search."""


def choose_dpi(width_pt: float, height_pt: float, options: ViewOptions) -> int:
    """``options.dpi``, lowered just enough that the top level stays under ``options.max_pixels``."""
    area_in2 = max(width_pt, 1.0) * max(height_pt, 1.0) / 72**2
    capped = math.floor(math.sqrt(options.max_pixels / area_in2))
    return max(options.min_dpi, min(options.dpi, capped))


def tile_prefix_of(dzi: str) -> str:
    """The pyramid folder of a stored ``.dzi`` key."""
    return dzi.rsplit("/", 1)[0]


def _tile_count(pyramid: Pyramid) -> int:
    total = 0
    for level in range(pyramid.max_level + 1):
        cols, rows = pyramid.grid(level)
        total += cols * rows
    return total


def build_view(
    store: BlobStore, pdf_key: str, options: ViewOptions | None = None, report: Report = no_report
) -> SheetView:
    """Store the tiles and thumbnail of a one-page sheet PDF (skipping what is stored) and read its text."""
    options = options or ViewOptions()
    pdf_sha = sha256_of(store, pdf_key)
    with store.open(pdf_key) as stream:
        pdf = stream.read()
    # The page is read once, for its text, tiles and thumbnail alike.
    with SheetPage(pdf) as page:
        return _build_view(store, page, pdf_sha, options, report)


def _build_view(store: BlobStore, page: SheetPage, pdf_sha: str, options: ViewOptions, report: Report) -> SheetView:
    width, height = page.width_pt, page.height_pt
    # In content order: sorting by position interleaved the letters of crossing and rotated text on
    # drawing sheets, padded lines with spaces to their position and took four times as long.
    text = page.text()
    dpi = choose_dpi(width, height, options)
    prefix = tiles_prefix(pdf_sha, TILER_VERSION, dpi)
    descriptor = dzi_key(prefix)
    if not store.exists(descriptor):
        tile_options = TileOptions(dpi=float(dpi), workers=options.tile_workers, max_pixels=options.max_pixels + 10**6)
        expected = _tile_count(page.geometry(tile_options))
        done = 0

        # About twenty progress reports a pyramid: each one is a database transaction.
        every = max(1, expected // 20)

        def put(name: str, data: bytes) -> None:
            nonlocal done
            store.put_stream(tile_key(prefix, name), io.BytesIO(data), content_type="image/png")
            done += 1
            if done % every == 0 or done == expected:
                percent = min(95.0, 95.0 * done / max(expected, 1))
                report(percent, f"切片 {done}/{expected} / tiles {done}/{expected}")

        pyramid = page.pyramid(put, tile_options)
        dzi = pyramid.descriptor()
        store.put_stream(descriptor, io.BytesIO(dzi), content_type="application/xml", expected_size=len(dzi))
    thumb = thumbnail_key(pdf_sha, options.thumbnail_px)
    if not store.exists(thumb):
        report(96.0, "缩略图 / thumbnail")
        image = page.thumbnail(options.thumbnail_px)
        store.put_stream(thumb, io.BytesIO(image), content_type="image/png", expected_size=len(image))
    return SheetView(tiles_key=descriptor, thumbnail_key=thumb, dpi=dpi, text=text)
