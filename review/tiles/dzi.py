"""Deep Zoom (DZI) pyramids and thumbnails of PDF pages, for the OpenSeadragon viewer.

Level N is the page at ``dpi`` (300 by default: an A0 sheet is 14043 x 9933 px); each lower level halves
it, rounding up, down to 1 x 1 at level 0. Tiles are named ``<level>/<col>_<row>.png``.

Why it is built this way (see FINDINGS.md, "Tiles"):

- The page is read once into a MuPDF display list; the top level is rendered from it in horizontal bands
  (clip rectangles) a few tile rows high, so the full-resolution raster (~420 MB RGB for A0) never exists.
- Bands where nothing is coloured (MuPDF's test device on the display list, clipped to the band, finds no
  colour: most CAD plots are black and grey linework) are rendered in DeviceGray, one byte a pixel instead
  of three: less to rasterise, to check, to halve and to deflate. The pixels are those of the RGB render
  within a level or two (grey given in DeviceRGB is converted to DeviceGray, with its rounding). A page
  without any colour keeps every level grey.
- Each band is cut into tiles and also halved into the level below (Pillow's 2 x 2 box filter ``reduce``,
  faster than MuPDF's subsampling here, on a worker thread); that level is the only full one kept in
  memory (a quarter of the top). Lower levels come from halving again, never from re-rendering: halving
  a raster is far cheaper than rasterising vector linework again.
- Tiles are numpy views of the sample buffers, copied into PNG scanlines on the workers (``review/tiles/png.py``).
- Tiles that are entirely white (most of a drawing sheet) are encoded once per tile size and reused.
- PNG without row filters at deflate level 1 (``review/tiles/png.py``): linework compresses well even so, and
  encoding, not rendering, dominated the time of a pyramid with Pillow's PNG writer. Deflate runs on worker
  threads (it releases the GIL); MuPDF stays on the calling thread, as it is not thread-safe.
"""

from __future__ import annotations

import io
import math
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import pymupdf as _pymupdf
from numpy.typing import NDArray
from PIL import Image

from review.errors import UnreadableDrawing
from review.sheets.pdf_source import MAX_SIDE_INCHES, load_document
from review.tiles.png import encode_pixels

# PyMuPDF's annotations are partial; it is handled as untyped at this boundary.
pymupdf: Any = _pymupdf

Put = Callable[[str, bytes], None]
T = TypeVar("T")

TILER_VERSION = 2
"""Part of the storage key of tiles (with the source hash and the options): bump when the pixels change."""


@dataclass(frozen=True)
class TileOptions:
    """How a pyramid is cut."""

    dpi: float = 300.0
    """Resolution of the top level."""
    tile_size: int = 510
    """Tile edge in pixels, without overlap (510 + 2 x 1 overlap = 512 px tiles inside the sheet)."""
    overlap: int = 1
    """Pixels each tile shares with its neighbours, so that the viewer shows no seams."""
    compress_level: int = 1
    """Deflate level of the PNG tiles (0 to 3): 1 is fast and linework still compresses well."""
    band_rows: int = 2
    """Tile rows rendered at a time at the top level: memory is about 2 x width x band height x 3 bytes.
    Measured: 2 used the least CPU on an ARCH D sheet (bands that fit better in cache); 8 used a third more."""
    workers: int = 2
    """Threads compressing tiles (deflate releases the GIL); 1 compresses on the calling thread."""
    max_pixels: int = 400_000_000
    """Refuse a top level larger than this many pixels (A0 at 300 dpi is 139 M)."""
    max_side_inches: float = MAX_SIDE_INCHES
    """Refuse a page with a longer side, whatever the dpi (such a page got PAGE_TOO_LARGE when it was read)."""


@dataclass(frozen=True)
class Tile:
    """One encoded tile."""

    level: int
    col: int
    row: int
    data: bytes

    @property
    def name(self) -> str:
        return tile_name(self.level, self.col, self.row)


def tile_name(level: int, col: int, row: int) -> str:
    """``<level>/<col>_<row>.png``, the DZI file layout under ``<name>_files/``."""
    return f"{level}/{col}_{row}.png"


_DESCRIPTOR_ATTRIBUTE = re.compile(rb'\b(Width|Height|TileSize|Overlap|Format)="([^"]*)"')
"""The attributes :meth:`Pyramid.descriptor` writes."""


