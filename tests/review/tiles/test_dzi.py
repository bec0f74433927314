from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pymupdf
import pytest
from PIL import Image

from review.errors import UnreadableDrawing
from review.tiles.dzi import (
    Pyramid,
    SheetPage,
    TileOptions,
    build_pyramid,
    has_colour,
    iter_tiles,
    render_thumbnail,
)
from review.tiles.png import encode_pixels, encode_rgb
from tests.conftest import sample

DZI = "{http://schemas.microsoft.com/deepzoom/2008}"
# At 72 dpi one point is one pixel, so page coordinates are pixel coordinates of the top level.
SMALL = TileOptions(dpi=72, tile_size=256, overlap=1)


def page_with_lines(width: float = 1000, height: float = 700, rotation: int = 0) -> bytes:
    document = pymupdf.open()
    page = document.new_page(width=width, height=height)
    # A thick black horizontal line at y = 300, x from 100 to 900, and a red square near the bottom right.
    page.draw_line((100, 300), (900, 300), color=(0, 0, 0), width=6)
    page.draw_rect(pymupdf.Rect(900, 600, 960, 660), color=(1, 0, 0), fill=(1, 0, 0))
    if rotation:
        page.set_rotation(rotation)
    return document.tobytes()


def pyramid_of(data: bytes, options: TileOptions = SMALL) -> tuple[Pyramid, dict[str, bytes]]:
    tiles: dict[str, bytes] = {}
    pyramid = build_pyramid(data, 0, tiles.__setitem__, options)
    return pyramid, tiles


def image(png: bytes) -> Image.Image:
    """A tile's pixels as RGB, whether it was written as RGB or as greyscale."""
    decoded = Image.open(io.BytesIO(png))
    decoded.load()
    return decoded if decoded.mode == "RGB" else decoded.convert("RGB")


def test_descriptor_is_deep_zoom_xml() -> None:
    pyramid, _ = pyramid_of(page_with_lines())
    root = ET.fromstring(pyramid.descriptor())
    assert root.tag == f"{DZI}Image"
    assert (root.get("TileSize"), root.get("Overlap"), root.get("Format")) == ("256", "1", "png")
    size = root.find(f"{DZI}Size")
    assert size is not None
    assert (size.get("Width"), size.get("Height")) == ("1000", "700")


def test_tile_counts_follow_the_deep_zoom_math() -> None:
    pyramid, tiles = pyramid_of(page_with_lines())
    assert pyramid.max_level == math.ceil(math.log2(1000)) == 10
    expected: set[str] = set()
    for level in range(11):
        scale = 2 ** (10 - level)
        width, height = math.ceil(1000 / scale), math.ceil(700 / scale)
        cols, rows = math.ceil(width / 256), math.ceil(height / 256)
        assert pyramid.level_size(level) == (width, height)
        expected |= {f"{level}/{c}_{r}.png" for c in range(cols) for r in range(rows)}
    assert set(tiles) == expected
    assert pyramid.level_size(0) == (1, 1)
    assert len([n for n in tiles if n.startswith("10/")]) == 4 * 3


def test_tile_sizes_with_overlap_and_edges() -> None:
    _, tiles = pyramid_of(page_with_lines())
    assert image(tiles["10/0_0.png"]).size == (257, 257)  # overlap on the right and bottom only
    assert image(tiles["10/1_1.png"]).size == (258, 258)  # overlap on every side
    assert image(tiles["10/3_2.png"]).size == (1000 - 767, 700 - 511)  # edge tiles are smaller
    assert image(tiles["0/0_0.png"]).size == (1, 1)


def test_ink_where_the_line_is_and_white_elsewhere() -> None:
    _, tiles = pyramid_of(page_with_lines())
    # Page point (400, 300) is in top-level tile (1, 1), whose pixel (0, 0) is page pixel (255, 255).
    line_tile = image(tiles["10/1_1.png"])
    assert line_tile.getpixel((400 - 255, 300 - 255)) == (0, 0, 0)
    assert line_tile.getpixel((400 - 255, 330 - 255)) == (255, 255, 255)
    assert Image.open(io.BytesIO(tiles["10/1_1.png"])).mode == "L"
    assert Image.open(io.BytesIO(tiles["10/3_2.png"])).mode == "RGB"
    blank = image(tiles["10/0_0.png"])
    assert blank.mode == "RGB"
    assert blank.getextrema() == ((255, 255), (255, 255), (255, 255))
    red = image(tiles["10/3_2.png"])
    assert red.getpixel((930 - 767, 630 - 511)) == (255, 0, 0)
    # One level down the line is still there at half the coordinates.
    half = image(tiles["9/0_0.png"])
    assert max(half.getpixel((200, 150))) < 64


