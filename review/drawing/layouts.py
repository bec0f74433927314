"""Which layouts of a DXF drawing become sheets, on what paper, at what scale (布局 → 图纸).

Every paperspace layout (布局) with content is a sheet; the model space (模型空间) is a sheet only
when no layout has content. A layout keeps the paper of its page setup; model space is placed at the
largest standard scale (1:1, 1:2, 1:5 … 1:100 …) at which it fits an A0 sheet, on the smallest ISO A
sheet that holds it, so that distances measured on the sheet keep a true scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import ezdxf.bbox
from ezdxf import units as dxf_units
from ezdxf.document import Drawing
from ezdxf.entities.dxfgfx import DXFGraphic
from ezdxf.entities.lwpolyline import LWPolyline
from ezdxf.entities.viewport import Viewport
from ezdxf.enums import InsertUnits
from ezdxf.layouts.layout import Layout, Paperspace
from ezdxf.math import BoundingBox

from review.drawing.pdf_backend import POINTS_PER_MM, Affine

ISO_A: dict[str, tuple[float, float]] = {
    "A4": (297.0, 210.0),
    "A3": (420.0, 297.0),
    "A2": (594.0, 420.0),
    "A1": (841.0, 594.0),
    "A0": (1189.0, 841.0),
}
"""ISO 216 A sizes, landscape (width, height) in mm, smallest first."""

STANDARD_SCALES: tuple[int, ...] = (
    1, 2, 5, 10, 20, 25, 50, 100, 150, 200, 250, 300, 500, 750, 1000, 1500, 2000, 2500, 5000,
    10000, 20000, 25000, 50000, 100000, 200000, 250000, 500000, 1000000,
)  # fmt: skip
"""Scale denominators used for model space sheets (GB/T 50001 preferred and allowed scales)."""

_UNIT_NAMES = {0: "unitless", 1: "in", 2: "ft", 4: "mm", 5: "cm", 6: "m", 7: "km", 14: "dm"}


class Orientation(StrEnum):
    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"
    AUTO = "auto"


@dataclass(frozen=True)
class PaperSize:
    """The page of a sheet."""

    width_mm: float
    height_mm: float
    name: str | None = None
    """``A1`` etc. when the size is an ISO A size in either orientation (within 1 mm)."""

    @property
    def width_pt(self) -> float:
        return self.width_mm * POINTS_PER_MM

    @property
    def height_pt(self) -> float:
        return self.height_mm * POINTS_PER_MM


@dataclass(frozen=True)
class SheetOptions:
    """How model space sheets are laid out."""

    orientation: Orientation = Orientation.LANDSCAPE
    """Page orientation for model space; AUTO turns the page for drawings taller than wide."""
    margin_mm: float = 10.0
    """Blank border kept around model space content (GB/T 50001 binding border is 10–25 mm)."""
    papers: tuple[str, ...] = ("A4", "A3", "A2", "A1", "A0")
    """ISO sizes model space may be placed on, smallest first; the last one decides the scale."""
    unitless_as: str = "mm"
    """Unit assumed when ``$INSUNITS`` is 0 (unitless) in a metric drawing (``$MEASUREMENT`` 1);
    Chinese building drawings are drawn in mm. Unitless imperial drawings are taken to be in inches."""


@dataclass(frozen=True)
class SheetSource:
    """A layout of a DXF document that becomes one sheet, and how it maps onto its page."""

    layout_name: str
    """``Model`` for model space, else the layout tab name (e.g. ``建施-01``)."""
    order: int
    """Position among the drawing's sheets, from 1 in layout tab order; model space is 0."""
    is_modelspace: bool
    paper: PaperSize
    to_page: Affine
    """Layout coordinates → page points (PDF user space, origin bottom left)."""
    paper_units: str
    """``mm`` or ``in``: unit of paperspace coordinates (model space: the drawing unit)."""
    drawing_units: str
    """Model space unit from ``$INSUNITS`` (``mm``, ``m``, ``unitless`` …)."""
    scale_denominator: float | None
    """True scale of the model on paper, 100.0 for 1:100 (layout: its main viewport), if known."""
    entity_count: int
    fitted: bool = False
    """The content did not lie on the page setup's paper and was scaled to fit; no true scale."""

    @property
    def scale_label(self) -> str | None:
        """``1:100`` style label of :attr:`scale_denominator`."""
        if self.scale_denominator is None:
            return None
        value = self.scale_denominator
        if value >= 1:
            return f"1:{value:.0f}" if abs(value - round(value)) < 0.01 else f"1:{value:.2f}"
        return f"{1 / value:.0f}:1"


