"""Seal images (印章图像): the standard red round official seal, and checks of uploaded ones.

The generated seal follows the usual layout of a Chinese official seal (公章): a red ring, the
organisation's name along the upper arc with each character upright towards the rim, a
five-pointed star in the centre and the purpose (e.g. 施工图审查专用章) in a straight line below it.
It is drawn at four times its size and reduced, which smooths the edges.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from signing.errors import InvalidSealImage
from signing.fonts import SANS_BOLD, SERIF_BOLD, collection_path, simplified_face_index

SEAL_RED = (226, 0, 18)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class SealSpec:
    """What the seal says and how large it is."""

    organisation: str
    """Name along the upper arc (单位名称)."""
    purpose: str = ""
    """Straight text below the star (印章用途), e.g. 施工图审查专用章; may be empty."""
    code: str = ""
    """Optional small text along the lower rim (印章编码)."""
    diameter_mm: float = 40.0
    """Outer diameter; 40 mm is the usual size of an organisation's seal."""
    dpi: int = 300
    """Resolution of the PNG."""
    colour: tuple[int, int, int] = SEAL_RED
    """Ink colour."""


@dataclass(frozen=True)
class SealImage:
    """An accepted seal image."""

    png: bytes
    """The PNG as uploaded."""
    width: int
    """Pixels."""
    height: int
    """Pixels."""


@dataclass(frozen=True)
class SealImageLimits:
    """Limits for uploaded seal images."""

    max_bytes: int = 2 * 1024 * 1024
    """Largest accepted file."""
    min_side: int = 64
    """Smallest accepted width and height in pixels."""
    max_side: int = 4000
    """Largest accepted width and height in pixels."""


def _font(file_name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(collection_path(file_name)), size, index=simplified_face_index(file_name))


def _glyph(char: str, font: ImageFont.FreeTypeFont, colour: tuple[int, int, int], squeeze: float) -> Image.Image:
    """One character on its own transparent tile, narrowed as seal lettering is."""
    left, top, right, bottom = (round(v) for v in font.getbbox(char))
    tile = Image.new("RGBA", (right - left + 4, bottom - top + 4), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((2 - left, 2 - top), char, font=font, fill=(*colour, 255))
    return tile.resize((max(1, round(tile.width * squeeze)), tile.height), Image.Resampling.LANCZOS)


def _paste_centered(canvas: Image.Image, tile: Image.Image, x: float, y: float) -> None:
    canvas.alpha_composite(tile, (round(x - tile.width / 2), round(y - tile.height / 2)))


def _arc_text(
    canvas: Image.Image,
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    centre: float,
    radius: float,
    span_degrees: float,
    colour: tuple[int, int, int],
    squeeze: float,
    upper: bool = True,
) -> None:
    """Characters spread evenly over an arc centred at the top (or bottom), read left to right."""
    count = len(text)
    if not count:
        return
    step = span_degrees / count
    for i, char in enumerate(text):
        offset = -span_degrees / 2 + step * (i + 0.5)
        # Screen angles: -90° is straight up; the upper arc runs clockwise, the lower one anticlockwise.
        angle = -90 + offset if upper else 90 - offset
        x = centre + radius * math.cos(math.radians(angle))
        y = centre + radius * math.sin(math.radians(angle))
        glyph = _glyph(char, font, colour, squeeze)
        turn = -(angle + 90) if upper else -(angle - 90)
        _paste_centered(canvas, glyph.rotate(turn, resample=Image.Resampling.BICUBIC, expand=True), x, y)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, outer: float, colour: tuple[int, int, int]) -> None:
    inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(54))
    points = []
    for k in range(10):
        r = outer if k % 2 == 0 else inner
        a = math.radians(-90 + 36 * k)
        points.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    draw.polygon(points, fill=(*colour, 255))


