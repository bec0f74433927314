"""The markup (批注图形) value: one shape on a sheet revision, in sheet coordinates.

Sheet coordinates are PDF points with the origin at the top-left corner of the sheet and y growing
downwards, the way the viewer and PyMuPDF see a page. Formats with another convention (XFDF, PDF user
space) convert at their own edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Point = tuple[float, float]


class MarkupKind(StrEnum):
    """The shapes a reviewer can draw. Values are those stored and exchanged."""

    RECTANGLE = "rectangle"  # 矩形
    ELLIPSE = "ellipse"  # 椭圆
    CLOUD = "cloud"  # 云线（修订云）
    POLYGON = "polygon"  # 多边形
    POLYLINE = "polyline"  # 折线
    ARROW = "arrow"  # 箭头（可带文字）
    FREE_TEXT = "free_text"  # 文字框
    FREEHAND = "freehand"  # 手绘
    HIGHLIGHT = "highlight"  # 高亮（半透明矩形）


BOX_KINDS = frozenset({MarkupKind.RECTANGLE, MarkupKind.ELLIPSE, MarkupKind.HIGHLIGHT})
"""Kinds given by two opposite corners."""

AREA_KINDS = frozenset(
    {MarkupKind.RECTANGLE, MarkupKind.ELLIPSE, MarkupKind.HIGHLIGHT, MarkupKind.CLOUD, MarkupKind.POLYGON}
)
"""Kinds that enclose an area (their outline must not cross itself)."""

LINE_KINDS = frozenset({MarkupKind.POLYLINE, MarkupKind.ARROW, MarkupKind.FREEHAND})
"""Kinds drawn as open lines."""

TEXT_KINDS = frozenset({MarkupKind.ARROW, MarkupKind.FREE_TEXT})
"""Kinds that carry their own visible text (a comment's text lives in the comment, not here)."""


@dataclass(frozen=True)
class Rect:
    """An axis-aligned box in sheet coordinates; ``x0 <= x1`` and ``y0 <= y1`` once normalised."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def normalised(self) -> Rect:
        """The same box with its corners ordered."""
        return Rect(min(self.x0, self.x1), min(self.y0, self.y1), max(self.x0, self.x1), max(self.y0, self.y1))

    @classmethod
    def around(cls, points: tuple[Point, ...]) -> Rect:
        """The smallest box holding every point."""
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        return cls(min(xs), min(ys), max(xs), max(ys))


@dataclass(frozen=True)
class Markup:
    """One shape drawn by a reviewer on a sheet revision (审查批注)."""

    kind: MarkupKind
    """Which shape this is."""
    points: tuple[Point, ...]
    """Geometry in sheet coordinates. Rectangle, ellipse, highlight: two opposite corners. Polygon and cloud:
    the vertices, closed implicitly (the first point is not repeated). Polyline, freehand: the vertices in
    drawing order. Arrow: the tail, then the tip where the head is drawn. Free text: one point, the anchor the
    leader line points at."""
    text: str = ""
    """Visible text of an arrow or a free-text box; empty for the other kinds."""
    box: Rect | None = None
    """The text box of a free-text markup; None for the other kinds."""
    colour: str = "#e60012"
    """Stroke colour as ``#rrggbb``."""
    stroke_width: float = 1.5
    """Line width in points."""
    opacity: float = 1.0
    """0 (invisible) to 1 (opaque); highlights are translucent, see :data:`HIGHLIGHT_OPACITY`."""
    cloud_arc: float = 0.0
    """Revision cloud only: the chord length of one bulge in points; 0 for the other kinds."""

    @property
    def bounds(self) -> Rect:
        """The box holding every point (and the text box of a free text)."""
        outline = Rect.around(self.points)
        if self.box is None:
            return outline
        box = self.box.normalised()
        return Rect(min(outline.x0, box.x0), min(outline.y0, box.y0), max(outline.x1, box.x1), max(outline.y1, box.y1))


HIGHLIGHT_OPACITY = 0.35
"""Default opacity of a highlight: the drawing stays readable below it."""

DEFAULT_CLOUD_ARC = 12.0
"""Default bulge size of a revision cloud in points (about 4 mm)."""