def mm_per_unit(doc: Drawing, unitless_as: str = "mm") -> float:
    """Millimetres per model space drawing unit."""
    code = doc.units or 0
    if code == 0:
        if doc.header.get("$MEASUREMENT", 1) == 0:  # imperial drawings without units are in inches
            code = InsertUnits.Inches
        else:
            code = InsertUnits.Meters if unitless_as == "m" else InsertUnits.Millimeters
    try:
        return float(dxf_units.conversion_factor(InsertUnits(code), InsertUnits.Millimeters))
    except (KeyError, ValueError):
        return 1.0


def unit_name(doc: Drawing, unitless_as: str = "mm") -> str:
    """Name of the model space drawing unit (``mm``, ``m``, ``in`` …), as ``mm_per_unit`` resolves it."""
    code = doc.units or 0
    if code == 0:
        return "in" if doc.header.get("$MEASUREMENT", 1) == 0 else ("m" if unitless_as == "m" else "mm")
    return _UNIT_NAMES.get(code, str(code))


def measuring_units(doc: Drawing, sheet: SheetSource, unitless_as: str = "mm") -> tuple[float, str] | None:
    """Drawing units per point of ``sheet``'s page and their name, for the measuring tool.

    From ``$INSUNITS`` and the true scale (the main viewport's, or model space's placement); None when
    the sheet has no true scale (content scaled to fit the paper, a viewport without a scale).
    """
    if sheet.fitted or sheet.scale_denominator is None or sheet.scale_denominator <= 0:
        return None
    per_mm = mm_per_unit(doc, unitless_as)
    return sheet.scale_denominator / POINTS_PER_MM / per_mm, unit_name(doc, unitless_as)


def content_viewports(layout: Layout) -> list[Viewport]:
    """Viewports that show model space, without the layout's own overall viewport (id 1)."""
    ports = sorted(
        (e for e in layout if isinstance(e, Viewport) and e.dxf.get("status", 1) > 0),
        key=lambda vp: vp.dxf.get("status", 1),
    )
    if ports and ports[0].dxf.get("status", 1) == 1:
        ports.pop(0)
    return ports


def _has_content(layout: Layout, doc: Drawing) -> bool:
    """Paperspace entities besides viewports, or a viewport that looks at model space content.

    A layout AutoCAD created by default (布局1) keeps a viewport onto an empty corner of model space;
    such a layout is not a sheet, and the model space drawing is shown instead.
    """
    ports = content_viewports(layout)
    if any(not isinstance(e, Viewport) for e in layout):
        return True
    msp = doc.modelspace()
    need = min(3, len(msp))
    if need == 0:
        return False
    for vp in ports:
        try:
            x0, y0, x1, y1 = vp.get_modelspace_limits()
        except ValueError:
            continue
        seen = 0
        for entity in msp:
            point = _anchor(entity)
            if point is not None and x0 <= point[0] <= x1 and y0 <= point[1] <= y1:
                seen += 1
                if seen >= need:
                    return True
    return False


_ANCHORS = ("insert", "start", "center", "location", "defpoint", "vtx0")


def _anchor(entity: DXFGraphic) -> tuple[float, float] | None:
    """A point on or near an entity, found without computing its extents (which can be slow)."""
    dxf = entity.dxf
    for name in _ANCHORS:
        if dxf.is_supported(name) and dxf.hasattr(name):
            point = dxf.get(name)
            return float(point[0]), float(point[1])
    if isinstance(entity, LWPolyline) and len(entity):
        x, y = entity[0][:2]
        return float(x), float(y)
    return None


def find_sheets(doc: Drawing, options: SheetOptions | None = None) -> list[SheetSource]:
    """Every paperspace layout with content, or model space when no layout has any."""
    options = options or SheetOptions()
    sheets: list[SheetSource] = []
    names = [n for n in doc.layouts.names_in_taborder() if n.lower() != "model"]
    for name in names:
        layout = doc.layouts.get(name)
        if isinstance(layout, Paperspace) and _has_content(layout, doc):
            sheets.append(_layout_sheet(doc, layout, len(sheets) + 1, options))
    if not sheets:
        sheets.append(modelspace_sheet(doc, options))
    return sheets


def _iso_name(width_mm: float, height_mm: float) -> str | None:
    short, long = sorted((width_mm, height_mm))
    for name, (w, h) in ISO_A.items():
        if abs(short - h) <= 1.0 and abs(long - w) <= 1.0:
            return name
    return None


