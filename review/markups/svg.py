"""A markup as a small SVG fragment in sheet coordinates, and back (the SvgSelector of a Web Annotation).

Every fragment is ``<svg><g data-kind="…" stroke… fill… opacity…>shape…</g></svg>``. Reading accepts only
what writing produces: the listed elements with the listed attributes, parsed without entities, DTD or
network. Anything else (scripts, links, foreign elements, styles) is refused rather than ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from lxml import etree

from review.markups.errors import UnreadableAnnotation
from review.markups.geometry import cloud_svg_path, format_number
from review.markups.model import Markup, MarkupKind, Point, Rect
from review.markups.xmlsafe import parse_untrusted

SVG_NS = "http://www.w3.org/2000/svg"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
MAX_SVG_BYTES = 1_000_000
TEXT_SIZE = 10.0
"""Font size (points) of arrow and free-text labels."""

_ALLOWED: dict[str, frozenset[str]] = {
    "svg": frozenset({"viewBox", "width", "height"}),
    "g": frozenset({"data-kind", "data-arc", "data-vertices", "stroke", "stroke-width", "fill", "opacity"}),
    "rect": frozenset({"x", "y", "width", "height"}),
    "ellipse": frozenset({"cx", "cy", "rx", "ry"}),
    "polygon": frozenset({"points", "class", "fill", "stroke"}),
    "polyline": frozenset({"points"}),
    "line": frozenset({"x1", "y1", "x2", "y2"}),
    "path": frozenset({"d"}),
    "text": frozenset({"x", "y", "font-size", "fill", "stroke", XML_SPACE}),
}


def _e(tag: str, **attributes: str) -> etree._Element:
    element = etree.Element(f"{{{SVG_NS}}}{tag}", nsmap={None: SVG_NS})
    for key, value in attributes.items():
        element.set(key.replace("_", "-"), value)
    return element


def _points(points: tuple[Point, ...]) -> str:
    return " ".join(f"{format_number(x)},{format_number(y)}" for x, y in points)


def arrow_head(tail: Point, tip: Point, size: float) -> tuple[Point, Point, Point]:
    """The triangle of an arrow's head: the tip and two barbs ``size`` points back, 30° either side."""
    angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
    left = (tip[0] - size * math.cos(angle - math.pi / 6), tip[1] - size * math.sin(angle - math.pi / 6))
    right = (tip[0] - size * math.cos(angle + math.pi / 6), tip[1] - size * math.sin(angle + math.pi / 6))
    return (tip, left, right)


def _label(text: str, x: float, y: float, colour: str) -> etree._Element:
    label = _e(
        "text", x=format_number(x), y=format_number(y), font_size=format_number(TEXT_SIZE), fill=colour, stroke="none"
    )
    label.set(XML_SPACE, "preserve")
    label.text = text
    return label