def draw_round_seal(spec: SealSpec) -> bytes:
    """The round official seal as a PNG with a transparent background."""
    size = round(spec.diameter_mm / 25.4 * spec.dpi)
    big = size * _SUPERSAMPLE
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    centre = big / 2
    ring = big * 0.04
    outer = big / 2 - big * 0.01
    draw.ellipse(
        (centre - outer, centre - outer, centre + outer, centre + outer), outline=(*spec.colour, 255), width=round(ring)
    )

    count = max(len(spec.organisation), 1)
    name_size = round(big * (0.12 if count <= 10 else 0.105 if count <= 14 else 0.088))
    name_font = _font(SERIF_BOLD, name_size)
    span = min(250.0, max(130.0, 22.0 * count))
    _arc_text(
        canvas,
        spec.organisation,
        name_font,
        centre=centre,
        radius=outer - ring - big * 0.025 - name_size * 0.55,
        span_degrees=span,
        colour=spec.colour,
        squeeze=0.78,
    )
    star_radius = big * 0.145
    _star(draw, centre, centre - big * 0.01, star_radius, spec.colour)

    if spec.purpose:
        purpose_size = round(big * (0.085 if len(spec.purpose) <= 8 else 0.07))
        purpose_font = _font(SANS_BOLD, purpose_size)
        tiles = [_glyph(c, purpose_font, spec.colour, 0.85) for c in spec.purpose]
        gap = purpose_size * 0.08
        total = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
        # A long name reaches far down the rim: keep the purpose line inside it.
        room = big * (0.44 if span > 220 else 0.56)
        if total > room:
            purpose_font = _font(SANS_BOLD, round(purpose_size * room / total))
            tiles = [_glyph(c, purpose_font, spec.colour, 0.85) for c in spec.purpose]
            gap *= room / total
            total = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
        x = centre - total / 2
        y = centre + big * 0.245
        for tile in tiles:
            _paste_centered(canvas, tile, x + tile.width / 2, y)
            x += tile.width + gap
    if spec.code:
        code_size = round(big * 0.045)
        _arc_text(
            canvas,
            spec.code,
            _font(SANS_BOLD, code_size),
            centre=centre,
            radius=outer - ring - code_size * 0.9,
            span_degrees=min(90.0, 5.5 * len(spec.code)),
            colour=spec.colour,
            squeeze=1.0,
            upper=False,
        )

    seal = canvas.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    seal.save(out, format="PNG", dpi=(spec.dpi, spec.dpi), optimize=True)
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA"} or (image.mode in {"P", "L", "RGB"} and "transparency" in image.info)


def accept_seal_png(data: bytes, limits: SealImageLimits = SealImageLimits()) -> SealImage:
    """Check an uploaded seal image: a real PNG, within the size limits, with a transparent background."""
    if len(data) > limits.max_bytes:
        raise InvalidSealImage(
            f"印章图片过大（{len(data)} 字节，上限 {limits.max_bytes} 字节）",
            f"The seal image is too large ({len(data)} bytes, limit {limits.max_bytes})",
        )
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidSealImage("印章图片必须是 PNG 格式", "The seal image must be a PNG file")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            alpha = _has_alpha(image)
            fmt = image.format
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidSealImage("印章图片已损坏，无法读取", "The seal image is damaged and cannot be read") from exc
    if fmt != "PNG":
        raise InvalidSealImage("印章图片必须是 PNG 格式", "The seal image must be a PNG file")
    if min(width, height) < limits.min_side or max(width, height) > limits.max_side:
        raise InvalidSealImage(
            f"印章图片尺寸 {width}×{height} 像素不在 {limits.min_side}–{limits.max_side} 像素范围内",
            f"The seal image is {width}×{height} px, outside {limits.min_side}–{limits.max_side} px",
        )
    if not alpha:
        raise InvalidSealImage(
            "印章图片必须有透明背景（带 Alpha 通道）",
            "The seal image must have a transparent background (an alpha channel)",
        )
    return SealImage(png=data, width=width, height=height)
