"""Validation and regions of markups with shapely (批注几何校验).

:func:`validate_markup` is the gate every markup passes before it is stored: finite numbers, sizes within
:class:`MarkupLimits`, an outline that does not cross itself, a place on the sheet, a well-formed style.
It returns the markup normalised (box corners ordered, freehand strokes simplified). :func:`region` gives
the area a markup covers, used to decide whether a markup carried to the next round meets a changed part
of the sheet (:func:`intersects_changes`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon, box
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry

from review.markups.errors import InvalidMarkup
from review.markups.model import BOX_KINDS, TEXT_KINDS, Markup, MarkupKind, Point, Rect

COLOUR = re.compile(r"#[0-9a-f]{6}")
# Tab and newline are kept in visible text; other control characters would break XML and PDF output.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class MarkupLimits:
    """Bounds a markup must stay within."""

    max_vertices: int = 5_000
    """Most points one markup may have (after simplification of freehand strokes)."""
    max_text_chars: int = 2_000
    """Longest visible text of an arrow or free-text box."""
    max_coordinate: float = 200_000.0
    """Largest absolute coordinate accepted at all (an A0 sheet is 3,370 points wide)."""
    sheet_tolerance: float = 2.0
    """How far (points) a markup may reach beyond the sheet's edge: strokes drawn up to the border."""
    max_stroke_width: float = 50.0
    """Widest line in points."""
    max_cloud_arc: float = 200.0
    """Largest bulge of a revision cloud in points."""
    freehand_tolerance: float = 0.5
    """Distance (points) within which freehand strokes are simplified; 0 keeps every point."""
    line_region_width: float = 6.0
    """Width (points) of the band around line markups that counts as their region."""


DEFAULT_LIMITS = MarkupLimits()


def _refuse(code: str, zh: str, en: str) -> InvalidMarkup:
    return InvalidMarkup(zh, en, code=code)


def _check_numbers(markup: Markup, limits: MarkupLimits) -> None:
    numbers: list[float] = [c for p in markup.points for c in p]
    if markup.box is not None:
        b = markup.box
        numbers += [b.x0, b.y0, b.x1, b.y1]
    numbers += [markup.stroke_width, markup.opacity, markup.cloud_arc]
    for value in numbers:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise _refuse("MARKUP_NUMBER_INVALID", "批注包含非有限数值", "the markup holds a non-finite number")
        if abs(value) > limits.max_coordinate:
            raise _refuse(
                "MARKUP_NUMBER_INVALID",
                f"批注坐标超出允许范围（绝对值不超过 {limits.max_coordinate:g}）",
                f"a markup number exceeds the allowed magnitude {limits.max_coordinate:g}",
            )


def _check_counts(markup: Markup, limits: MarkupLimits) -> None:
    kind = markup.kind
    n = len(markup.points)
    if n > limits.max_vertices:
        raise _refuse(
            "MARKUP_TOO_MANY_VERTICES",
            f"批注顶点过多（{n} 个，上限 {limits.max_vertices} 个）",
            f"the markup has {n} vertices; at most {limits.max_vertices} are allowed",
        )
    expected: tuple[int, int] = {
        MarkupKind.RECTANGLE: (2, 2),
        MarkupKind.ELLIPSE: (2, 2),
        MarkupKind.HIGHLIGHT: (2, 2),
        MarkupKind.ARROW: (2, 2),
        MarkupKind.FREE_TEXT: (1, 1),
        MarkupKind.POLYGON: (3, limits.max_vertices),
        MarkupKind.CLOUD: (3, limits.max_vertices),
        MarkupKind.POLYLINE: (2, limits.max_vertices),
        MarkupKind.FREEHAND: (2, limits.max_vertices),
    }[kind]
    if not expected[0] <= n <= expected[1]:
        raise _refuse(
            "MARKUP_POINTS_INVALID",
            f"{kind.value} 批注的点数不正确（{n} 个）",
            f"a {kind.value} markup cannot have {n} points",
        )
    if (kind is MarkupKind.FREE_TEXT) != (markup.box is not None):
        raise _refuse("MARKUP_POINTS_INVALID", "只有文字框批注带有文本框", "only a free-text markup has a text box")


def _check_text(markup: Markup, limits: MarkupLimits) -> None:
    text = markup.text
    if not isinstance(text, str):
        raise _refuse("MARKUP_TEXT_INVALID", "批注文字必须是字符串", "markup text must be a string")
    if text and markup.kind not in TEXT_KINDS:
        raise _refuse(
            "MARKUP_TEXT_NOT_ALLOWED",
            "只有箭头和文字框批注可以带文字，意见内容请写在审查意见中",
            "only arrows and free-text boxes carry text; write the remark in the comment",
        )
    if markup.kind is MarkupKind.FREE_TEXT and not text.strip():
        raise _refuse("MARKUP_TEXT_EMPTY", "文字框批注不能为空", "a free-text markup needs text")
    if len(text) > limits.max_text_chars:
        raise _refuse(
            "MARKUP_TEXT_TOO_LONG",
            f"批注文字过长（{len(text)} 字，上限 {limits.max_text_chars} 字）",
            f"the markup text has {len(text)} characters; at most {limits.max_text_chars} are allowed",
        )
    if CONTROL.search(text):
        raise _refuse("MARKUP_TEXT_INVALID", "批注文字含有控制字符", "the markup text holds control characters")