@dataclass(frozen=True)
class Pyramid:
    """The geometry of a Deep Zoom image."""

    width: int
    """Top-level width in pixels."""
    height: int
    """Top-level height in pixels."""
    tile_size: int
    overlap: int
    format: str = "png"

    @cached_property
    def max_level(self) -> int:
        return math.ceil(math.log2(max(self.width, self.height, 1)))

    def level_size(self, level: int) -> tuple[int, int]:
        """Pixel size of a level: the top halved (rounding up) once per level below it."""
        scale = 2 ** (self.max_level - level)
        return max(1, math.ceil(self.width / scale)), max(1, math.ceil(self.height / scale))

    def grid(self, level: int) -> tuple[int, int]:
        """Columns and rows of tiles at a level."""
        width, height = self.level_size(level)
        return math.ceil(width / self.tile_size), math.ceil(height / self.tile_size)

    def tile_box(self, level: int, col: int, row: int) -> tuple[int, int, int, int]:
        """Pixel box (left, top, right, bottom) of a tile, overlap included."""
        width, height = self.level_size(level)
        left = col * self.tile_size - (self.overlap if col else 0)
        top = row * self.tile_size - (self.overlap if row else 0)
        right = min(width, (col + 1) * self.tile_size + self.overlap)
        bottom = min(height, (row + 1) * self.tile_size + self.overlap)
        return left, top, right, bottom

    @classmethod
    def from_descriptor(cls, data: bytes) -> Pyramid:
        """The geometry a descriptor written by :meth:`descriptor` gives; ValueError when incomplete or invalid."""
        found = {name.decode(): value.decode() for name, value in _DESCRIPTOR_ATTRIBUTE.findall(data[:4096])}
        try:
            pyramid = cls(
                width=int(found["Width"]),
                height=int(found["Height"]),
                tile_size=int(found["TileSize"]),
                overlap=int(found["Overlap"]),
                format=found.get("Format", "png"),
            )
        except KeyError as exc:
            raise ValueError(f"the descriptor has no {exc.args[0]}") from exc
        if min(pyramid.width, pyramid.height, pyramid.tile_size) <= 0 or not 0 <= pyramid.overlap < pyramid.tile_size:
            raise ValueError("the descriptor's sizes are invalid")
        return pyramid

    def descriptor(self) -> bytes:
        """The ``.dzi`` XML descriptor."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="{self.format}" '
            f'Overlap="{self.overlap}" TileSize="{self.tile_size}">'
            f'<Size Width="{self.width}" Height="{self.height}"/></Image>\n'
        ).encode()


class _Encoder:
    """PNG encoding of tiles cut from RGB rasters, in order, on worker threads.

    The workers tell white tiles apart (most of a sheet; encoded once per size), copy the others out of
    the raster into scanlines and deflate them, numpy and deflate both releasing the GIL. MuPDF is only
    ever called from the calling thread. A queued tile reads its band until it is encoded: ``settle``
    waits for a band's tiles before its pixmap is reused.
    """

    def __init__(self, compress_level: int, workers: int) -> None:
        self.compress_level = compress_level
        self.blank: dict[tuple[int, int], bytes] = {}
        self.pool = ThreadPoolExecutor(workers) if workers > 1 else None
        self.depth = 4 * workers
        self.pending: deque[tuple[int, int, int, Future[bytes] | bytes, int]] = deque()

    def add(self, level: int, col: int, row: int, pixels: NDArray[np.uint8], band: int) -> Iterator[Tile]:
        """Queue one tile, a view of ``band``'s raster; yields the tiles whose encoding is due, oldest first."""
        result = self.run(self._encode, pixels)
        self.pending.append((level, col, row, result, band))
        while len(self.pending) > self.depth:
            yield self._oldest()

    def _encode(self, pixels: NDArray[np.uint8]) -> bytes:
        if pixels.min() < 255:
            return encode_pixels(pixels, self.compress_level)
        height, width = pixels.shape[:2]
        # Two workers may both encode a first white tile of a size; either result is the same bytes.
        blank = self.blank.get((width, height))
        if blank is None:
            blank = self.blank[width, height] = encode_pixels(np.full((height, width), 255, np.uint8))
        return blank

    def settle(self, band: int) -> Iterator[Tile]:
        """Yields the queued tiles up to those of ``band``, so that its raster may be overwritten."""
        while self.pending and self.pending[0][4] <= band:
            yield self._oldest()

    def run(self, job: Callable[..., T], *args: Any) -> Future[T] | T:
        """``job(*args)`` on a worker, or here when there are none; the job must not call MuPDF."""
        return job(*args) if self.pool is None else self.pool.submit(job, *args)

    def flush(self) -> Iterator[Tile]:
        while self.pending:
            yield self._oldest()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def _oldest(self) -> Tile:
        level, col, row, result, _ = self.pending.popleft()
        return Tile(level, col, row, result if isinstance(result, bytes) else result.result())