def _extents(layout: Layout, keep: set[Viewport] | None = None) -> BoundingBox:
    entities = [e for e in layout if keep is None or not isinstance(e, Viewport) or e in keep]
    try:
        return ezdxf.bbox.extents(entities, fast=True)
    except (ValueError, ArithmeticError, AttributeError):  # damaged geometry: treat as empty
        return BoundingBox()


def _layout_sheet(doc: Drawing, layout: Paperspace, order: int, options: SheetOptions) -> SheetSource:
    dxf = layout.dxf_layout.dxf
    unit_mm = 25.4 if dxf.get("plot_paper_units", 1) == 0 else 1.0
    width_mm = float(dxf.get("paper_width", 0.0) or 0.0)
    height_mm = float(dxf.get("paper_height", 0.0) or 0.0)
    margins = {side: float(dxf.get(f"{side}_margin", 0.0) or 0.0) for side in ("left", "bottom", "right", "top")}
    # A rotated plot shows the paper turned; the layout tab (and so its coordinates) shows it turned too.
    rotation = int(dxf.get("plot_rotation", 0)) % 4
    if rotation in (1, 3):
        width_mm, height_mm = height_mm, width_mm
    left_side, bottom_side = {0: ("left", "bottom"), 1: ("top", "left"), 2: ("right", "top"), 3: ("bottom", "right")}[
        rotation
    ]
    left = (margins[left_side] + float(dxf.get("plot_origin_x_offset", 0.0) or 0.0)) / unit_mm
    bottom = (margins[bottom_side] + float(dxf.get("plot_origin_y_offset", 0.0) or 0.0)) / unit_mm
    # The layout's overall viewport (id 1) spans the whole paper view and is not content.
    extents = _extents(layout, keep=set(content_viewports(layout)))
    if width_mm < 10 or height_mm < 10:  # no usable page setup: paper from limits or content
        width_mm, height_mm, left, bottom = _paper_from_limits(layout, unit_mm, extents)
    k = unit_mm * POINTS_PER_MM
    paper_w, paper_h = width_mm / unit_mm, height_mm / unit_mm
    # Where the paper's lower-left corner lies in layout coordinates: as the page setup says, or, for
    # frames drawn from (0, 0) as many CAD users do, at the origin.
    corners = [(-left, -bottom), (0.0, 0.0)]
    on_paper = [c for c in corners if not extents.has_data or _lies_on_paper(extents, *c, paper_w, paper_h)]
    fitted = not on_paper
    if on_paper:
        x0, y0 = on_paper[0]
        to_page: Affine = (k, 0.0, 0.0, k, -x0 * k, -y0 * k)
    else:
        to_page = _fit(extents, width_mm * POINTS_PER_MM, height_mm * POINTS_PER_MM, 10 * POINTS_PER_MM)
    page_w, page_h = width_mm, height_mm
    return SheetSource(
        layout_name=layout.name,
        order=order,
        is_modelspace=False,
        paper=PaperSize(round(page_w, 3), round(page_h, 3), _iso_name(page_w, page_h)),
        to_page=to_page,
        paper_units="in" if unit_mm == 25.4 else "mm",
        drawing_units=_UNIT_NAMES.get(doc.units or 0, str(doc.units)),
        scale_denominator=None if fitted else _viewport_scale(doc, layout, unit_mm, options),
        entity_count=len(layout),
        fitted=fitted,
    )


def _paper_from_limits(layout: Paperspace, unit_mm: float, extents: BoundingBox) -> tuple[float, float, float, float]:
    lo, hi = layout.get_paper_limits()
    if hi.x - lo.x > 1 and hi.y - lo.y > 1:
        return (hi.x - lo.x) * unit_mm, (hi.y - lo.y) * unit_mm, -lo.x, -lo.y
    if extents.has_data:
        size = extents.size
        name = _smallest_iso(size.x * unit_mm, size.y * unit_mm, ISO_A)
        w, h = ISO_A[name]
        return w, h, -extents.extmin.x, -extents.extmin.y
    w, h = ISO_A["A3"]
    return w, h, 0.0, 0.0


def _lies_on_paper(extents: BoundingBox, x0: float, y0: float, width: float, height: float) -> bool:
    slack_x, slack_y = 0.05 * width, 0.05 * height
    lo, hi = extents.extmin, extents.extmax
    inside_x = x0 - slack_x <= lo.x and hi.x <= x0 + width + slack_x
    inside_y = y0 - slack_y <= lo.y and hi.y <= y0 + height + slack_y
    return bool(inside_x and inside_y)