def _check_style(markup: Markup, limits: MarkupLimits) -> None:
    if not isinstance(markup.colour, str) or not COLOUR.fullmatch(markup.colour.lower()):
        raise _refuse(
            "MARKUP_COLOUR_INVALID",
            f"颜色格式应为 #rrggbb：{markup.colour!r}",
            f"colour must be #rrggbb, not {markup.colour!r}",
        )
    if not 0 < markup.stroke_width <= limits.max_stroke_width:
        raise _refuse(
            "MARKUP_STYLE_INVALID",
            f"线宽应大于 0 且不超过 {limits.max_stroke_width:g} 磅",
            f"stroke width must be above 0 and at most {limits.max_stroke_width:g} points",
        )
    if not 0 < markup.opacity <= 1:
        raise _refuse("MARKUP_STYLE_INVALID", "不透明度应在 0 到 1 之间", "opacity must lie in (0, 1]")
    if markup.kind is MarkupKind.CLOUD:
        if not 0 < markup.cloud_arc <= limits.max_cloud_arc:
            raise _refuse(
                "MARKUP_STYLE_INVALID",
                f"云线弧长应大于 0 且不超过 {limits.max_cloud_arc:g} 磅",
                f"cloud arc must be above 0 and at most {limits.max_cloud_arc:g} points",
            )
    elif markup.cloud_arc != 0:
        raise _refuse("MARKUP_STYLE_INVALID", "只有云线有弧长", "only a revision cloud has an arc size")


def _check_shape(markup: Markup) -> None:
    kind = markup.kind
    points = markup.points
    if kind in BOX_KINDS or kind is MarkupKind.FREE_TEXT:
        rect = Rect.around(points) if kind in BOX_KINDS else markup.box
        assert rect is not None
        if rect.width == 0 or rect.height == 0:
            raise _refuse("MARKUP_DEGENERATE", "批注的宽度或高度为零", "the markup has zero width or height")
        return
    if kind in (MarkupKind.POLYGON, MarkupKind.CLOUD):
        polygon = Polygon(points)
        if polygon.area == 0 and LineString(points).is_simple:
            raise _refuse("MARKUP_DEGENERATE", "多边形面积为零", "the polygon has no area")
        if not polygon.is_valid:
            raise _refuse(
                "MARKUP_SELF_INTERSECTING",
                "多边形边线自相交，请重新绘制",
                f"the polygon's outline crosses itself ({shapely.is_valid_reason(polygon)})",
            )
        return
    if LineString(points).length == 0:
        raise _refuse("MARKUP_DEGENERATE", "线的长度为零", "the line has zero length")


def _check_inside(markup: Markup, sheet_width: float, sheet_height: float, limits: MarkupLimits) -> None:
    b = markup.bounds
    t = limits.sheet_tolerance
    if b.x0 < -t or b.y0 < -t or b.x1 > sheet_width + t or b.y1 > sheet_height + t:
        raise _refuse(
            "MARKUP_OUTSIDE_SHEET",
            "批注超出图纸范围",
            f"the markup ({b.x0:.1f}, {b.y0:.1f})–({b.x1:.1f}, {b.y1:.1f}) lies outside the "
            f"{sheet_width:g} × {sheet_height:g} sheet",
        )


def simplify_points(points: tuple[Point, ...], tolerance: float) -> tuple[Point, ...]:
    """A freehand stroke with the points that stay within ``tolerance`` of the simplified line dropped."""
    if tolerance <= 0 or len(points) < 3:
        return points
    simplified = LineString(points).simplify(tolerance, preserve_topology=False)
    return tuple((float(x), float(y)) for x, y in simplified.coords)


