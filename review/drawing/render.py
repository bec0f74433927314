"""DXF sheet → vector PDF page (矢量图纸): the entry points of drawing rendering.

:func:`render_sheet` draws one :class:`~review.drawing.layouts.SheetSource` of a document onto a
white page of its paper size with ezdxf's frontend, :class:`SheetPipeline` and
:class:`PdfContentBackend`, and returns the PDF bytes with the findings made on the way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import ezdxf.bbox
from ezdxf.addons.drawing.config import (
    BackgroundPolicy,
    ColorPolicy,
    Configuration,
    LinePolicy,
    LineweightPolicy,
)
from ezdxf.addons.drawing.frontend import UniversalFrontend
from ezdxf.addons.drawing.properties import Properties, RenderContext
from ezdxf.document import Drawing
from ezdxf.entities.dxfgfx import DXFGraphic

from review.drawing.dxf_reader import DxfReadResult, ReadOptions, read_dxf
from review.drawing.findings import Finding, Severity, finding
from review.drawing.fonts import FaceKind, cjk_fonts
from review.drawing.gcpause import paused_gc
from review.drawing.layouts import SheetOptions, SheetSource, content_viewports, find_sheets
from review.drawing.pdf_backend import POINTS_PER_MM, PdfContentBackend, StrokeStyle, affine_scale
from review.drawing.pdf_file import PageInfo, write_page_pdf
from review.drawing.pipeline import SheetPipeline, sheet_overrides

RENDERER_VERSION = "1"
"""Part of the cache key of rendered sheets: bump when the same input would render differently."""


class ColorMode(StrEnum):
    COLOR = "color"
    """Colours as drawn (light colours darkened for white paper, see :class:`StrokeStyle`)."""
    GRAY = "gray"
    """Grey levels by luminance, dark enough for white paper."""
    BLACK = "black"
    """Everything black, like plotting with ``monochrome.ctb``."""


_COLOR_POLICY = {
    ColorMode.COLOR: ColorPolicy.COLOR,
    ColorMode.GRAY: ColorPolicy.MONOCHROME_LIGHT_BG,
    ColorMode.BLACK: ColorPolicy.BLACK,
}


@dataclass(frozen=True)
class RenderOptions:
    """How sheets are drawn; part of the rendered artefact's cache key."""

    stroke: StrokeStyle = field(default_factory=StrokeStyle)
    """Lineweights, light colours and fine linetypes."""
    color_mode: ColorMode = ColorMode.COLOR
    linetypes: bool = True
    """Draw linetypes as dash patterns; False draws every line solid."""
    hatch_timeout_s: float = 5.0
    """Stop drawing the pattern lines of one hatch after this long (the lines drawn so far stay)."""
    min_hatch_spacing_mm: float = 0.25
    """Pattern lines closer than this on paper are shown as a light tint of the hatch colour."""
    dense_hatch_tint: float = 0.25
    """Strength (0–1) of the tint that replaces too-dense hatch patterns."""
    compression: int = 3
    """zlib level of the page content stream (3: a tenth larger than 6, a quarter of the time)."""
    font_cache_dir: Path | None = None
    """Where extracted Noto CJK faces are kept (default: the system temporary folder)."""
    sheet_options: SheetOptions = field(default_factory=SheetOptions)
    """Paper and scale choice for model space (used by :func:`render_dxf`)."""


@dataclass(frozen=True)
class RenderedSheet:
    """One sheet as a one-page PDF."""

    source: SheetSource
    pdf: bytes
    findings: tuple[Finding, ...]
    primitives: int
    """Paths, fills and text runs written (0 means a blank sheet)."""
    text_runs_outlined: int = 0
    """Text drawn as glyph outlines instead of PDF text (no CJK font on the machine)."""