def _fit(extents: BoundingBox, page_w: float, page_h: float, margin: float) -> Affine:
    size = extents.size
    avail_w, avail_h = max(page_w - 2 * margin, 1.0), max(page_h - 2 * margin, 1.0)
    k = min(avail_w / max(size.x, 1e-9), avail_h / max(size.y, 1e-9))
    cx, cy = extents.center.x, extents.center.y
    return (k, 0.0, 0.0, k, page_w / 2 - cx * k, page_h / 2 - cy * k)


def _viewport_scale(doc: Drawing, layout: Paperspace, unit_mm: float, options: SheetOptions) -> float | None:
    ports = content_viewports(layout)
    if not ports:
        return 1.0  # a drawing made directly on paper is at 1:1
    main = max(ports, key=lambda vp: vp.dxf.get("width", 0) * vp.dxf.get("height", 0))
    scale = main.get_scale()
    if scale <= 0:
        return None
    return mm_per_unit(doc, options.unitless_as) / (scale * unit_mm)


def _smallest_iso(width_mm: float, height_mm: float, papers: dict[str, tuple[float, float]], margin: float = 0) -> str:
    for name, (w, h) in papers.items():
        if width_mm <= w - 2 * margin and height_mm <= h - 2 * margin:
            return name
    return next(reversed(papers))


def modelspace_sheet(doc: Drawing, options: SheetOptions | None = None) -> SheetSource:
    """Model space on an ISO A sheet at a standard scale (see the module documentation)."""
    options = options or SheetOptions()
    msp = doc.modelspace()
    extents = _extents(msp)
    unit = mm_per_unit(doc, options.unitless_as)
    papers = {name: ISO_A[name] for name in options.papers}
    if extents.has_data:
        w_mm, h_mm = extents.size.x * unit, extents.size.y * unit
    else:
        w_mm = h_mm = 0.0
    portrait = options.orientation == Orientation.PORTRAIT or (
        options.orientation == Orientation.AUTO and h_mm > 1.2 * w_mm
    )
    if portrait:
        papers = {name: (h, w) for name, (w, h) in papers.items()}
    denominator, name = _place(w_mm, h_mm, papers, options.margin_mm)
    page_w, page_h = papers[name]
    k = unit / denominator * POINTS_PER_MM
    if extents.has_data:
        cx, cy = extents.center.x, extents.center.y
    else:
        cx = cy = 0.0
    to_page: Affine = (k, 0.0, 0.0, k, page_w * POINTS_PER_MM / 2 - cx * k, page_h * POINTS_PER_MM / 2 - cy * k)
    return SheetSource(
        layout_name="Model",
        order=0,
        is_modelspace=True,
        paper=PaperSize(page_w, page_h, name),
        to_page=to_page,
        paper_units=_UNIT_NAMES.get(doc.units or 0, str(doc.units)),
        drawing_units=_UNIT_NAMES.get(doc.units or 0, str(doc.units)),
        scale_denominator=float(denominator),
        entity_count=len(msp),
    )


def _place(w_mm: float, h_mm: float, papers: dict[str, tuple[float, float]], margin: float) -> tuple[float, str]:
    """The largest standard scale at which the drawing fits the largest paper, and the smallest paper
    that holds it then. A drawing that is itself a sheet frame (it fills a paper to within 3 %) is
    placed on that paper without a margin."""

    def fits(w: float, h: float, paper_w: float, paper_h: float) -> bool:
        if w <= paper_w - 2 * margin and h <= paper_h - 2 * margin:
            return True
        return 0.97 * paper_w <= w <= 1.005 * paper_w and 0.97 * paper_h <= h <= 1.005 * paper_h

    largest = next(reversed(papers.values()))
    need = max(w_mm / max(largest[0] - 2 * margin, 1.0), h_mm / max(largest[1] - 2 * margin, 1.0))
    scales = [float(s) for s in STANDARD_SCALES]
    while scales[-1] < need:  # beyond 1:1 000 000 (survey data in odd units): continue in decades
        scales.append(scales[-1] * 10)
    for denominator in scales:
        for name, (paper_w, paper_h) in papers.items():
            if fits(w_mm / denominator, h_mm / denominator, paper_w, paper_h):
                return float(denominator), name
    return float(scales[-1]), next(reversed(papers))
