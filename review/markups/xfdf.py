"""XFDF (ISO 19444-1) export and import of markups, the exchange format of Acrobat, Bluebeam and Foxit.

XFDF coordinates are PDF user space: origin at the bottom-left of the page, y up. Sheet coordinates have
their origin at the top-left with y down, so every y becomes ``page_height - y`` on the way out and back.

Import is hostile-input code: the file is size-capped, parsed without DTD, entities or network (any
DOCTYPE is refused), and every annotation is checked for count, points and text length. A file that is
not XFDF or is hostile is refused as a whole (:class:`RejectedXfdf`); one annotation that cannot be used
is skipped with a finding, so that one odd stamp does not block a reviewer's whole markup set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from lxml import etree

from review.markups.errors import InvalidMarkup, RejectedXfdf
from review.markups.geometry import CONTROL, DEFAULT_LIMITS, MarkupLimits, format_number, validate_markup
from review.markups.model import DEFAULT_CLOUD_ARC, HIGHLIGHT_OPACITY, Markup, MarkupKind, Point, Rect
from review.markups.records import (
    AnnotatedMarkup,
    ImportedMarkup,
    ImportFinding,
    ImportReport,
    format_pdf_date,
    parse_pdf_date,
)
from review.markups.xmlsafe import parse_untrusted

XFDF_NS = "http://ns.adobe.com/xfdf/"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
ARROW_ENDINGS = frozenset({"OpenArrow", "ClosedArrow", "ROpenArrow", "RClosedArrow"})
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class XfdfLimits:
    """Bounds an imported XFDF file must stay within."""

    max_bytes: int = 10_000_000
    """Largest file accepted."""
    max_annotations: int = 5_000
    """Most annotations in one file."""
    max_points: int = 20_000
    """Most points in one annotation (all ink strokes together) before simplification."""
    max_contents_chars: int = 20_000
    """Longest contents of one annotation (the comment text limit)."""
    max_text_chars: int = DEFAULT_LIMITS.max_text_chars
    """Longest visible text of a free-text annotation."""


DEFAULT_XFDF_LIMITS = XfdfLimits()


# Export -------------------------------------------------------------------------------------------------


def _coords(points: Iterable[Point], page_height: float) -> list[str]:
    return [f"{format_number(x)},{format_number(page_height - y)}" for x, y in points]


def _rect(rect: Rect, page_height: float, pad: float = 0.0) -> str:
    r = rect.normalised()
    values = (r.x0 - pad, page_height - r.y1 - pad, r.x1 + pad, page_height - r.y0 + pad)
    return ",".join(format_number(v) for v in values)


def _clean(text: str) -> str:
    return CONTROL.sub("", text)


def _child_text(element: etree._Element, name: str, text: str) -> etree._Element:
    sub = etree.SubElement(element, f"{{{XFDF_NS}}}{name}")
    sub.text = text
    return sub


def _write_geometry(element: etree._Element, markup: Markup, page_height: float) -> None:
    kind = markup.kind
    points = markup.points
    if kind in (MarkupKind.RECTANGLE, MarkupKind.ELLIPSE):
        # The rect encloses the stroke; the fringe (PDF /RD) tells readers where the shape itself lies.
        element.set("fringe", ",".join([format_number(markup.stroke_width)] * 4))
    elif kind in (MarkupKind.POLYGON, MarkupKind.CLOUD, MarkupKind.POLYLINE):
        _child_text(element, "vertices", ";".join(_coords(points, page_height)))
        if kind is MarkupKind.CLOUD:
            # PDF knows cloud intensity 0..2 rather than a bulge size; 1 ≈ our default bulge.
            element.set("style", "cloudy")
            element.set("intensity", str(min(2, max(1, round(markup.cloud_arc / DEFAULT_CLOUD_ARC)))))
    elif kind is MarkupKind.ARROW:
        # As desktop tools draw it: the head at the start point (line ending of ``head``).
        tail, tip = points
        element.set("start", _coords([tip], page_height)[0])
        element.set("end", _coords([tail], page_height)[0])
        element.set("head", "OpenArrow")
        element.set("tail", "None")
        if markup.text:
            element.set("caption", "yes")
    elif kind is MarkupKind.FREEHAND:
        inklist = etree.SubElement(element, f"{{{XFDF_NS}}}inklist")
        gesture = etree.SubElement(inklist, f"{{{XFDF_NS}}}gesture")
        gesture.text = ";".join(_coords(points, page_height))
    elif kind is MarkupKind.HIGHLIGHT:
        r = Rect.around(points)
        corners = ((r.x0, r.y0), (r.x1, r.y0), (r.x0, r.y1), (r.x1, r.y1))
        element.set("coords", ",".join(_coords(corners, page_height)))
    elif kind is MarkupKind.FREE_TEXT:
        assert markup.box is not None
        element.set("rect", _rect(markup.box, page_height))
        anchor = points[0]
        b = markup.box.normalised()
        nearest = (min(max(anchor[0], b.x0), b.x1), min(max(anchor[1], b.y0), b.y1))
        element.set("callout", ",".join(_coords([anchor, nearest], page_height)))
        element.set("intent", "FreeTextCallout")
        element.set("head", "OpenArrow")
        element.set("defaultstyle", f"font: 10pt; color: {markup.colour.upper()}")


def _element(record: AnnotatedMarkup, *, page_index: int, page_height: float) -> etree._Element:
    markup = record.markup
    kind = markup.kind
    tag = {
        MarkupKind.RECTANGLE: "square",
        MarkupKind.ELLIPSE: "circle",
        MarkupKind.CLOUD: "polygon",
        MarkupKind.POLYGON: "polygon",
        MarkupKind.POLYLINE: "polyline",
        MarkupKind.ARROW: "line",
        MarkupKind.FREE_TEXT: "freetext",
        MarkupKind.FREEHAND: "ink",
        MarkupKind.HIGHLIGHT: "highlight",
    }[kind]
    element = etree.Element(f"{{{XFDF_NS}}}{tag}")
    colour = markup.colour.upper()
    attributes = {
        "page": str(page_index),
        "rect": _rect(markup.bounds, page_height, pad=markup.stroke_width),
        "color": colour,
        "width": format_number(markup.stroke_width),
        "opacity": format_number(markup.opacity),
        "flags": "print",
    }
    if record.name:
        attributes["name"] = _clean(record.name)
    if record.author:
        attributes["title"] = _clean(record.author)
    if record.subject:
        attributes["subject"] = _clean(record.subject)
    if record.modified is not None:
        attributes["date"] = format_pdf_date(record.modified)
    if record.created is not None:
        attributes["creationdate"] = format_pdf_date(record.created)
    for key, value in attributes.items():
        element.set(key, value)

    _write_geometry(element, markup, page_height)
    text = markup.text if markup.text else record.contents
    if text:
        _child_text(element, "contents", _clean(text))
    return element


def export_xfdf(
    markups: Sequence[AnnotatedMarkup | Markup], *, page_index: int, page_height: float, pdf_filename: str
) -> bytes:
    """An XFDF document holding the (validated) markups of one page."""
    root = etree.Element(f"{{{XFDF_NS}}}xfdf", nsmap={None: XFDF_NS})
    root.set(XML_SPACE, "preserve")
    etree.SubElement(root, f"{{{XFDF_NS}}}f", href=_clean(pdf_filename))
    annots = etree.SubElement(root, f"{{{XFDF_NS}}}annots")
    for item in markups:
        record = item if isinstance(item, AnnotatedMarkup) else AnnotatedMarkup(markup=item)
        annots.append(_element(record, page_index=page_index, page_height=page_height))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# Import -------------------------------------------------------------------------------------------------


class _Skip(Exception):
    """One annotation cannot be used; it becomes a finding."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