def test_tiles_match_a_plain_render() -> None:
    data = page_with_lines()
    _, tiles = pyramid_of(data, TileOptions(dpi=144, tile_size=256, overlap=1))
    page = pymupdf.open(stream=data)[0]
    # Tile (2, 2) at 144 dpi starts at pixel (511, 511), i.e. page point (255.5, 255.5).
    tile = image(tiles["11/2_2.png"])
    clip = pymupdf.Rect(255.5, 255.5, 255.5 + tile.width / 2, 255.5 + tile.height / 2)
    plain = page.get_pixmap(matrix=pymupdf.Matrix(2, 2), clip=clip, alpha=False)
    reference = Image.frombytes("RGB", (plain.width, plain.height), plain.samples)
    assert reference.size == tile.size
    difference = [abs(a - b) for a, b in zip(tile.tobytes(), reference.tobytes(), strict=True)]
    assert max(difference) <= 32


def test_rotated_page_is_tiled_as_displayed() -> None:
    pyramid, tiles = pyramid_of(page_with_lines(rotation=90))
    assert (pyramid.width, pyramid.height) == (700, 1000)
    # Rotated 90° clockwise the horizontal line becomes vertical at x = 700 - 300 = 400.
    tile = image(tiles["10/1_1.png"])
    assert tile.getpixel((400 - 255, 400 - 255)) == (0, 0, 0)


def test_iter_tiles_matches_build_pyramid() -> None:
    data = page_with_lines(300, 200)
    _, built = pyramid_of(data)
    assert {t.name: t.data for t in iter_tiles(data, 0, SMALL)} == built


def test_bands_do_not_change_the_result() -> None:
    data = page_with_lines()
    _, one_row = pyramid_of(data, TileOptions(dpi=72, tile_size=256, band_rows=1))
    _, all_rows = pyramid_of(data, TileOptions(dpi=72, tile_size=256, band_rows=8))
    assert one_row == all_rows


def test_odd_tile_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        pyramid_of(page_with_lines(), TileOptions(tile_size=255))


def test_page_too_large_for_memory_is_refused() -> None:
    with pytest.raises(UnreadableDrawing, match="too large"):
        pyramid_of(page_with_lines(), TileOptions(dpi=300, max_pixels=1_000_000))


def test_page_over_200_inches_is_refused_in_both_languages() -> None:
    data = page_with_lines(201 * 72, 700)
    for tiles in (lambda: pyramid_of(data, TileOptions(dpi=1)), lambda: list(iter_tiles(data, 0, TileOptions(dpi=1)))):
        with pytest.raises(UnreadableDrawing, match="201 英寸，超过 200 英寸上限") as refused:
            tiles()
        assert "201 inches long, over the 200-inch limit" in str(refused.value)
    pyramid, _ = pyramid_of(page_with_lines(200 * 72, 700), TileOptions(dpi=2, tile_size=256))
    assert pyramid.width == 400


def test_png_writer_round_trips() -> None:
    pixels = bytes(range(256)) * 3 * 4  # 32 x 32 RGB
    decoded = image(encode_rgb(32, 32, pixels))
    assert decoded.size == (32, 32)
    assert decoded.tobytes() == pixels


def test_grey_tiles_are_greyscale_png_with_the_same_pixels() -> None:
    grey = bytes(value for i in range(40 * 30) for value in (i % 251,) * 3)
    tinted = bytearray(grey)
    tinted[3 * 617 + 2] ^= 1  # one pixel's blue off by one
    for pixels, mode in ((grey, "L"), (bytes(tinted), "RGB")):
        # The tile is a view into a wider, taller raster, as tiles are cut from a band.
        raster = np.zeros((50, 60, 3), np.uint8)
        raster[7:37, 11:51] = np.frombuffer(pixels, np.uint8).reshape(30, 40, 3)
        png = encode_pixels(raster[7:37, 11:51])
        decoded = Image.open(io.BytesIO(png))
        assert decoded.mode == mode
        assert decoded.convert("RGB").tobytes() == pixels
        if mode == "L":
            assert len(png) < len(encode_rgb(40, 30, pixels))


def grey_page() -> bytes:
    """Black and grey linework, grey fills in DeviceRGB and DeviceGray, and text: no colour anywhere."""
    document = pymupdf.open()
    page = document.new_page(width=600, height=400)
    page.draw_line((50, 50), (550, 330), color=(0, 0, 0), width=0.7)
    page.draw_rect(pymupdf.Rect(80, 200, 260, 300), color=(0.4, 0.4, 0.4), fill=(0.8, 0.8, 0.8), width=2)
    page.draw_circle((420, 120), 60, color=(0.25,), fill=(0.6,))
    page.insert_text((100, 120), "Floor plan 1:100", fontsize=18)
    return document.tobytes()


def test_colour_is_found_where_it_is_drawn() -> None:
    display_list = pymupdf.open(stream=page_with_lines())[0].get_displaylist()
    assert has_colour(display_list)
    assert not has_colour(display_list, (0, 0, 1000, 580))  # the black line only
    assert has_colour(display_list, (0, 580, 1000, 700))  # the red square
    assert not has_colour(pymupdf.open(stream=grey_page())[0].get_displaylist())