def render_sheet(doc: Drawing, sheet: SheetSource, options: RenderOptions | None = None) -> RenderedSheet:
    """Draw ``sheet`` of ``doc`` as a vector PDF page the size of its paper."""
    options = options or RenderOptions()
    fonts = cjk_fonts(options.font_cache_dir)
    # Register the default face before ezdxf picks its fallback font for the first time.
    fonts.path(FaceKind.SANS)
    layout = doc.modelspace() if sheet.is_modelspace else doc.layouts.get(sheet.layout_name)
    backend = PdfContentBackend(sheet.to_page, options.stroke)
    backend.paint_page(sheet.paper.width_pt, sheet.paper.height_pt)
    pipeline = SheetPipeline(backend, fonts, dense_hatch_tint=options.dense_hatch_tint)
    mm_per_unit = affine_scale(sheet.to_page) / POINTS_PER_MM
    config = _configuration(options, mm_per_unit)
    ports = [] if sheet.is_modelspace else content_viewports(layout)
    # Entity bounds only pay off when several viewports show different parts of model space.
    bbox_cache = ezdxf.bbox.Cache() if len(ports) > 1 else None
    frontend = _SheetFrontend(RenderContext(doc), pipeline, config, bbox_cache)
    frontend.push_property_override_function(sheet_overrides(doc, fonts))

    def viewport_scale_changed(vp_scale: float) -> None:
        paper_mm = mm_per_unit * (vp_scale or 1.0)
        frontend.config = frontend.config.with_changes(
            min_hatch_line_distance=options.min_hatch_spacing_mm / paper_mm,
        )

    pipeline.viewport_scale_changed = viewport_scale_changed
    printed = io.StringIO()
    # ezdxf reports hatching timeouts and MTEXT layout errors with print(); they become findings.
    # It also jitters hatch pattern origins with the module-level random generator: seed it so the
    # same drawing always gives the same bytes, and give the generator its state back afterwards.
    random_state = random.getstate()
    random.seed(0x4C54)
    try:
        with contextlib.redirect_stdout(printed), paused_gc():
            frontend.draw_layout(layout, finalize=True)
    finally:
        random.setstate(random_state)
    content = backend.content()
    title = sheet.layout_name
    pdf = write_page_pdf(
        PageInfo(sheet.paper.width_pt, sheet.paper.height_pt, title=title),
        content,
        backend.fonts.values(),
        options.compression,
    )
    findings = _render_findings(sheet, pipeline, backend, printed.getvalue(), frontend.failures)
    return RenderedSheet(sheet, pdf, tuple(findings), backend.primitive_count, pipeline.outlined_text_runs)


def _configuration(options: RenderOptions, mm_per_unit: float) -> Configuration:
    """ezdxf frontend settings for a white sheet where one drawing unit is ``mm_per_unit`` mm on paper."""
    return Configuration(
        background_policy=BackgroundPolicy.WHITE,
        color_policy=_COLOR_POLICY[options.color_mode],
        lineweight_policy=LineweightPolicy.ABSOLUTE,
        line_policy=LinePolicy.ACCURATE if options.linetypes else LinePolicy.SOLID,
        hatching_timeout=options.hatch_timeout_s,
        min_hatch_line_distance=options.min_hatch_spacing_mm / mm_per_unit,
        max_flattening_distance=0.05 / mm_per_unit,
    )


def render_sheet_pdf(doc: Drawing, sheet: SheetSource, options: RenderOptions | None = None) -> bytes:
    """The PDF bytes of :func:`render_sheet`."""
    return render_sheet(doc, sheet, options).pdf


@dataclass(frozen=True)
class RenderedDrawing:
    """Every sheet of one DXF file."""

    read: DxfReadResult
    sheets: tuple[RenderedSheet, ...]

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.read.findings + tuple(f for s in self.sheets for f in s.findings)


def render_dxf(
    data: bytes,
    options: RenderOptions | None = None,
    read_options: ReadOptions | None = None,
) -> RenderedDrawing:
    """Read a DXF file and render all of its sheets."""
    options = options or RenderOptions()
    result = read_dxf(data, read_options)
    sheets = find_sheets(result.doc, options.sheet_options)
    return RenderedDrawing(result, tuple(render_sheet(result.doc, s, options) for s in sheets))