def _numbers(text: str | None) -> list[float]:
    parts = [p for p in re.split(r"[\s,;]+", text or "") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise _Skip("XFDF_BAD_NUMBER", "坐标不是数字", "a coordinate is not a number") from exc
    if not all(math.isfinite(v) and abs(v) < 1e7 for v in values):
        raise _Skip("XFDF_BAD_NUMBER", "坐标不是有限数值", "a coordinate is not a finite number")
    return values


def _point_list(text: str | None, page_height: float, limits: XfdfLimits) -> tuple[Point, ...]:
    values = _numbers(text)
    if len(values) % 2:
        raise _Skip("XFDF_BAD_NUMBER", "坐标个数为奇数", "an odd number of coordinates")
    if len(values) // 2 > limits.max_points:
        raise _Skip(
            "XFDF_TOO_MANY_POINTS",
            f"批注点数超过上限 {limits.max_points}",
            f"the annotation has more than {limits.max_points} points",
        )
    return tuple((x, page_height - y) for x, y in zip(values[0::2], values[1::2], strict=True))


def _sheet_rect(text: str | None, page_height: float) -> Rect:
    values = _numbers(text)
    if len(values) != 4:
        raise _Skip("XFDF_BAD_RECT", "rect 属性应有四个数", "rect must hold four numbers")
    x0, y0, x1, y1 = values
    return Rect(x0, page_height - y1, x1, page_height - y0).normalised()


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _child(element: etree._Element, name: str) -> etree._Element | None:
    for sub in element:
        if _local(sub) == name:
            return sub
    return None


def _contents(element: etree._Element, limits: XfdfLimits) -> str:
    node = _child(element, "contents")
    if node is None:
        node = _child(element, "contents-richtext")
    text = "".join(node.itertext()) if node is not None else ""
    if len(text) > limits.max_contents_chars:
        raise _Skip(
            "XFDF_TEXT_TOO_LONG",
            f"批注内容过长（{len(text)} 字，上限 {limits.max_contents_chars} 字）",
            f"the contents have {len(text)} characters; at most {limits.max_contents_chars} are accepted",
        )
    return CONTROL.sub("", text)


def _make(
    kind: MarkupKind,
    points: tuple[Point, ...],
    element: etree._Element,
    *,
    text: str = "",
    box: Rect | None = None,
    cloud_arc: float = 0.0,
) -> Markup:
    """A markup with the colour, width and opacity the annotation gives, or defaults where they are unusable."""
    colour = element.get("color") or element.get("interior-color") or ""
    default_opacity = HIGHLIGHT_OPACITY if kind is MarkupKind.HIGHLIGHT else 1.0
    width = _numbers(element.get("width") or "1")
    opacity = _numbers(element.get("opacity") or str(default_opacity))
    return Markup(
        kind,
        points,
        text=text,
        box=box,
        colour=colour.lower()
        if _COLOUR.fullmatch(colour)
        else ("#ffff00" if kind is MarkupKind.HIGHLIGHT else "#e60012"),
        stroke_width=width[0] if len(width) == 1 and 0 < width[0] <= 50 else 1.0,
        opacity=opacity[0] if len(opacity) == 1 and 0 < opacity[0] <= 1 else default_opacity,
        cloud_arc=cloud_arc,
    )


_Reader = Callable[[etree._Element, float, XfdfLimits], list[Markup]]


def _read_box(element: etree._Element, ph: float, limits: XfdfLimits) -> list[Markup]:
    kind = MarkupKind.RECTANGLE if _local(element) == "square" else MarkupKind.ELLIPSE
    r = _sheet_rect(element.get("rect"), ph)
    # The rect of a bordered square encloses the stroke; ``fringe`` (RD) says by how much.
    fringe = _numbers(element.get("fringe"))
    if len(fringe) == 4:
        r = Rect(r.x0 + fringe[0], r.y0 + fringe[3], r.x1 - fringe[2], r.y1 - fringe[1])
    return [_make(kind, ((r.x0, r.y0), (r.x1, r.y1)), element)]


def _read_vertices(element: etree._Element, ph: float, limits: XfdfLimits) -> list[Markup]:
    points = _point_list(_text(_child(element, "vertices")), ph, limits)
    if _local(element) == "polyline":
        return [_make(MarkupKind.POLYLINE, points, element)]
    if len(points) > 3 and points[0] == points[-1]:
        points = points[:-1]  # some tools repeat the first vertex to close the ring
    if element.get("style") == "cloudy":
        intensity = _numbers(element.get("intensity") or "1")
        arc = DEFAULT_CLOUD_ARC * min(2.0, max(0.5, intensity[0] if intensity else 1.0))
        return [_make(MarkupKind.CLOUD, points, element, cloud_arc=arc)]
    return [_make(MarkupKind.POLYGON, points, element)]


def _read_line(element: etree._Element, ph: float, limits: XfdfLimits) -> list[Markup]:
    start = _point_list(element.get("start"), ph, limits)
    end = _point_list(element.get("end"), ph, limits)
    if len(start) != 1 or len(end) != 1:
        raise _Skip("XFDF_BAD_LINE", "直线缺少起点或终点", "a line needs start and end")
    if element.get("head", "None") in ARROW_ENDINGS:
        tail, tip = end[0], start[0]
    elif element.get("tail", "None") in ARROW_ENDINGS:
        tail, tip = start[0], end[0]
    else:
        return [_make(MarkupKind.POLYLINE, (start[0], end[0]), element)]
    caption = _contents(element, limits) if element.get("caption") == "yes" else ""
    text = caption if len(caption) <= limits.max_text_chars else ""
    return [_make(MarkupKind.ARROW, (tail, tip), element, text=text)]


def _read_ink(element: etree._Element, ph: float, limits: XfdfLimits) -> list[Markup]:
    inklist = _child(element, "inklist")
    gestures = [g for g in (inklist if inklist is not None else []) if _local(g) == "gesture"]
    strokes = [_point_list(_text(g), ph, limits) for g in gestures]
    if sum(len(s) for s in strokes) > limits.max_points:
        raise _Skip("XFDF_TOO_MANY_POINTS", "手绘点数过多", f"more than {limits.max_points} ink points")
    return [_make(MarkupKind.FREEHAND, s, element) for s in strokes]


def _read_highlight(element: etree._Element, ph: float, limits: XfdfLimits) -> list[Markup]:
    coords = _point_list(element.get("coords"), ph, limits)
    if not coords or len(coords) % 4:
        raise _Skip("XFDF_BAD_RECT", "高亮坐标不完整", "highlight coords must come in fours")
    # One highlight may span several text lines: one quadrilateral per line.
    quads = [Rect.around(coords[i : i + 4]) for i in range(0, len(coords), 4)]
    return [_make(MarkupKind.HIGHLIGHT, ((q.x0, q.y0), (q.x1, q.y1)), element) for q in quads]


def _read_freetext(element: etree._Element, ph: float, limits: XfdfLimits) -> list[Markup]:
    box = _sheet_rect(element.get("rect"), ph)
    callout = _point_list(element.get("callout"), ph, limits) if element.get("callout") else ()
    anchor = callout[0] if callout else (box.x0, box.y0)
    text = _contents(element, limits)
    if len(text) > limits.max_text_chars:
        raise _Skip(
            "XFDF_TEXT_TOO_LONG",
            f"文字框文字过长（上限 {limits.max_text_chars} 字）",
            f"free text longer than {limits.max_text_chars} characters",
        )
    return [_make(MarkupKind.FREE_TEXT, (anchor,), element, text=text, box=box)]


_READERS: dict[str, _Reader] = {
    "square": _read_box,
    "circle": _read_box,
    "polygon": _read_vertices,
    "polyline": _read_vertices,
    "line": _read_line,
    "ink": _read_ink,
    "highlight": _read_highlight,
    "freetext": _read_freetext,
}


def _markups(element: etree._Element, page_height: float, limits: XfdfLimits) -> list[Markup]:
    tag = _local(element)
    reader = _READERS.get(tag)
    if reader is None:
        raise _Skip("XFDF_UNSUPPORTED_TYPE", f"不支持的批注类型：{tag}", f"unsupported annotation type {tag!r}")
    return reader(element, page_height, limits)


def _text(element: etree._Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


def read_xfdf(data: bytes, *, page_height: float, limits: XfdfLimits = DEFAULT_XFDF_LIMITS) -> ImportReport:
    """The markups of an XFDF file, and a finding for each annotation skipped."""
    root = parse_untrusted(data, max_bytes=limits.max_bytes, error=RejectedXfdf, what="XFDF")
    if _local(root) != "xfdf" or etree.QName(root).namespace not in (XFDF_NS, None):
        raise RejectedXfdf("文件不是 XFDF 格式", "the file is not XFDF", code="XFDF_NOT_XFDF")
    annots = _child(root, "annots")
    elements = [a for a in (annots if annots is not None else []) if isinstance(a.tag, str)]
    if len(elements) > limits.max_annotations:
        raise RejectedXfdf(
            f"XFDF 文件批注过多（{len(elements)} 个，上限 {limits.max_annotations} 个）",
            f"the XFDF file holds {len(elements)} annotations; at most {limits.max_annotations} are accepted",
            code="XFDF_TOO_MANY_ANNOTATIONS",
        )
    imported: list[ImportedMarkup] = []
    findings: list[ImportFinding] = []
    for element in elements:
        name = CONTROL.sub("", element.get("name", ""))
        tag = _local(element)
        if tag == "popup":
            continue  # the note window of another annotation, not a markup
        try:
            page = int(element.get("page", "0"))
            contents = _contents(element, limits)
            shapes = _markups(element, page_height, limits)
        except _Skip as skip:
            findings.append(ImportFinding(skip.code, skip.zh, skip.en, name))
            continue
        except ValueError:
            findings.append(ImportFinding("XFDF_BAD_PAGE", "页码无效", "the page number is not an integer", name))
            continue
        for markup in shapes:
            imported.append(
                ImportedMarkup(
                    markup=markup,
                    name=name,
                    author=CONTROL.sub("", element.get("title", "")),
                    subject=CONTROL.sub("", element.get("subject", "")),
                    contents=contents,
                    modified=parse_pdf_date(element.get("date", "")),
                    created=parse_pdf_date(element.get("creationdate", "")),
                    page_index=page,
                    source_type=tag,
                )
            )
    return ImportReport(tuple(imported), tuple(findings))


def import_xfdf(data: bytes, *, page_height: float, limits: XfdfLimits = DEFAULT_XFDF_LIMITS) -> list[ImportedMarkup]:
    """The markups of an XFDF file (annotations that cannot be used are skipped; see :func:`read_xfdf`)."""
    return list(read_xfdf(data, page_height=page_height, limits=limits).markups)


def validate_import(
    report: ImportReport,
    *,
    page_index: int,
    sheet_width: float,
    sheet_height: float,
    limits: MarkupLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """The imported markups of one page that may be stored on the sheet, normalised; the rest become findings.

    Annotations on other pages are left out without a finding: an XFDF file often covers a whole set.
    """
    kept: list[ImportedMarkup] = []
    findings = list(report.findings)
    for item in report.markups:
        if item.page_index != page_index:
            continue
        try:
            markup = validate_markup(item.markup, sheet_width, sheet_height, limits)
        except InvalidMarkup as problem:
            findings.append(ImportFinding(problem.code, problem.zh, problem.en, item.name))
            continue
        kept.append(replace(item, markup=markup))
    return ImportReport(tuple(kept), tuple(findings))