def _cut(
    raster: NDArray[np.uint8], top: int, pyramid: Pyramid, level: int, *, rows: range, encoder: _Encoder, band: int
) -> Iterator[Tile]:
    """Tiles of ``rows`` at ``level`` from a (height, width[, 3]) raster of that level's rows from ``top`` on."""
    cols, _ = pyramid.grid(level)
    for row in rows:
        for col in range(cols):
            left, upper, right, lower = pyramid.tile_box(level, col, row)
            yield from encoder.add(level, col, row, raster[upper - top : lower - top, left:right], band)


def has_colour(display_list: Any, clip: tuple[float, float, float, float] | None = None) -> bool:
    """Whether anything drawn within ``clip`` (page coordinates; the whole page by default) has colour.

    MuPDF's test device walks the display list without rasterising and stops at the first colour; a
    colour counts when its components differ at all (threshold 0). Images and shadings in a colour
    space other than grey count as colour without their samples being read.
    """
    mupdf = pymupdf.mupdf
    found = mupdf.ll_fz_new_test_device_outparams()
    device = mupdf.FzDevice(mupdf.ll_fz_new_test_device_outparams_fn(0.0, 0, None, found))
    area = mupdf.FzRect(*clip) if clip else mupdf.FzRect(mupdf.FzRect.Fixed_INFINITE)
    mupdf.fz_run_display_list(display_list.this, device, mupdf.FzMatrix(), area, mupdf.FzCookie())
    mupdf.fz_close_device(device)
    return bool(found.is_color)


class _Bands:
    """Renders bands of the top level into two pixmaps (per colour space) used in turn.

    Reusing them spares the kernel zeroing fresh pages for every band (bands are tens of MB, above
    malloc's threshold, so each new one is a fresh mapping). Two suffice: a band is read by the
    halving worker while the next one is drawn, and that halving is collected before the one after.
    The draw device is bounded by the exact band, so no pixel outside it is drawn or rounded in.
    """

    def __init__(self, display_list: Any, scale: float, width: int) -> None:
        self.display_list, self.scale, self.width = display_list, scale, width
        self.buffers: dict[tuple[int, bool], Any] = {}
        self.count = 0

    def render(self, top: int, bottom: int, *, grey: bool = False) -> Any:
        """Pixel rows ``top`` to ``bottom``, as an RGB (or, with ``grey``, DeviceGray) pixmap whose origin
        is (0, top); valid until the band after next is rendered."""
        mupdf = pymupdf.mupdf
        slot, self.count = self.count % 2, self.count + 1
        pixmap = self.buffers.get((slot, grey))
        box = mupdf.FzIrect(0, top, self.width, bottom)
        if pixmap is None or pixmap.height != bottom - top:
            space = mupdf.FzColorspace(mupdf.FzColorspace.Fixed_GRAY if grey else mupdf.FzColorspace.Fixed_RGB)
            pixmap = mupdf.fz_new_pixmap_with_bbox(space, box, mupdf.FzSeparations(), 0)
            pixmap = self.buffers[slot, grey] = pymupdf.Pixmap("raw", pixmap)
        else:
            pixmap.set_origin(0, top)
        mupdf.fz_clear_pixmap_with_value(pixmap.this, 255)
        scale = self.scale
        device = mupdf.fz_new_draw_device_with_bbox(mupdf.FzMatrix(scale, 0, 0, scale, 0, 0), pixmap.this, box)
        clip = mupdf.FzRect(0, top / scale, self.width / scale, bottom / scale)
        mupdf.fz_run_display_list(self.display_list.this, device, mupdf.FzMatrix(), clip, mupdf.FzCookie())
        mupdf.fz_close_device(device)
        return pixmap


class _Halver:
    """Halves bands with Pillow's 2 x 2 box filter (Pillow releases the GIL while it works).

    A grey band is read in place. An RGB band is copied into a Pillow image (Pillow keeps RGB as four
    bytes a pixel) kept from one band to the next: a new image per band cost as much again as the
    copy, in zero-filling fresh memory. One halving runs at a time.
    """

    def __init__(self) -> None:
        self.scratch: Image.Image | None = None

    def __call__(self, pixels: memoryview, width: int, height: int, grey: bool) -> Image.Image:
        if grey:
            samples = np.frombuffer(pixels, np.uint8)
            return Image.frombuffer("L", (width, height), samples, "raw", "L", 0, 1).reduce(2)
        if self.scratch is None or self.scratch.size != (width, height):
            self.scratch = Image.new("RGB", (width, height), None)
        self.scratch.frombytes(pixels)
        return self.scratch.reduce(2)