def validate_markup(
    markup: Markup, sheet_width: float, sheet_height: float, limits: MarkupLimits = DEFAULT_LIMITS
) -> Markup:
    """The markup, normalised, if it may be stored on a sheet of this size; :class:`InvalidMarkup` otherwise."""
    if not isinstance(markup.kind, MarkupKind):
        raise _refuse("MARKUP_KIND_UNKNOWN", "未知的批注类型", f"unknown markup kind {markup.kind!r}")
    if not all(isinstance(p, tuple | list) and len(p) == 2 for p in markup.points) or not (
        markup.box is None or isinstance(markup.box, Rect)
    ):
        raise _refuse("MARKUP_POINTS_INVALID", "批注的点应为 (x, y) 坐标对", "markup points must be (x, y) pairs")
    if markup.kind is MarkupKind.FREEHAND:
        # Simplify first: a pen produces far more points than the vertex limit is meant for.
        raw = tuple((float(x), float(y)) for x, y in markup.points) if _all_finite(markup.points) else markup.points
        markup = replace(markup, points=simplify_points(raw, limits.freehand_tolerance))
    _check_numbers(markup, limits)
    _check_counts(markup, limits)
    _check_text(markup, limits)
    _check_style(markup, limits)
    _check_shape(markup)
    _check_inside(markup, sheet_width, sheet_height, limits)
    points = tuple((float(x), float(y)) for x, y in markup.points)
    if markup.kind in BOX_KINDS:
        r = Rect.around(points)
        points = ((r.x0, r.y0), (r.x1, r.y1))
    return replace(
        markup,
        points=points,
        colour=markup.colour.lower(),
        box=markup.box.normalised() if markup.box is not None else None,
    )


def _all_finite(points: tuple[Point, ...]) -> bool:
    return all(isinstance(c, int | float) and math.isfinite(c) for p in points for c in p)


def region(markup: Markup, limits: MarkupLimits = DEFAULT_LIMITS) -> BaseGeometry:  # noqa: PLR0911 - one return per kind
    """The part of the sheet the markup covers; lines count with a band of ``line_region_width``."""
    kind = markup.kind
    half = max(limits.line_region_width, markup.stroke_width) / 2
    if kind in (MarkupKind.RECTANGLE, MarkupKind.HIGHLIGHT):
        r = Rect.around(markup.points)
        return box(r.x0, r.y0, r.x1, r.y1)
    if kind is MarkupKind.ELLIPSE:
        r = Rect.around(markup.points)
        circle = ShapelyPoint((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2).buffer(1.0, quad_segs=32)
        return affinity.scale(circle, r.width / 2, r.height / 2)
    if kind is MarkupKind.POLYGON:
        return Polygon(markup.points)
    if kind is MarkupKind.CLOUD:
        # The bulges reach out by up to half an arc beyond the polygon.
        return Polygon(markup.points).buffer(markup.cloud_arc / 2, join_style="mitre")
    if kind is MarkupKind.FREE_TEXT:
        assert markup.box is not None
        b = markup.box.normalised()
        text_box = box(b.x0, b.y0, b.x1, b.y1)
        anchor = markup.points[0]
        nearest = _nearest_on_box(anchor, b)
        if nearest == anchor:
            return text_box
        return text_box.union(LineString([anchor, nearest]).buffer(half))
    return LineString(markup.points).buffer(half)


def _nearest_on_box(point: Point, b: Rect) -> Point:
    return (min(max(point[0], b.x0), b.x1), min(max(point[1], b.y0), b.y1))


def intersects_changes(markup: Markup, rectangles: Iterable[Rect], limits: MarkupLimits = DEFAULT_LIMITS) -> bool:
    """Whether the markup meets any of the changed rectangles of the sheet (变更区域)."""
    changed = [box(*_xyxy(r.normalised())) for r in rectangles]
    if not changed:
        return False
    area = region(markup, limits)
    return any(area.intersects(r) for r in changed)


def _xyxy(r: Rect) -> tuple[float, float, float, float]:
    return (r.x0, r.y0, r.x1, r.y1)


def cloud_svg_path(points: tuple[Point, ...], arc: float) -> str:
    """The SVG path data of a revision cloud: each edge drawn as bulges of chord about ``arc``, bulging outwards."""
    if len(points) < 3 or arc <= 0:
        raise _refuse("MARKUP_POINTS_INVALID", "云线至少需要三个顶点和正的弧长", "a cloud needs 3 vertices and an arc")
    n = len(points)
    signed = sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))
    # With y pointing down, a positive shoelace sum runs clockwise on screen; the outside then lies to the
    # left of each edge, which SVG's sweep flag 1 reaches.
    sweep = 1 if signed > 0 else 0
    parts = [f"M{format_number(points[0][0])},{format_number(points[0][1])}"]
    for i in range(n):
        (x0, y0), (x1, y1) = points[i], points[(i + 1) % n]
        length = math.hypot(x1 - x0, y1 - y0)
        if length == 0:
            continue
        steps = max(1, round(length / arc))
        radius = length / steps / 2
        for k in range(1, steps + 1):
            x = x0 + (x1 - x0) * k / steps
            y = y0 + (y1 - y0) * k / steps
            parts.append(
                f"A{format_number(radius)},{format_number(radius)} 0 0 {sweep} {format_number(x)},{format_number(y)}"
            )
    parts.append("Z")
    return " ".join(parts)


def format_number(value: float) -> str:
    """A coordinate as short text: three decimals at most, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