def markup_to_svg(markup: Markup) -> str:
    """The SVG fragment of a (validated) markup."""
    kind = markup.kind
    root = _e("svg")
    group = _e(
        "g",
        data_kind=kind.value,
        stroke=markup.colour,
        stroke_width=format_number(markup.stroke_width),
        fill="none",
        opacity=format_number(markup.opacity),
    )
    root.append(group)
    if kind is MarkupKind.HIGHLIGHT:
        group.set("stroke", "none")
        group.set("fill", markup.colour)
    p = markup.points
    if kind in (MarkupKind.RECTANGLE, MarkupKind.HIGHLIGHT):
        r = Rect.around(p)
        group.append(
            _e(
                "rect",
                x=format_number(r.x0),
                y=format_number(r.y0),
                width=format_number(r.width),
                height=format_number(r.height),
            )
        )
    elif kind is MarkupKind.ELLIPSE:
        r = Rect.around(p)
        cx, cy = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2
        group.append(
            _e(
                "ellipse",
                cx=format_number(cx),
                cy=format_number(cy),
                rx=format_number(r.width / 2),
                ry=format_number(r.height / 2),
            )
        )
    elif kind is MarkupKind.POLYGON:
        group.append(_e("polygon", points=_points(p)))
    elif kind is MarkupKind.CLOUD:
        # The outline shown is the bulged path; the polygon it was drawn from travels alongside.
        group.set("data-arc", format_number(markup.cloud_arc))
        group.set("data-vertices", _points(p))
        group.append(_e("path", d=cloud_svg_path(p, markup.cloud_arc)))
    elif kind in (MarkupKind.POLYLINE, MarkupKind.FREEHAND):
        group.append(_e("polyline", points=_points(p)))
    elif kind is MarkupKind.ARROW:
        (x1, y1), (x2, y2) = p
        group.append(_e("line", x1=format_number(x1), y1=format_number(y1), x2=format_number(x2), y2=format_number(y2)))
        head = arrow_head(p[0], p[1], max(6.0, 4 * markup.stroke_width))
        group.append(_e("polygon", points=_points(head), fill=markup.colour, stroke="none", **{"class": "head"}))
        if markup.text:
            group.append(_label(markup.text, x1, y1 - 2, markup.colour))
    elif kind is MarkupKind.FREE_TEXT:
        assert markup.box is not None
        b = markup.box.normalised()
        ax, ay = p[0]
        nx, ny = min(max(ax, b.x0), b.x1), min(max(ay, b.y0), b.y1)
        group.append(
            _e(
                "rect",
                x=format_number(b.x0),
                y=format_number(b.y0),
                width=format_number(b.width),
                height=format_number(b.height),
            )
        )
        group.append(_e("line", x1=format_number(ax), y1=format_number(ay), x2=format_number(nx), y2=format_number(ny)))
        group.append(_label(markup.text, b.x0 + 2, b.y0 + TEXT_SIZE + 2, markup.colour))
    return etree.tostring(root, encoding="unicode")


def _fail(detail: str) -> UnreadableAnnotation:
    return UnreadableAnnotation("SVG 选择器无法识别", f"the SVG selector cannot be read: {detail}")


def _float(element: etree._Element, name: str) -> float:
    raw = element.get(name)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _fail(f"attribute {name} of <{etree.QName(element).localname}> is not a finite number")
    return value


def _parse_points(raw: str | None) -> tuple[Point, ...]:
    numbers = (raw or "").replace(",", " ").split()
    if len(numbers) % 2:
        raise _fail("odd number of coordinates")
    try:
        values = [float(n) for n in numbers]
    except ValueError as exc:
        raise _fail("coordinate is not a number") from exc
    if not all(math.isfinite(v) for v in values):
        raise _fail("coordinate is not finite")
    return tuple(zip(values[0::2], values[1::2], strict=True))


def _check_tree(root: etree._Element) -> None:
    for element in root.iter():
        if not isinstance(element.tag, str):
            raise _fail("unexpected node")
        qname = etree.QName(element)
        if qname.namespace != SVG_NS or qname.localname not in _ALLOWED:
            raise _fail(f"element {element.tag} is not accepted")
        extra = set(element.attrib) - _ALLOWED[qname.localname]
        if extra:
            raise _fail(f"attributes {sorted(extra)} of <{qname.localname}> are not accepted")
        if qname.localname != "text" and (element.text or "").strip():
            raise _fail(f"text inside <{qname.localname}>")


