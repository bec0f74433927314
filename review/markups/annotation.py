"""Markups as W3C Web Annotations (https://www.w3.org/TR/annotation-model/).

One annotation per markup: the comment's text is a ``TextualBody`` in zh-CN, the target is the sheet
revision (its IRI as ``source``) narrowed by an ``SvgSelector`` holding the shape in sheet coordinates
and, as an equivalent coarser alternative for tools that know no SVG, a ``FragmentSelector`` with the
media-fragment box ``xywh=`` (whole points, rounded outwards).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from review.markups.errors import UnreadableAnnotation
from review.markups.model import Markup, MarkupKind
from review.markups.svg import markup_to_svg, svg_to_markup

CONTEXT = "http://www.w3.org/ns/anno.jsonld"
MEDIA_FRAGMENTS = "http://www.w3.org/TR/media-frags/"
MAX_DOCUMENT_BYTES = 2_000_000


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("annotation times must carry a time zone")
    return moment.isoformat(timespec="seconds")


def to_web_annotation(
    markup: Markup,
    *,
    annotation_id: str,
    sheet_revision_iri: str,
    creator: str,
    created: datetime,
    modified: datetime | None = None,
    comment_text: str = "",
) -> dict[str, Any]:
    """The JSON-LD Web Annotation of a validated markup; ``creator`` is the person's display name."""
    b = markup.bounds
    x0, y0 = math.floor(b.x0), math.floor(b.y0)
    width, height = math.ceil(b.x1) - x0, math.ceil(b.y1) - y0
    annotation: dict[str, Any] = {
        "@context": CONTEXT,
        "id": annotation_id,
        "type": "Annotation",
        "motivation": "highlighting" if markup.kind is MarkupKind.HIGHLIGHT else "commenting",
        "creator": {"type": "Person", "name": creator},
        "created": _iso(created),
        "modified": _iso(modified or created),
        "target": {
            "source": sheet_revision_iri,
            "selector": [
                {"type": "SvgSelector", "value": markup_to_svg(markup)},
                {
                    "type": "FragmentSelector",
                    "conformsTo": MEDIA_FRAGMENTS,
                    "value": f"xywh={x0},{y0},{width},{height}",
                },
            ],
        },
    }
    if comment_text:
        annotation["body"] = {
            "type": "TextualBody",
            "value": comment_text,
            "format": "text/plain",
            "language": "zh-CN",
            "purpose": "commenting",
        }
    return annotation


def _fail(zh: str, en: str) -> UnreadableAnnotation:
    return UnreadableAnnotation(f"Web Annotation 无法识别：{zh}", f"the Web Annotation cannot be read: {en}")


def from_web_annotation(document: Mapping[str, Any] | str | bytes) -> Markup:
    """The markup of a Web Annotation's ``SvgSelector``; validate it against the sheet before storing it."""
    if isinstance(document, str | bytes):
        if len(document) > MAX_DOCUMENT_BYTES:
            raise _fail("文档过大", "the document is too large")
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise _fail("不是 JSON", "not JSON") from exc
    if not isinstance(document, Mapping):
        raise _fail("不是 JSON 对象", "not a JSON object")
    context = document.get("@context")
    if context != CONTEXT and not (isinstance(context, list) and CONTEXT in context):
        raise _fail("缺少 Web Annotation 上下文", f"@context must be {CONTEXT}")
    kind = document.get("type")
    if kind != "Annotation" and not (isinstance(kind, list) and "Annotation" in kind):
        raise _fail("类型不是 Annotation", "type must be Annotation")
    target = document.get("target")
    if not isinstance(target, Mapping):
        raise _fail("缺少目标", "target must be an object with a selector")
    selectors = target.get("selector")
    if isinstance(selectors, Mapping):
        selectors = [selectors]
    if not isinstance(selectors, list):
        raise _fail("缺少选择器", "target.selector is missing")
    svg = [s for s in selectors if isinstance(s, Mapping) and s.get("type") == "SvgSelector"]
    if len(svg) != 1 or not isinstance(svg[0].get("value"), str):
        raise _fail("需要恰好一个 SvgSelector", "exactly one SvgSelector with a value is needed")
    return svg_to_markup(svg[0]["value"])


def comment_text_of(document: Mapping[str, Any]) -> str:
    """The text of the annotation's first ``TextualBody``, or an empty string."""
    bodies = document.get("body", [])
    for body in bodies if isinstance(bodies, list) else [bodies]:
        if isinstance(body, Mapping) and body.get("type") == "TextualBody" and isinstance(body.get("value"), str):
            return str(body["value"])
    return ""
