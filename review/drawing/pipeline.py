"""The render pipeline between ezdxf's frontend and :class:`PdfContentBackend`.

It differs from ezdxf's ``RenderPipeline2d`` in three ways that matter for speed and fidelity:

- viewports are clipped by the PDF viewer (``W n`` clip path) instead of clipping every entity in
  Python; the viewport's model-to-paper matrix is folded into the backend's page transform;
- linetypes become PDF dash patterns instead of thousands of short solid segments;
- text is written as PDF text in fonts made of the Noto CJK outlines of the characters used, laid
  out with the same glyph widths ezdxf measured: it shows real Chinese glyphs and can be searched
  and extracted (title blocks). Text clipped by a block's XCLIP boundary falls back to ezdxf's
  glyph outlines.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import ezdxf.bbox
from ezdxf.addons.drawing.config import Configuration, LinePolicy, TextPolicy
from ezdxf.addons.drawing.pipeline import (
    ClippingStage2d,
    RenderPipeline2d,
    RenderStage2d,
    filter_vp_entities,
    prepare_string_for_rendering,
)
from ezdxf.addons.drawing.properties import BackendProperties, Filling, Properties, RenderContext
from ezdxf.entities.dxfgfx import DXFGraphic
from ezdxf.entities.viewport import Viewport
from ezdxf.fonts.font_face import FontFace
from ezdxf.lldxf.validator import make_table_key
from ezdxf.math import Matrix44, Vec2
from ezdxf.path import Path, make_path

from review.drawing.fonts import CjkFonts, FaceKind, classify, face_metrics
from review.drawing.pdf_backend import Affine, PdfContentBackend, compose

if TYPE_CHECKING:
    from ezdxf.addons.drawing.backend import BkPath2d, BkPoints2d, ImageData
    from ezdxf.document import Drawing

TEXT_ENTITIES = frozenset({"TEXT", "ATTRIB", "ATTDEF", "MTEXT"})


def matrix_affine(m: Matrix44) -> Affine:
    """The 2D part of an ezdxf matrix (row-vector convention) as a PDF-order affine map."""
    return (m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[3, 0], m[3, 1])


class SheetPipeline(RenderPipeline2d):
    """ezdxf render pipeline writing to a :class:`PdfContentBackend`."""

    def __init__(self, backend: PdfContentBackend, fonts: CjkFonts, dense_hatch_tint: float = 0.25) -> None:
        self._pdf = backend
        self._fonts = fonts
        self._tint = dense_hatch_tint
        self.missing_glyphs: set[str] = set()
        self.outlined_text_runs = 0
        self.viewport_scale_changed: Callable[[float], None] | None = None
        """Called with the viewport scale on entering (and 1.0 on leaving) each viewport."""
        super().__init__(backend)

    def build_render_pipeline(self) -> RenderStage2d:
        final = _BackendStage(self._pdf, self.get_backend_properties)
        dashes = _DashStage(self.config, self.get_vp_ltype_scale, self._pdf, final)
        return ClippingStage2d(self.config, self.clipping_portal, next_stage=dashes)

    def draw_viewport(
        self,
        vp: Viewport,
        layout_ctx: RenderContext,
        bbox_cache: ezdxf.bbox.Cache | None = None,
    ) -> None:
        if vp.doc is None:
            return
        try:
            msp_limits = vp.get_modelspace_limits()
        except ValueError:  # a viewport whose view cannot be determined shows nothing
            return
        boundary = make_path(vp)
        if not len(boundary):
            return
        vertices = list(boundary.flattening(0.1)) if boundary.has_curves else boundary.control_vertices()
        self.current_vp_scale = vp.get_scale()
        if self.viewport_scale_changed is not None:
            self.viewport_scale_changed(self.current_vp_scale)
        self._pdf.push_clip([Vec2(v) for v in vertices], matrix_affine(vp.get_transformation_matrix()))
        try:
            self.draw_entities(
                layout_ctx.from_viewport(vp),
                filter_vp_entities(vp.doc.modelspace(), msp_limits, bbox_cache),
            )
        finally:
            self._pdf.pop_clip()
            self.current_vp_scale = 1.0
            if self.viewport_scale_changed is not None:
                self.viewport_scale_changed(1.0)

    def draw_filled_paths(self, paths: Iterable[Path], properties: Properties) -> None:
        filling = properties.filling
        if filling is not None and filling.type == Filling.PATTERN:
            # ezdxf fills a pattern whose lines are too dense to draw solid; a full-strength fill
            # would hide everything beneath, so show a light tint of the hatch colour instead.
            properties = copy.copy(properties)
            properties.color = tint(properties.color, self._tint)
        super().draw_filled_paths(paths, properties)

    def draw_text(
        self,
        text: str,
        transform: Matrix44,
        properties: Properties,
        cap_height: float,
        dxftype: str = "TEXT",
    ) -> None:
        if self.config.text_policy != TextPolicy.FILLING or self.clipping_portal.is_active:
            super().draw_text(text, transform, properties, cap_height, dxftype)
            return
        if not text.strip():
            return
        kind = self._kind_of(properties.font)
        path = self._fonts.path(kind)
        if path is None:  # no CJK font installed at all: ezdxf's outlines are the best we have
            self.outlined_text_runs += 1
            super().draw_text(text, transform, properties, cap_height, dxftype)
            return
        text = prepare_string_for_rendering(text, dxftype)
        metrics = face_metrics(path)
        usage = self._pdf.font_usage(kind, path)
        glyphs = []
        for char in text:
            cid = metrics.cid_of.get(ord(char), 0)
            if cid == 0:
                self.missing_glyphs.add(char)
            glyphs.append((cid, char))
        # ezdxf lays glyphs out scaled to the cap height, with the bottom of "x" on the baseline.
        s = cap_height / metrics.cap_height
        em = s * metrics.units_per_em
        text_to_glyphs: Affine = (em, 0.0, 0.0, em, 0.0, -metrics.baseline * s)
        text_to_drawing = compose(text_to_glyphs, matrix_affine(transform))
        self._pdf.draw_glyph_run(usage, glyphs, text_to_drawing, self.get_backend_properties(properties))

    def _kind_of(self, face: FontFace | None) -> FaceKind:
        kind = self._fonts.kind_of(face)
        if kind is not None:
            return kind
        if face is None:
            return FaceKind.SANS
        # Inline MTEXT font codes (\fSimSun|b1;) arrive here with ezdxf's own face.
        return classify((face.filename, face.family), bold=face.is_bold)


def tint(color: str, strength: float) -> str:
    """``color`` mixed with white: strength 1 keeps the colour, 0 gives white."""
    channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * strength):02x}" for c in channels)


def sheet_overrides(doc: Drawing, fonts: CjkFonts) -> Callable[[DXFGraphic, Properties], None]:
    """A frontend property override that makes the sheet look plotted.

    Every text entity gets the Noto face of its text style; entities on layers that are not plotted
    (the layer's plot flag is off, or the ``Defpoints`` layer) are hidden, as a plotter would hide them.
    """
    by_style: dict[str, FontFace | None] = {}
    for style in doc.styles:
        family, _italic, bold = style.get_extended_font_data()
        names = (style.dxf.get("font", ""), style.dxf.get("bigfont", ""), family)
        by_style[make_table_key(style.dxf.name)] = fonts.ezdxf_face(classify(names, bold=bool(bold)))
    default = fonts.ezdxf_face(FaceKind.SANS)
    not_plotted = {make_table_key(layer.dxf.name) for layer in doc.layers if not layer.dxf.get("plot", 1)}
    not_plotted.add("defpoints")

    def override(entity: DXFGraphic, properties: Properties) -> None:
        if make_table_key(properties.layer) in not_plotted and entity.dxftype() != "INSERT":
            properties.is_visible = False
            return
        if entity.dxftype() in TEXT_ENTITIES:
            face = by_style.get(make_table_key(entity.dxf.get("style", "Standard")), default)
            if face is not None:
                properties.font = face

    return override


class _DashStage(RenderStage2d):
    """Turns linetypes into dash patterns carried to the backend instead of splitting the geometry."""

    def __init__(
        self,
        config: Configuration,
        get_ltype_scale: Callable[[], float],
        backend: PdfContentBackend,
        next_stage: RenderStage2d,
    ) -> None:
        self.config = config
        self.get_ltype_scale = get_ltype_scale
        self.backend = backend
        self.next_stage = next_stage
        self._cache: dict[tuple[str, float], tuple[float, ...]] = {}

    def set_config(self, config: Configuration) -> None:
        self.config = config

    def _pattern(self, properties: Properties) -> tuple[float, ...]:
        if self.config.line_policy == LinePolicy.SOLID or len(properties.linetype_pattern) < 2:
            return ()
        scale = properties.linetype_scale * self.get_ltype_scale()
        key = (properties.linetype_name, scale)
        pattern = self._cache.get(key)
        if pattern is None:
            values = [abs(v) * scale for v in properties.linetype_pattern]
            if len(values) % 2:
                values.pop()
            pattern = tuple(values) if sum(values) > 0 else ()
            self._cache[key] = pattern
        return pattern

    def draw_point(self, pos: Vec2, properties: Properties) -> None:
        self.next_stage.draw_point(pos, properties)

    def draw_line(self, start: Vec2, end: Vec2, properties: Properties) -> None:
        self.backend.set_dash(self._pattern(properties))
        self.next_stage.draw_line(start, end, properties)

    def draw_solid_lines(self, lines: list[tuple[Vec2, Vec2]], properties: Properties) -> None:
        self.next_stage.draw_solid_lines(lines, properties)

    def draw_path(self, path: BkPath2d, properties: Properties) -> None:
        self.backend.set_dash(self._pattern(properties))
        self.next_stage.draw_path(path, properties)

    def draw_filled_paths(self, paths: list[BkPath2d], properties: Properties) -> None:
        self.next_stage.draw_filled_paths(paths, properties)

    def draw_filled_polygon(self, points: BkPoints2d, properties: Properties) -> None:
        self.next_stage.draw_filled_polygon(points, properties)

    def draw_image(self, image_data: ImageData, properties: Properties) -> None:
        self.next_stage.draw_image(image_data, properties)


class _BackendStage(RenderStage2d):
    def __init__(self, backend: PdfContentBackend, converter: Callable[[Properties], BackendProperties]) -> None:
        self.backend = backend
        self.converter = converter

    def draw_point(self, pos: Vec2, properties: Properties) -> None:
        self.backend.draw_point(pos, self.converter(properties))

    def draw_line(self, start: Vec2, end: Vec2, properties: Properties) -> None:
        self.backend.draw_line(start, end, self.converter(properties))

    def draw_solid_lines(self, lines: list[tuple[Vec2, Vec2]], properties: Properties) -> None:
        self.backend.draw_solid_lines(lines, self.converter(properties))

    def draw_path(self, path: BkPath2d, properties: Properties) -> None:
        self.backend.draw_path(path, self.converter(properties))

    def draw_filled_paths(self, paths: list[BkPath2d], properties: Properties) -> None:
        self.backend.draw_filled_paths(paths, self.converter(properties))

    def draw_filled_polygon(self, points: BkPoints2d, properties: Properties) -> None:
        self.backend.draw_filled_polygon(points, self.converter(properties))

    def draw_image(self, image_data: ImageData, properties: Any) -> None:
        self.backend.draw_image(image_data, self.converter(properties))