def svg_to_markup(value: str | bytes) -> Markup:
    """The markup an SVG fragment written by :func:`markup_to_svg` describes."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    root = parse_untrusted(data, max_bytes=MAX_SVG_BYTES, error=UnreadableAnnotation, what="SVG")
    _check_tree(root)
    groups = list(root)
    if etree.QName(root).localname != "svg" or len(groups) != 1 or etree.QName(groups[0]).localname != "g":
        raise _fail("expected <svg> holding one <g>")
    group = groups[0]
    try:
        kind = MarkupKind(group.get("data-kind", ""))
    except ValueError as exc:
        raise _fail(f"unknown kind {group.get('data-kind')!r}") from exc
    children: dict[str, list[etree._Element]] = {}
    for child in group:
        children.setdefault(etree.QName(child).localname, []).append(child)
    shape = _READERS[kind]
    colour = group.get("fill" if kind is MarkupKind.HIGHLIGHT else "stroke", "")
    points, text, box, arc = shape(group, children)
    return Markup(
        kind=kind,
        points=points,
        text=text,
        box=box,
        colour=colour,
        stroke_width=_float(group, "stroke-width"),
        opacity=_float(group, "opacity"),
        cloud_arc=arc,
    )


_Shape = tuple[tuple[Point, ...], str, Rect | None, float]


def _one(children: dict[str, list[etree._Element]], tag: str, *, allowed: frozenset[str]) -> etree._Element:
    unexpected = set(children) - allowed
    if unexpected:
        raise _fail(f"unexpected elements {sorted(unexpected)}")
    found = children.get(tag, [])
    if len(found) != 1:
        raise _fail(f"expected one <{tag}>")
    return found[0]


def _read_box(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    rect = _one(children, "rect", allowed=frozenset({"rect"}))
    x, y = _float(rect, "x"), _float(rect, "y")
    return (((x, y), (x + _float(rect, "width"), y + _float(rect, "height"))), "", None, 0.0)


def _read_ellipse(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    e = _one(children, "ellipse", allowed=frozenset({"ellipse"}))
    cx, cy, rx, ry = (_float(e, n) for n in ("cx", "cy", "rx", "ry"))
    return (((cx - rx, cy - ry), (cx + rx, cy + ry)), "", None, 0.0)


def _read_polygon(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    polygon = _one(children, "polygon", allowed=frozenset({"polygon"}))
    return (_parse_points(polygon.get("points")), "", None, 0.0)


def _read_polyline(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    line = _one(children, "polyline", allowed=frozenset({"polyline"}))
    return (_parse_points(line.get("points")), "", None, 0.0)


def _read_cloud(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    _one(children, "path", allowed=frozenset({"path"}))
    return (_parse_points(group.get("data-vertices")), "", None, _float(group, "data-arc"))


def _text_of(children: dict[str, list[etree._Element]], *, required: bool) -> str:
    labels = children.get("text", [])
    if len(labels) > 1 or (required and not labels):
        raise _fail("expected one <text>")
    if labels and len(labels[0]):
        raise _fail("<text> must hold plain text")
    return (labels[0].text or "") if labels else ""


def _read_arrow(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    line = _one(children, "line", allowed=frozenset({"line", "polygon", "text"}))
    if len(children.get("polygon", [])) != 1:
        raise _fail("expected one arrow head")
    points = ((_float(line, "x1"), _float(line, "y1")), (_float(line, "x2"), _float(line, "y2")))
    return (points, _text_of(children, required=False), None, 0.0)


def _read_free_text(group: etree._Element, children: dict[str, list[etree._Element]]) -> _Shape:
    rect = _one(children, "rect", allowed=frozenset({"rect", "line", "text"}))
    line = _one(children, "line", allowed=frozenset({"rect", "line", "text"}))
    x, y = _float(rect, "x"), _float(rect, "y")
    box = Rect(x, y, x + _float(rect, "width"), y + _float(rect, "height"))
    anchor = (_float(line, "x1"), _float(line, "y1"))
    return ((anchor,), _text_of(children, required=True), box, 0.0)


_READERS: dict[MarkupKind, Callable[[etree._Element, dict[str, list[etree._Element]]], _Shape]] = {
    MarkupKind.RECTANGLE: _read_box,
    MarkupKind.HIGHLIGHT: _read_box,
    MarkupKind.ELLIPSE: _read_ellipse,
    MarkupKind.POLYGON: _read_polygon,
    MarkupKind.CLOUD: _read_cloud,
    MarkupKind.POLYLINE: _read_polyline,
    MarkupKind.FREEHAND: _read_polyline,
    MarkupKind.ARROW: _read_arrow,
    MarkupKind.FREE_TEXT: _read_free_text,
}