def test_grey_bands_give_the_pixels_of_an_rgb_render() -> None:
    for data, coloured in ((grey_page(), False), (page_with_lines(), True)):
        # One band for the whole page: what is compared is the colour space, not where bands are cut.
        options = TileOptions(dpi=144, tile_size=128, overlap=1, band_rows=16)
        pyramid, tiles = pyramid_of(data, options)
        plain = pymupdf.open(stream=data)[0].get_pixmap(matrix=pymupdf.Matrix(2, 2), alpha=False)
        reference = Image.frombytes("RGB", (plain.width, plain.height), plain.samples)
        top = pyramid.max_level
        cols, rows = pyramid.grid(top)
        modes = set()
        for col in range(cols):
            for row in range(rows):
                png = tiles[f"{top}/{col}_{row}.png"]
                modes.add(Image.open(io.BytesIO(png)).mode)
                tile = np.asarray(image(png), np.int16)
                expected = np.asarray(reference.crop(pyramid.tile_box(top, col, row)), np.int16)
                # Grey set in DeviceRGB is converted to DeviceGray before rendering: a level or two of rounding.
                assert tile.shape == expected.shape
                assert np.abs(tile - expected).max() <= 2, (col, row)
        # Every top-level tile of the grey page is greyscale; the red square's tiles stay RGB.
        assert modes == ({"L", "RGB"} if coloured else {"L"})


def test_thumbnail() -> None:
    data = page_with_lines()
    thumb = image(render_thumbnail(data, 0, max_px=512))
    assert thumb.format == "PNG"
    assert thumb.width == 512
    assert thumb.height in {358, 359}  # 700 x 512 / 1000, rounded outwards
    assert thumb.getpixel((5, 5)) == (255, 255, 255)
    webp = image(render_thumbnail(data, 0, max_px=200, image_format="webp"))
    assert webp.format == "WEBP"
    assert max(webp.size) == 200


def test_sample_site_plan_top_level() -> None:
    """ARCH D (24 x 36 in) at 100 dpi: 2400 x 3600 px, 12 levels."""
    data = sample("pdf_drawings/pdfjs_landscape_site_plan_archD.pdf").read_bytes()
    pyramid, tiles = pyramid_of(data, TileOptions(dpi=100))
    assert (pyramid.width, pyramid.height) == (2400, 3600)
    assert pyramid.max_level == 12
    cols, rows = pyramid.grid(12)
    assert len([n for n in tiles if n.startswith("12/")]) == cols * rows == 5 * 8
    inked = [n for n in tiles if n.startswith("12/") and image(tiles[n]).getextrema()[0][0] < 128]
    assert len(inked) > 10


def test_worker_threads_keep_order_and_bytes() -> None:
    data = page_with_lines()
    serial = [(t.name, t.data) for t in iter_tiles(data, 0, TileOptions(dpi=72, tile_size=256, workers=1))]
    threaded = [(t.name, t.data) for t in iter_tiles(data, 0, TileOptions(dpi=72, tile_size=256, workers=2))]
    assert serial == threaded
    assert serial[0][0] == "10/0_0.png"
    assert serial[-1][0] == "0/0_0.png"


def test_reused_band_buffers_match_a_fresh_render() -> None:
    from review.tiles.dzi import _Bands

    display_list = pymupdf.open(stream=page_with_lines())[0].get_displaylist()
    bands = _Bands(display_list, 1.0, 1000)
    # Same heights reuse the two buffers in turn, a shorter last band gets its own; the line at y = 300
    # and the red square at y = 600..660 must come out as in a plain render of the same rows.
    for top, bottom in ((0, 250), (250, 500), (500, 750 - 50), (240, 490)):
        band = bands.render(top, bottom)
        plain = display_list.get_pixmap(matrix=pymupdf.Matrix(1, 1), clip=pymupdf.Rect(0, top, 1000, bottom))
        assert (band.x, band.y, band.width, band.height) == (0, top, 1000, bottom - top)
        assert band.samples == plain.samples
    assert band.pixel(400, 300 - 240) == (0, 0, 0)


def test_one_reading_gives_text_tiles_and_thumbnail_as_the_separate_calls() -> None:
    document = pymupdf.open(stream=page_with_lines())
    document[0].insert_text((100, 200), "一层平面图 消防车道", fontname="china-s", fontsize=12)
    data = document.tobytes()
    with SheetPage(data) as page:
        assert (page.width_pt, page.height_pt) == (1000, 700)
        assert page.text() == pymupdf.open(stream=data)[0].get_text("text")
        assert "消防车道" in page.text()
        tiles: dict[str, bytes] = {}
        assert page.pyramid(tiles.__setitem__, SMALL) == pyramid_of(data)[0]
        assert tiles == pyramid_of(data)[1]
        plain = pymupdf.open(stream=data)[0].get_pixmap(matrix=pymupdf.Matrix(0.2, 0.2), alpha=False)
        assert image(page.thumbnail(200)).tobytes() == plain.samples