def _paste(level: Image.Image, halving: tuple[Future[Image.Image] | Image.Image, int, Any]) -> None:
    half, top, _band = halving
    level.paste(half if isinstance(half, Image.Image) else half.result(), (0, top))


def _page_pyramid(page: Any, options: TileOptions) -> tuple[Pyramid, float]:
    if options.tile_size % 2 or options.tile_size <= 0:
        raise ValueError("tile_size must be even so that levels halve on tile boundaries")
    longest = max(page.rect.width, page.rect.height) / 72
    if longest > options.max_side_inches:
        raise UnreadableDrawing(
            f"页面边长 {longest:.0f} 英寸，超过 {options.max_side_inches:.0f} 英寸上限，不生成审阅图像 / "
            f"the page is {longest:.0f} inches long, over the {options.max_side_inches:.0f}-inch limit; "
            "no review image is made"
        )
    scale = options.dpi / 72
    box = (page.rect * pymupdf.Matrix(scale, scale)).irect
    if box.width * box.height > options.max_pixels or box.width > 2**20 or box.height > 2**20:
        raise UnreadableDrawing(
            f"页面在 {options.dpi:.0f} dpi 下为 {box.width}×{box.height} 像素，过大，无法生成瓦片 / "
            f"the page is {box.width}x{box.height} px at {options.dpi:.0f} dpi, too large to tile"
        )
    return Pyramid(box.width, box.height, options.tile_size, options.overlap), scale


def iter_tiles(pdf_bytes: bytes, page_index: int, options: TileOptions | None = None) -> Iterator[Tile]:
    """Every tile of a page's pyramid, top level first; see ``build_pyramid`` for the geometry."""
    with SheetPage(pdf_bytes, page_index) as page:
        yield from page.tiles(options)


def _tiles(display_list: Any, pyramid: Pyramid, scale: float, options: TileOptions) -> Iterator[Tile]:
    encoder = _Encoder(options.compress_level, options.workers)
    try:
        yield from _levels(display_list, pyramid, scale, options, encoder)
        yield from encoder.flush()
    finally:
        encoder.close()


