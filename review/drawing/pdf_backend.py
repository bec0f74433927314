"""An ezdxf drawing backend that writes PDF page-content operators straight into a list of strings.

ezdxf's own PyMuPDF backend grows quadratically with the number of entities (the page contents are
rebuilt on every commit); here every primitive appends one short string and the page is joined once.
Coordinates are transformed to page points in Python (float64) before they are written, because
viewers work in 32-bit floats and survey-grid coordinates (x = 40 500 000 m) would lose whole metres.
Consecutive strokes with the same colour, width and dash pattern share one path and one ``S``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ezdxf.addons.drawing.backend import BackendInterface, BkPath2d, BkPoints2d, ImageData
from ezdxf.addons.drawing.config import Configuration
from ezdxf.addons.drawing.properties import BackendProperties, Properties
from ezdxf.entities.dxfgfx import DXFGraphic
from ezdxf.math import Vec2

from review.drawing.fonts import FaceKind

POINTS_PER_MM = 72.0 / 25.4

Affine = tuple[float, float, float, float, float, float]
"""A 2D affine map ``(a, b, c, d, e, f)``: ``x' = a·x + c·y + e``, ``y' = b·x + d·y + f`` (PDF order)."""

IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

# Round caps and joins, as CAD plotters draw: zero-length dashes (the dots of DASHDOT, hatch pattern
# dots, POINT entities) then show as dots instead of vanishing.
_PROLOGUE = "1 J 1 j\n"

_LINE_TO, _CURVE3_TO, _CURVE4_TO, _MOVE_TO = 1, 2, 3, 4
_OPS = {_LINE_TO: " %.2f %.2f l", _CURVE4_TO: " %.2f %.2f %.2f %.2f %.2f %.2f c", _MOVE_TO: " %.2f %.2f m"}


def compose(first: Affine, then: Affine) -> Affine:
    """The map that applies ``first`` and then ``then``."""
    a, b, c, d, e, f = first
    p, q, r, s, t, u = then
    return (a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, e * p + f * r + t, e * q + f * s + u)


def affine_scale(m: Affine) -> float:
    """Mean length scale of ``m`` (square root of the absolute determinant)."""
    return math.sqrt(abs(m[0] * m[3] - m[1] * m[2]))


@dataclass(frozen=True)
class StrokeStyle:
    """How DXF lineweights and colours become PDF strokes on a white sheet."""

    min_width_mm: float = 0.09
    """Thinnest line drawn (mm on paper); thinner lineweights, including 0, are drawn this wide."""
    width_scale: float = 1.0
    """Multiplies every lineweight (1.0 = as plotted)."""
    darken_light_colors: bool = True
    """Darken yellow, cyan and light greys, which fade on white paper, to the same hue at 50 % luminance."""
    min_dash_period_mm: float = 0.6
    """Linetype patterns shorter than this on paper are drawn solid (they would print as grey smears)."""


@dataclass
class FontUsage:
    """The glyphs of one face used on the page, numbered into 256-glyph PDF Type 3 fonts.

    A PDF simple font addresses 256 glyphs with one byte; a Chinese sheet uses a thousand or more
    different characters, so the face is split into several fonts, filled in order of first use.
    """

    kind: FaceKind
    path: Path
    resource: str
    glyphs: dict[int, str] = field(default_factory=dict)
    """CID → the text it stands for (for the ToUnicode map)."""
    codes: dict[int, tuple[int, int]] = field(default_factory=dict)
    """CID → (index of the Type 3 font, one-byte code in it)."""
    fonts: list[list[int]] = field(default_factory=list)
    """The CIDs of each Type 3 font, in code order."""

    def code(self, cid: int, text: str) -> tuple[int, int]:
        found = self.codes.get(cid)
        if found is None:
            if not self.fonts or len(self.fonts[-1]) == 256:
                self.fonts.append([])
            found = (len(self.fonts) - 1, len(self.fonts[-1]))
            self.fonts[-1].append(cid)
            self.codes[cid] = found
            self.glyphs[cid] = text
        return found

    def resource_name(self, index: int) -> str:
        return f"{self.resource}_{index}"


@dataclass
class _GraphicsState:
    stroke: str = ""
    fill: str = ""
    width: float = -1.0
    dash: tuple[float, ...] = ()


class PdfContentBackend(BackendInterface):
    """Collects PDF content operators in page points; :meth:`content` returns the page's stream."""

    def __init__(self, page_transform: Affine, style: StrokeStyle | None = None) -> None:
        self._style = style or StrokeStyle()
        self._m: Affine = page_transform
        self._unit = affine_scale(page_transform)
        self._stack: list[tuple[Affine, float, _GraphicsState]] = []
        self._parts: list[str] = [_PROLOGUE]
        self._gs = _GraphicsState()
        self._pending = False
        self._dash_units: tuple[float, ...] = ()
        self._colors: dict[str, str] = {}
        self._widths: dict[float, float] = {}
        self.fonts: dict[FaceKind, FontUsage] = {}
        self.primitive_count = 0

    # -- page transform and clipping -------------------------------------------------------------

    @property
    def transform(self) -> Affine:
        return self._m

    @property
    def points_per_unit(self) -> float:
        """Page points per drawing unit at the current transform."""
        return self._unit

    def push_clip(self, polygon: Sequence[Vec2], inner_transform: Affine) -> None:
        """Clip to ``polygon`` (current coordinates), then draw in coordinates mapped by ``inner_transform``."""
        self._flush()
        self._stack.append((self._m, self._unit, _GraphicsState(**vars(self._gs))))
        self._parts.append("q\n")
        if len(polygon) >= 3:
            points = self._map(np.array([(p.x, p.y) for p in polygon], dtype=np.float64))
            n = len(points)
            fmt = "%.2f %.2f m" + " %.2f %.2f l" * (n - 1) + " h W n\n"
            self._parts.append(fmt % tuple(points.ravel().tolist()))
        self._m = compose(inner_transform, self._m)
        self._unit = affine_scale(self._m)

    def pop_clip(self) -> None:
        self._flush()
        self._parts.append("Q\n")
        self._m, self._unit, self._gs = self._stack.pop()

    def set_dash(self, pattern_units: tuple[float, ...]) -> None:
        """Dash pattern (on, off, …) in drawing units for the following strokes; ``()`` is solid."""
        self._dash_units = pattern_units

    def paint_page(self, width_pt: float, height_pt: float) -> None:
        """Paint the whole page white: review sheets have a white background whatever the viewer's default."""
        self._parts.append(f"1 1 1 rg 0 0 {width_pt:.2f} {height_pt:.2f} re f\n")
        self._gs.fill = "1.000 1.000 1.000"

    # -- BackendInterface --------------------------------------------------------------------------

    def configure(self, config: Configuration) -> None:
        pass

    def enter_entity(self, entity: DXFGraphic, properties: Properties) -> None:
        pass

    def exit_entity(self, entity: DXFGraphic) -> None:
        pass

    def set_background(self, color: str) -> None:
        # Review sheets are always white; the paper colour of the DXF layout is ignored.
        pass

    def clear(self) -> None:
        self._parts = [_PROLOGUE]
        self._pending = False
        self._gs = _GraphicsState()

    def finalize(self) -> None:
        self._flush()

    def draw_point(self, pos: Vec2, properties: BackendProperties) -> None:
        x, y = self._map_xy(pos.x, pos.y)
        self._stroke_state(properties, solid=True)
        self._parts.append(f"{x:.2f} {y:.2f} m {x:.2f} {y:.2f} l\n")
        self._pending = True
        self.primitive_count += 1

    def draw_line(self, start: Vec2, end: Vec2, properties: BackendProperties) -> None:
        x1, y1 = self._map_xy(start.x, start.y)
        x2, y2 = self._map_xy(end.x, end.y)
        self._stroke_state(properties)
        self._parts.append(f"{x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l\n")
        self._pending = True
        self.primitive_count += 1

    def draw_solid_lines(self, lines: Iterable[tuple[Vec2, Vec2]], properties: BackendProperties) -> None:
        coords = [c for s, e in lines for c in (s.x, s.y, e.x, e.y)]
        if not coords:
            return
        points = self._map(np.array(coords, dtype=np.float64).reshape(-1, 2))
        self._stroke_state(properties, solid=True)
        self._parts.append(("%.2f %.2f m %.2f %.2f l\n" * (len(coords) // 4)) % tuple(points.ravel().tolist()))
        self._pending = True
        self.primitive_count += 1

    def draw_path(self, path: BkPath2d, properties: BackendProperties) -> None:
        ops = self._path_ops(path)
        if not ops:
            return
        self._stroke_state(properties)
        self._parts.append(ops)
        self._pending = True
        self.primitive_count += 1

    def draw_filled_paths(self, paths: Iterable[BkPath2d], properties: BackendProperties) -> None:
        ops = [op for op in (self._path_ops(p, close=True) for p in paths) if op]
        if ops:
            self._fill_state(properties)
            self._parts.append("".join(ops))
            self._parts.append("f*\n")
            self.primitive_count += 1

    def draw_filled_polygon(self, points: BkPoints2d, properties: BackendProperties) -> None:
        vertices = points.np_vertices()
        if len(vertices) < 3:
            return
        mapped = self._map(vertices)
        self._fill_state(properties)
        fmt = "%.2f %.2f m" + " %.2f %.2f l" * (len(mapped) - 1) + " h f*\n"
        self._parts.append(fmt % tuple(mapped.ravel().tolist()))
        self.primitive_count += 1

    def draw_image(self, image_data: ImageData, properties: BackendProperties) -> None:
        # Raster images are external files that an uploaded DXF cannot bring along; the frontend
        # already draws their frame and file name.
        pass

    # -- text -------------------------------------------------------------------------------------

    def draw_glyph_run(
        self,
        usage: FontUsage,
        glyphs: Sequence[tuple[int, str]],
        text_to_drawing: Affine,
        properties: BackendProperties,
    ) -> None:
        """Show ``glyphs`` (CID, character) of one face; ``text_to_drawing`` maps 1-em text space to drawing units."""
        if not glyphs:
            return
        a, b, c, d, e, f = compose(text_to_drawing, self._m)
        self._fill_state(properties, darken=True)
        parts = [f"BT {a:.5f} {b:.5f} {c:.5f} {d:.5f} {e:.2f} {f:.2f} Tm"]
        current = -1
        run: list[str] = []
        for cid, char in glyphs:
            font, code = usage.code(cid, char)
            if font != current:
                if run:
                    parts.append(f"<{''.join(run)}> Tj")
                    run = []
                parts.append(f"/{usage.resource_name(font)} 1 Tf")
                current = font
            run.append(f"{code:02x}")
        parts.append(f"<{''.join(run)}> Tj ET\n")
        self._parts.append(" ".join(parts))
        self.primitive_count += 1

    def font_usage(self, kind: FaceKind, path: Path) -> FontUsage:
        usage = self.fonts.get(kind)
        if usage is None:
            usage = FontUsage(kind, path, f"F{len(self.fonts)}")
            self.fonts[kind] = usage
        return usage

    # -- output -----------------------------------------------------------------------------------

    def content(self) -> bytes:
        """The page content stream (uncompressed)."""
        self._flush()
        return "".join(self._parts).encode("latin-1")

    # -- internals --------------------------------------------------------------------------------

    def _map_xy(self, x: float, y: float) -> tuple[float, float]:
        a, b, c, d, e, f = self._m
        return a * x + c * y + e, b * x + d * y + f

    def _map(self, vertices: np.ndarray) -> np.ndarray:
        a, b, c, d, e, f = self._m
        out: np.ndarray = vertices[:, :2] @ np.array(((a, b), (c, d)), dtype=np.float64) + (e, f)
        return out

    def _path_ops(self, path: BkPath2d, close: bool = False) -> str:
        codes = path.command_codes()
        if not codes:
            return ""
        vertices = path.np_vertices()
        kinds = set(codes)
        if _CURVE3_TO in kinds:
            vertices, codes = _quadratic_to_cubic(vertices, codes)
            kinds = set(codes)
        mapped = self._map(vertices)
        if kinds == {_LINE_TO}:
            fmt = "%.2f %.2f m" + " %.2f %.2f l" * len(codes)
        else:
            fmt = "%.2f %.2f m" + "".join([_OPS[code] for code in codes])
        if close:
            fmt += " h"
        return fmt % tuple(mapped.ravel().tolist()) + "\n"

    def _flush(self) -> None:
        if self._pending:
            self._parts.append("S\n")
            self._pending = False

    def _color(self, color: str, darken: bool = True) -> str:
        key = color if darken else "=" + color
        rgb = self._colors.get(key)
        if rgb is None:
            rgb = _pdf_rgb(color, darken and self._style.darken_light_colors)
            self._colors[key] = rgb
        return rgb

    def _width(self, lineweight_mm: float) -> float:
        width = self._widths.get(lineweight_mm)
        if width is None:
            style = self._style
            width = round(max(lineweight_mm * style.width_scale, style.min_width_mm) * POINTS_PER_MM, 3)
            self._widths[lineweight_mm] = width
        return width

    def _dash(self) -> tuple[float, ...]:
        pattern = self._dash_units
        if not pattern:
            return ()
        dash = tuple(round(v * self._unit, 2) for v in pattern)
        if sum(dash) < self._style.min_dash_period_mm * POINTS_PER_MM:
            return ()
        return dash

    def _stroke_state(self, properties: BackendProperties, solid: bool = False) -> None:
        color = self._color(properties.color)
        width = self._width(properties.lineweight)
        dash = () if solid else self._dash()
        gs = self._gs
        if color == gs.stroke and width == gs.width and dash == gs.dash:
            return
        self._flush()
        ops = []
        if color != gs.stroke:
            ops.append(f"{color} RG")
            gs.stroke = color
        if width != gs.width:
            ops.append(f"{width:g} w")
            gs.width = width
        if dash != gs.dash:
            ops.append(f"[{' '.join(f'{v:g}' for v in dash)}] 0 d")
            gs.dash = dash
        self._parts.append(" ".join(ops) + "\n")

    def _fill_state(self, properties: BackendProperties, darken: bool = False) -> None:
        self._flush()
        # Light area fills (pale hatches) are meant to be pale; only lines and text are darkened.
        color = self._color(properties.color, darken)
        if color != self._gs.fill:
            self._parts.append(f"{color} rg\n")
            self._gs.fill = color


def _pdf_rgb(color: str, darken_light: bool) -> str:
    r, g, b = (int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    if darken_light:
        luminance = 0.299 * r + 0.587 * g + 0.114 * b
        if luminance > 0.97:
            # True-colour white lines and text, drawn for a black CAD screen, would vanish on paper.
            # (ACI 7 is already black; white fills such as wipeouts are never darkened.)
            r = g = b = 0.0
        elif luminance > 0.6:
            factor = 0.5 / luminance
            r, g, b = r * factor, g * factor, b * factor
    return f"{r:.3f} {g:.3f} {b:.3f}"


def _quadratic_to_cubic(vertices: np.ndarray, codes: list[int]) -> tuple[np.ndarray, list[int]]:
    out = [vertices[0]]
    new_codes: list[int] = []
    index = 1
    for code in codes:
        if code == _CURVE3_TO:
            start, ctrl, end = out[-1], vertices[index], vertices[index + 1]
            out.extend((start + (ctrl - start) * (2 / 3), end + (ctrl - end) * (2 / 3), end))
            new_codes.append(_CURVE4_TO)
            index += 2
        elif code == _CURVE4_TO:
            out.extend(vertices[index : index + 3])
            new_codes.append(_CURVE4_TO)
            index += 3
        else:
            out.append(vertices[index])
            new_codes.append(int(code))
            index += 1
    return np.array(out, dtype=np.float64), new_codes
