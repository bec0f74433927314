from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from review.markups.annotation import CONTEXT, comment_text_of, from_web_annotation, to_web_annotation
from review.markups.errors import UnreadableAnnotation
from review.markups.geometry import validate_markup
from review.markups.model import MarkupKind
from review.markups.svg import markup_to_svg, svg_to_markup
from tests.review.markups.shapes import EVERY_KIND, SHEET_H, SHEET_W

BEIJING = timezone(timedelta(hours=8))
CREATED = datetime(2026, 3, 2, 9, 30, tzinfo=BEIJING)


def annotate(kind: MarkupKind, comment: str = "疏散宽度不足") -> dict[str, object]:
    markup = validate_markup(EVERY_KIND[kind], SHEET_W, SHEET_H)
    return to_web_annotation(
        markup,
        annotation_id="urn:uuid:6f1c2b4e-0000-4000-8000-000000000001",
        sheet_revision_iri="https://liantu.example/sheet-revisions/42",
        creator="张审查",
        created=CREATED,
        modified=CREATED + timedelta(hours=1),
        comment_text=comment,
    )


@pytest.mark.parametrize("kind", list(MarkupKind))
def test_round_trip_every_kind(kind: MarkupKind) -> None:
    markup = validate_markup(EVERY_KIND[kind], SHEET_W, SHEET_H)
    document = json.loads(json.dumps(annotate(kind)))
    back = validate_markup(from_web_annotation(document), SHEET_W, SHEET_H)
    assert back == markup
    assert from_web_annotation(json.dumps(document)) == back


def test_annotation_shape() -> None:
    document = annotate(MarkupKind.RECTANGLE)
    assert document["@context"] == CONTEXT
    assert document["type"] == "Annotation"
    assert document["motivation"] == "commenting"
    assert document["created"] == "2026-03-02T09:30:00+08:00"
    assert document["modified"] == "2026-03-02T10:30:00+08:00"
    assert document["creator"] == {"type": "Person", "name": "张审查"}
    assert document["body"] == {
        "type": "TextualBody",
        "value": "疏散宽度不足",
        "format": "text/plain",
        "language": "zh-CN",
        "purpose": "commenting",
    }
    target = document["target"]
    assert isinstance(target, dict)
    assert target["source"] == "https://liantu.example/sheet-revisions/42"
    svg, fragment = target["selector"]
    assert svg["type"] == "SvgSelector"
    assert svg["value"].startswith('<svg xmlns="http://www.w3.org/2000/svg"><g data-kind="rectangle"')
    assert '<rect x="100" y="120" width="200" height="100"/>' in svg["value"]
    assert fragment == {
        "type": "FragmentSelector",
        "conformsTo": "http://www.w3.org/TR/media-frags/",
        "value": "xywh=100,120,200,100",
    }
    assert comment_text_of(document) == "疏散宽度不足"


def test_highlight_motivation_and_no_body_without_comment() -> None:
    document = annotate(MarkupKind.HIGHLIGHT, comment="")
    assert document["motivation"] == "highlighting"
    assert "body" not in document
    assert comment_text_of(document) == ""


def test_text_is_escaped_in_svg() -> None:
    svg = markup_to_svg(EVERY_KIND[MarkupKind.ARROW])
    assert "&lt;b&gt;&amp;" in svg
    assert svg_to_markup(svg).text == "疏散距离超限 <b>&"


def test_cloud_svg_shows_bulges() -> None:
    svg = markup_to_svg(EVERY_KIND[MarkupKind.CLOUD])
    assert 'd="M600,100 A' in svg
    assert 'data-vertices="600,100 800,100 800,250 600,250"' in svg


def test_naive_time_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        to_web_annotation(
            EVERY_KIND[MarkupKind.RECTANGLE],
            annotation_id="x",
            sheet_revision_iri="y",
            creator="z",
            created=datetime(2026, 1, 1),
        )
    assert (
        to_web_annotation(
            EVERY_KIND[MarkupKind.RECTANGLE],
            annotation_id="x",
            sheet_revision_iri="y",
            creator="z",
            created=datetime(2026, 1, 1, tzinfo=UTC),
        )["modified"]
        == "2026-01-01T00:00:00+00:00"
    )


NS = 'xmlns="http://www.w3.org/2000/svg"'
HOSTILE_SVG = [
    f'<svg {NS}><g data-kind="rectangle" stroke="#ff0000" stroke-width="1" fill="none" opacity="1">'
    '<rect x="1" y="1" width="5" height="5"/><script>alert(1)</script></g></svg>',
    f'<svg {NS}><g data-kind="rectangle" stroke="#ff0000" stroke-width="1" fill="none" opacity="1" '
    'onload="alert(1)"><rect x="1" y="1" width="5" height="5"/></g></svg>',
    f'<svg {NS} xmlns:xlink="http://www.w3.org/1999/xlink"><g data-kind="rectangle" stroke="#ff0000" '
    'stroke-width="1" fill="none" opacity="1"><rect xlink:href="file:///etc/passwd" x="1" y="1" width="5" '
    'height="5"/></g></svg>',
    '<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<svg {NS}><g data-kind="arrow" stroke="#ff0000" stroke-width="1" fill="none" opacity="1">'
    '<line x1="1" y1="1" x2="9" y2="9"/><polygon points="9,9 5,5 6,6"/><text>&xxe;</text></g></svg>',
    f'<svg {NS}><g data-kind="rectangle" stroke="#ff0000" stroke-width="1" fill="none" opacity="1">'
    '<rect x="NaN" y="1" width="5" height="5"/></g></svg>',
    f'<svg {NS}><g data-kind="sticker" stroke="#ff0000" stroke-width="1" fill="none" opacity="1"/></svg>',
    '<svg><g data-kind="rectangle" stroke="#ff0000" stroke-width="1" fill="none" opacity="1">'
    '<rect x="1" y="1" width="5" height="5"/></g></svg>',
    f'<svg {NS}><g data-kind="polygon" stroke="#ff0000" stroke-width="1" fill="none" opacity="1">'
    '<polygon points="1,1 2"/></g></svg>',
    "not xml at all",
]


@pytest.mark.parametrize("svg", HOSTILE_SVG)
def test_hostile_or_foreign_svg_refused(svg: str) -> None:
    with pytest.raises(UnreadableAnnotation) as caught:
        svg_to_markup(svg)
    assert "root:" not in str(caught.value)


@pytest.mark.parametrize(
    "document",
    [
        "[]",
        "{not json",
        {"@context": "http://example.org/other", "type": "Annotation", "target": {}},
        {"@context": CONTEXT, "type": "Note", "target": {}},
        {"@context": CONTEXT, "type": "Annotation", "target": "https://x"},
        {
            "@context": CONTEXT,
            "type": "Annotation",
            "target": {"source": "x", "selector": {"type": "FragmentSelector"}},
        },
    ],
)
def test_malformed_annotation_refused(document: object) -> None:
    with pytest.raises(UnreadableAnnotation):
        from_web_annotation(document)  # type: ignore[arg-type]