def _levels(
    display_list: Any, pyramid: Pyramid, scale: float, options: TileOptions, encoder: _Encoder
) -> Iterator[Tile]:
    top_level, ts, overlap = pyramid.max_level, pyramid.tile_size, pyramid.overlap
    _, rows = pyramid.grid(top_level)
    grey_page = not has_colour(display_list)
    # Not initialised: the halved bands cover every row of it (filling it first is a needless pass).
    mode = "L" if grey_page else "RGB"
    below = Image.new(mode, pyramid.level_size(top_level - 1), None) if top_level else None
    bands = _Bands(display_list, scale, pyramid.width)
    halve = _Halver()
    # The halving of the previous band runs on a worker while this band is cut; the band is kept alive
    # until then, since the worker reads its samples.
    halving: tuple[Future[Image.Image] | Image.Image, int, Any] | None = None
    for number, first in enumerate(range(0, rows, options.band_rows)):
        band_rows = range(first, min(rows, first + options.band_rows))
        core_top, core_bottom = first * ts, min(pyramid.height, band_rows[-1] * ts + ts)
        top, bottom = max(0, core_top - overlap), min(pyramid.height, core_bottom + overlap)
        # This band is drawn into the pixmap of the band before last: its queued tiles must be encoded.
        yield from encoder.settle(number - 2)
        # A pixel beyond the band on either side: antialiasing reaches no further than that.
        grey = grey_page or not has_colour(
            display_list, (0, (top - 1) / scale, pyramid.width / scale, (bottom + 1) / scale)
        )
        band = bands.render(top, bottom, grey=grey)
        shape = (bottom - top, pyramid.width) if grey else (bottom - top, pyramid.width, 3)
        raster = np.frombuffer(band.samples_mv, np.uint8).reshape(shape)
        yield from _cut(raster, top, pyramid, top_level, rows=band_rows, encoder=encoder, band=number)
        if below is not None:
            if halving is not None:
                _paste(below, halving)
            # Band cores start on even rows (the tile size is even), so their halves line up in the level below.
            core = band.samples_mv[(core_top - top) * band.stride : (core_bottom - top) * band.stride]
            halving = (encoder.run(halve, core, pyramid.width, core_bottom - core_top, grey), core_top // 2, band)
        del band
    if below is not None and halving is not None:
        _paste(below, halving)
    level_image = below
    for level in range(top_level - 1, -1, -1):
        if level_image is None:
            break
        _, level_rows = pyramid.grid(level)
        # The array keeps its bytes alive until the last tile cut from it is encoded.
        channels = () if level_image.mode == "L" else (3,)
        pixels = np.frombuffer(level_image.tobytes(), np.uint8).reshape(
            level_image.height, level_image.width, *channels
        )
        yield from _cut(pixels, 0, pyramid, level, rows=range(level_rows), encoder=encoder, band=sys.maxsize)
        level_image = level_image.reduce(2) if level else None


class SheetPage:
    """One page of a PDF, read once: its text, Deep Zoom pyramid and thumbnail come from one display list.

    Each of ``build_pyramid``, ``render_thumbnail`` and a text extraction would otherwise run the page's
    content stream again (a drawing page's content can be tens of MB, a hostile one a gigabyte). A
    context manager: the document is closed on leaving it.
    """

    def __init__(self, pdf_bytes: bytes, page_index: int = 0) -> None:
        self.document = load_document(pdf_bytes)
        self.page = self.document[page_index]
        self._display_list: Any = None

    def __enter__(self) -> SheetPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.document.close()

    @property
    def width_pt(self) -> float:
        """Width as displayed (after /Rotate), in points."""
        return float(self.page.rect.width)

    @property
    def height_pt(self) -> float:
        """Height as displayed (after /Rotate), in points."""
        return float(self.page.rect.height)

    @property
    def display_list(self) -> Any:
        if self._display_list is None:
            self._display_list = self.page.get_displaylist(annots=True)
        return self._display_list

    def text(self) -> str:
        """The page's text in content order, for search (what ``page.get_text("text")`` gives)."""
        textpage = pymupdf.TextPage(self.display_list.get_textpage(flags=pymupdf.TEXTFLAGS_TEXT))
        return str(textpage.extractText())

    def geometry(self, options: TileOptions | None = None) -> Pyramid:
        """The pyramid the page would be cut into (UnreadableDrawing when it is too large to tile)."""
        return _page_pyramid(self.page, options or TileOptions())[0]

    def tiles(self, options: TileOptions | None = None) -> Iterator[Tile]:
        """Every tile of the page's pyramid, top level first."""
        options = options or TileOptions()
        pyramid, scale = _page_pyramid(self.page, options)
        yield from _tiles(self.display_list, pyramid, scale, options)

    def pyramid(self, put: Put, options: TileOptions | None = None) -> Pyramid:
        """Hand every tile to ``put(name, png_bytes)``; returns the geometry (see ``build_pyramid``)."""
        options = options or TileOptions()
        pyramid, _ = _page_pyramid(self.page, options)
        for tile in self.tiles(options):
            put(tile.name, tile.data)
        return pyramid

    def thumbnail(self, max_px: int = 512, image_format: str = "png") -> bytes:
        """An image whose longer side is ``max_px`` pixels, as PNG (default) or WebP, white background."""
        scale = max_px / max(self.width_pt, self.height_pt)
        pixmap = self.display_list.get_pixmap(matrix=pymupdf.Matrix(scale, scale), alpha=False)
        image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
        out = io.BytesIO()
        if image_format == "webp":
            image.save(out, format="WEBP", lossless=True, method=0)
        else:
            image.save(out, format="PNG", compress_level=6)
        return out.getvalue()


def build_pyramid(pdf_bytes: bytes, page_index: int, put: Put, options: TileOptions | None = None) -> Pyramid:
    """Render a page's Deep Zoom pyramid, handing each tile to ``put(name, png_bytes)``.

    Returns the geometry; ``Pyramid.descriptor()`` is the ``.dzi`` file to store next to the tiles.
    """
    with SheetPage(pdf_bytes, page_index) as page:
        return page.pyramid(put, options)


def render_thumbnail(pdf_bytes: bytes, page_index: int, max_px: int = 512, image_format: str = "png") -> bytes:
    """A page image whose longer side is ``max_px`` pixels, as PNG (default) or WebP, white background."""
    with SheetPage(pdf_bytes, page_index) as page:
        return page.thumbnail(max_px, image_format)