def render_dxf_file(path: str | Path, out_dir: str | Path, options: RenderOptions | None = None) -> list[Path]:
    """Render every sheet of the DXF file ``path`` into ``out_dir`` as ``<stem>-<nn>-<layout>.pdf``."""
    source = Path(path)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    rendered = render_dxf(source.read_bytes(), options)
    written = []
    for number, sheet in enumerate(rendered.sheets, start=1):
        safe = re.sub(r"[^\w.-]+", "_", sheet.source.layout_name).strip("_") or "sheet"
        out = target / f"{source.stem}-{number:02d}-{safe}.pdf"
        out.write_bytes(sheet.pdf)
        written.append(out)
    return written


class _SheetFrontend(UniversalFrontend):
    """ezdxf's frontend, except that one entity it cannot draw does not cost the whole sheet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures: Counter[str] = Counter()

    def draw_entity(self, entity: DXFGraphic, properties: Properties) -> None:
        try:
            super().draw_entity(entity, properties)
        except Exception as exc:  # noqa: BLE001 - damaged entities fail in arbitrary ways inside ezdxf
            self.failures[f"{entity.dxftype()}: {type(exc).__name__}"] += 1


def _render_findings(
    sheet: SheetSource,
    pipeline: SheetPipeline,
    backend: PdfContentBackend,
    printed: str,
    failures: Counter[str],
) -> list[Finding]:
    findings = []
    name = sheet.layout_name
    if failures:
        count = sum(failures.values())
        findings.append(
            finding(
                "ENTITY_NOT_DRAWN",
                Severity.WARNING,
                f"图纸“{name}”中有 {count} 个对象因数据损坏未能绘制。",
                f"{count} objects of sheet '{name}' could not be drawn because their data is damaged.",
                details=tuple(f"{what}×{n}" for what, n in sorted(failures.items())),
            )
        )
    if sheet.fitted:
        findings.append(
            finding(
                "SHEET_FITTED",
                Severity.WARNING,
                f"布局“{name}”的内容不在其页面设置的图纸范围内，已缩放到图纸上；该图比例不可用于量测。",
                f"The content of layout '{name}' lies outside the paper of its page setup and was scaled to fit;"
                " the sheet has no true scale for measuring.",
            )
        )
    if backend.primitive_count == 0:
        findings.append(
            finding(
                "SHEET_EMPTY",
                Severity.WARNING,
                f"图纸“{name}”没有可显示的内容。",
                f"Sheet '{name}' has nothing to show.",
            )
        )
    if pipeline.missing_glyphs:
        chars = "".join(sorted(pipeline.missing_glyphs))[:50]
        findings.append(
            finding(
                "TEXT_GLYPHS_MISSING",
                Severity.INFO,
                f"图纸“{name}”中有字体缺少的字符：{chars}",
                f"Sheet '{name}' uses characters the font lacks: {chars}",
                details=tuple(f"U+{ord(c):04X}" for c in sorted(pipeline.missing_glyphs)[:50]),
            )
        )
    if pipeline.outlined_text_runs:
        findings.append(
            finding(
                "TEXT_FONT_MISSING",
                Severity.WARNING,
                "服务器未安装中文字体（Noto CJK），文字以轮廓绘制，中文可能显示为方框。",
                "No Chinese font (Noto CJK) is installed; text was drawn as outlines and Chinese may show as boxes.",
            )
        )
    lines = [line for line in printed.splitlines() if line.strip()]
    if lines:
        findings.append(
            finding(
                "RENDER_MESSAGES",
                Severity.INFO,
                f"绘制图纸“{name}”时有 {len(lines)} 条提示（如填充图案超时）。",
                f"{len(lines)} notices while drawing sheet '{name}' (e.g. hatch patterns that timed out).",
                details=tuple(line[:200] for line in lines[:10]),
            )
        )
    page = 0 if sheet.is_modelspace else sheet.order - 1
    return [dataclasses.replace(f, page=page) for f in findings]
