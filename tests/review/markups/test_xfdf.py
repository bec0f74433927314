from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from review.markups.errors import RejectedXfdf
from review.markups.geometry import validate_markup
from review.markups.model import DEFAULT_CLOUD_ARC, Markup, MarkupKind, Rect
from review.markups.records import AnnotatedMarkup, format_pdf_date, parse_pdf_date
from review.markups.xfdf import XfdfLimits, export_xfdf, import_xfdf, read_xfdf, validate_import
from tests.review.markups.shapes import EVERY_KIND, SHEET_H, SHEET_W

NS = {"x": "http://ns.adobe.com/xfdf/"}
BEIJING = timezone(timedelta(hours=8))
WHEN = datetime(2026, 3, 2, 9, 30, 5, tzinfo=BEIJING)


def record(markup: Markup, contents: str = "此处防火分区面积超限") -> AnnotatedMarkup:
    return AnnotatedMarkup(
        markup=validate_markup(markup, SHEET_W, SHEET_H),
        name="c0ffee00-0000-4000-8000-000000000001",
        author="李审查",
        subject="GB 55037-2022",
        contents=contents,
        modified=WHEN,
        created=WHEN - timedelta(days=1),
    )


def export(*records: AnnotatedMarkup) -> bytes:
    return export_xfdf(list(records), page_index=2, page_height=SHEET_H, pdf_filename="建施-01.pdf")


def wrap(annots: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><xfdf xmlns="http://ns.adobe.com/xfdf/" xml:space="preserve">'
        f"<annots>{annots}</annots></xfdf>"
    ).encode()


@pytest.mark.parametrize("kind", [k for k in MarkupKind if k is not MarkupKind.CLOUD])
def test_round_trip_every_kind(kind: MarkupKind) -> None:
    original = record(EVERY_KIND[kind])
    (back,) = import_xfdf(export(original), page_height=SHEET_H)
    markup = validate_markup(back.markup, SHEET_W, SHEET_H)
    expected = original.markup
    assert markup.kind is expected.kind
    assert markup.colour == expected.colour
    assert markup.stroke_width == expected.stroke_width
    assert markup.opacity == pytest.approx(expected.opacity)
    flat = [c for point in markup.points for c in point]
    assert flat == pytest.approx([c for point in expected.points for c in point], abs=1e-3)
    assert markup.text == expected.text
    assert markup.box == expected.box
    assert back.page_index == 2
    assert back.author == "李审查"
    assert back.subject == "GB 55037-2022"
    assert back.name == original.name
    assert back.modified == WHEN
    assert back.created == WHEN - timedelta(days=1)
    assert back.contents == (expected.text or "此处防火分区面积超限")


def test_cloud_keeps_polygon_and_maps_arc_to_intensity() -> None:
    small = record(EVERY_KIND[MarkupKind.CLOUD])
    big = record(replace(EVERY_KIND[MarkupKind.CLOUD], cloud_arc=30.0))
    root = etree.fromstring(export(small, big))
    polygons = root.findall(".//x:polygon", NS)
    assert [(p.get("style"), p.get("intensity")) for p in polygons] == [("cloudy", "1"), ("cloudy", "2")]
    first, second = import_xfdf(export(small, big), page_height=SHEET_H)
    assert first.markup.kind is MarkupKind.CLOUD
    assert first.markup.points == small.markup.points
    assert first.markup.cloud_arc == DEFAULT_CLOUD_ARC
    assert second.markup.cloud_arc == 2 * DEFAULT_CLOUD_ARC


def test_document_layout_and_y_flip() -> None:
    data = export(record(EVERY_KIND[MarkupKind.RECTANGLE]), record(EVERY_KIND[MarkupKind.ARROW]))
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)
    assert root.tag == "{http://ns.adobe.com/xfdf/}xfdf"
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    assert root.find("x:f", NS).get("href") == "建施-01.pdf"
    square = root.find("x:annots/x:square", NS)
    # (100,120)-(300,220) top-left origin, stroke 1.5 around → y up from the bottom of an 841.89 pt page.
    assert square.get("rect") == "98.5,620.39,301.5,723.39"
    assert square.get("color") == "#E60012"
    assert square.get("date") == "D:20260302093005+08'00'"
    assert square.get("title") == "李审查"
    assert square.get("page") == "2"
    assert square.find("x:contents", NS).text == "此处防火分区面积超限"
    line = root.find("x:annots/x:line", NS)
    assert line.get("head") == "OpenArrow"
    assert line.get("start") == "560,401.89"  # the tip
    assert line.get("end") == "500,341.89"


def test_script_text_kept_as_text_and_escaped() -> None:
    text = '<script>alert("x")</script> & ]]>'
    data = export(record(EVERY_KIND[MarkupKind.POLYGON], contents=text))
    assert b"<script>" not in data
    assert b'&lt;script&gt;alert("x")&lt;/script&gt; &amp; ]]&gt;' in data
    (back,) = import_xfdf(data, page_height=SHEET_H)
    assert back.contents == text


def test_acrobat_style_annotations() -> None:
    data = wrap(
        '<square color="#FF0000" creationdate="D:20250101120000+08\'00\'" flags="print" date="D:20250102" '
        'name="a1" page="0" rect="100,100,200,150" fringe="1,1,1,1" subject="Rectangle" title="王工" width="2">'
        '<contents-richtext><body xmlns="http://www.w3.org/1999/xhtml"><p>楼梯<span>宽度</span></p></body>'
        '</contents-richtext><popup flags="print,nozoom,norotate" open="no" page="0" rect="1,1,2,2"/></square>'
        '<polygon color="#FF0000" page="0" rect="0,0,1,1" style="cloudy" intensity="2" name="a2">'
        "<vertices>10,10;60,10;60,60;10,60;10,10</vertices></polygon>"
        '<line page="0" rect="0,0,1,1" start="10,10" end="90,90" head="None" tail="ClosedArrow" name="a3"/>'
        '<line page="0" rect="0,0,1,1" start="10,10" end="90,90" name="a4"/>'
        '<ink page="1" rect="0,0,1,1" color="#00ff00" name="a5"><inklist><gesture>1,1;5,5;9,2</gesture>'
        "<gesture>20,20;25,25</gesture></inklist></ink>"
        '<highlight page="0" rect="0,0,1,1" coords="10,50,90,50,10,40,90,40,10,30,80,30,10,20,80,20" name="a6"/>'
        '<freetext page="0" rect="100,700,200,740" name="a7"><contents>说明文字</contents></freetext>'
        '<text page="0" rect="0,0,20,20" name="sticky"><contents>便签</contents></text>'
        '<stamp page="0" rect="0,0,20,20" name="s2"/>'
    )
    report = read_xfdf(data, page_height=800)
    by_name = {m.name: m for m in report.markups}
    square = by_name["a1"]
    assert square.markup.points == ((101.0, 651.0), (199.0, 699.0))
    assert square.contents == "楼梯宽度"
    assert square.author == "王工"
    assert square.modified == datetime(2025, 1, 2, tzinfo=timezone(timedelta(hours=8)))
    cloud = by_name["a2"].markup
    assert cloud.kind is MarkupKind.CLOUD
    assert len(cloud.points) == 4
    assert cloud.cloud_arc == 2 * DEFAULT_CLOUD_ARC
    arrow = by_name["a3"].markup
    assert arrow.kind is MarkupKind.ARROW
    assert arrow.points == ((10.0, 790.0), (90.0, 710.0))
    assert by_name["a4"].markup.kind is MarkupKind.POLYLINE
    inks = [m for m in report.markups if m.name == "a5"]
    assert [len(m.markup.points) for m in inks] == [3, 2]
    assert inks[0].page_index == 1
    assert inks[0].markup.colour == "#00ff00"
    highlights = [m.markup for m in report.markups if m.name == "a6"]
    assert [h.points for h in highlights] == [((10.0, 750.0), (90.0, 760.0)), ((10.0, 770.0), (80.0, 780.0))]
    assert highlights[0].opacity == 0.35
    free = by_name["a7"].markup
    assert free.text == "说明文字"
    assert free.box == Rect(100.0, 60.0, 200.0, 100.0)
    assert {(f.code, f.name) for f in report.findings} == {
        ("XFDF_UNSUPPORTED_TYPE", "sticky"),
        ("XFDF_UNSUPPORTED_TYPE", "s2"),
    }
    for m in report.markups:
        validate_markup(m.markup, 600, 800)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<xfdf xmlns="http://ns.adobe.com/xfdf/"><annots><square page="0" rect="1,1,9,9"><contents>&lol9;</contents>
</square></annots></xfdf>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xfdf [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xfdf xmlns="http://ns.adobe.com/xfdf/"><annots><square page="0" rect="1,1,9,9"><contents>&xxe;</contents>
</square></annots></xfdf>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, XXE.replace(b"DOCTYPE", b"doctype")])
def test_doctype_and_entities_refused(data: bytes) -> None:
    with pytest.raises(RejectedXfdf) as caught:
        import_xfdf(data, page_height=800)
    assert caught.value.code == "XML_DOCTYPE_REFUSED"
    assert "root:" not in str(caught.value)
    assert "DOCTYPE" in caught.value.zh


@pytest.mark.parametrize("hostile", [XXE, BILLION_LAUGHS])
def test_utf16_doctype_refused_after_parse(hostile: bytes) -> None:
    # The byte scan cannot see a UTF-16 DOCTYPE; the parsed tree still reveals it.
    declaration = b'<?xml version="1.0" encoding="UTF-16"?>'
    data = hostile.replace(b'<?xml version="1.0"?>', declaration).decode().encode("utf-16")
    with pytest.raises(RejectedXfdf) as caught:
        import_xfdf(data, page_height=800)
    assert caught.value.code == "XML_DOCTYPE_REFUSED"


def test_undeclared_entity_refused() -> None:
    with pytest.raises(RejectedXfdf) as caught:
        import_xfdf(wrap('<square page="0" rect="1,1,9,9"><contents>&xxe;</contents></square>'), page_height=800)
    assert "root:" not in str(caught.value)


def test_bluebeam_and_foxit_variants() -> None:
    # No namespace, vertices as one comma list, interior colour only, opacity, Foxit rich text contents.
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?><xfdf><annots>'
        b'<polygon page="0" rect="0,0,1,1" interior-color="#0000FF" opacity="0.5" width="3" name="bb1" '
        b'subject="Cloud+" style="cloudy" intensity="1"><vertices>10,10,60,10,60,60,10,60</vertices></polygon>'
        b'<circle page="0" rect="100,100,200,150" name="fx1"><contents-richtext><body><p>\xe5\xad\x94\xe6\xb4\x9e</p>'
        b"</body></contents-richtext></circle></annots></xfdf>"
    )
    cloud, circle = import_xfdf(data, page_height=800)
    assert cloud.markup.kind is MarkupKind.CLOUD
    assert cloud.markup.points == ((10.0, 790.0), (60.0, 790.0), (60.0, 740.0), (10.0, 740.0))
    assert cloud.markup.colour == "#0000ff"
    assert cloud.markup.opacity == 0.5
    assert cloud.markup.stroke_width == 3
    assert cloud.subject == "Cloud+"
    assert circle.markup.kind is MarkupKind.ELLIPSE
    assert circle.contents == "孔洞"


def test_megabyte_contents_skipped_with_finding() -> None:
    big = "审" * 1_000_000
    data = wrap(
        f'<square page="0" rect="1,1,9,9" name="big"><contents>{big}</contents></square>'
        '<square page="0" rect="1,1,9,9" name="small"><contents>ok</contents></square>'
    )
    assert len(data) > 3_000_000
    report = read_xfdf(data, page_height=800)
    assert [m.name for m in report.markups] == ["small"]
    assert [(f.code, f.name) for f in report.findings] == [("XFDF_TEXT_TOO_LONG", "big")]


def test_size_limits() -> None:
    with pytest.raises(RejectedXfdf) as caught:
        import_xfdf(b"<xfdf/>" + b" " * 100, page_height=800, limits=XfdfLimits(max_bytes=50))
    assert caught.value.code == "XML_TOO_LARGE"
    many = wrap('<square page="0" rect="1,1,9,9"/>' * 11)
    with pytest.raises(RejectedXfdf) as caught:
        import_xfdf(many, page_height=800, limits=XfdfLimits(max_annotations=10))
    assert caught.value.code == "XFDF_TOO_MANY_ANNOTATIONS"
    gesture = ";".join(f"{i},{i}" for i in range(101))
    report = read_xfdf(
        wrap(f'<ink page="0" rect="0,0,1,1"><inklist><gesture>{gesture}</gesture></inklist></ink>'),
        page_height=800,
        limits=XfdfLimits(max_points=100),
    )
    assert report.markups == ()
    assert report.findings[0].code == "XFDF_TOO_MANY_POINTS"


@pytest.mark.parametrize(
    "data",
    [b"not xml", b"<html/>", b'<xfdf xmlns="http://example.org/other"/>'],
)
def test_not_xfdf_refused(data: bytes) -> None:
    with pytest.raises(RejectedXfdf):
        import_xfdf(data, page_height=800)


def test_bad_numbers_become_findings() -> None:
    report = read_xfdf(
        wrap(
            '<square page="0" rect="nan,1,9,9" name="n"/><square page="x" rect="1,1,9,9" name="p"/>'
            '<square page="0" rect="1,1,9" name="r"/><polygon page="0"><vertices>1,2,3</vertices></polygon>'
        ),
        page_height=800,
    )
    assert report.markups == ()
    assert [f.code for f in report.findings] == ["XFDF_BAD_NUMBER", "XFDF_BAD_PAGE", "XFDF_BAD_RECT", "XFDF_BAD_NUMBER"]


def test_pdf_dates() -> None:
    assert format_pdf_date(WHEN) == "D:20260302093005+08'00'"
    assert format_pdf_date(datetime(2026, 1, 1, tzinfo=UTC)) == "D:20260101000000+00'00'"
    assert format_pdf_date(datetime(2026, 1, 1, tzinfo=timezone(-timedelta(hours=5, minutes=30)))).endswith("-05'30'")
    assert parse_pdf_date("D:20260302093005+08'00'") == WHEN
    assert parse_pdf_date("D:20260302013005Z") == WHEN
    assert parse_pdf_date("D:2026") == datetime(2026, 1, 1, tzinfo=BEIJING)
    assert parse_pdf_date("D:20261302") is None
    assert parse_pdf_date("garbage") is None
    with pytest.raises(ValueError, match="time zone"):
        format_pdf_date(datetime(2026, 1, 1))


def test_validate_import_keeps_page_and_reports_invalid_shapes() -> None:
    data = wrap(
        '<square page="0" rect="10,10,50,50" name="ok" color="#00FF00"/>'
        '<polygon page="0" rect="0,0,1,1" name="bowtie"><vertices>0,0;100,100;100,0;0,100</vertices></polygon>'
        '<square page="0" rect="10,10,5000,50" name="wide"/>'
        '<square page="1" rect="10,10,50,50" name="elsewhere"/>'
        '<caret page="0" rect="1,1,2,2" name="caret"/>'
    )
    report = validate_import(read_xfdf(data, page_height=800), page_index=0, sheet_width=600, sheet_height=800)
    assert [m.name for m in report.markups] == ["ok"]
    assert report.markups[0].markup.points == ((10.0, 750.0), (50.0, 790.0))
    assert {(f.name, f.code) for f in report.findings} == {
        ("bowtie", "MARKUP_SELF_INTERSECTING"),
        ("wide", "MARKUP_OUTSIDE_SHEET"),
        ("caret", "XFDF_UNSUPPORTED_TYPE"),
    }


def test_plain_markups_export_without_details() -> None:
    data = export_xfdf([EVERY_KIND[MarkupKind.ELLIPSE]], page_index=0, page_height=SHEET_H, pdf_filename="a.pdf")
    circle = etree.fromstring(data).find("x:annots/x:circle", NS)
    assert circle is not None
    assert circle.get("title") is None
    assert circle.find("x:contents", NS) is None
    (back,) = import_xfdf(data, page_height=SHEET_H)
    assert back.markup.points == EVERY_KIND[MarkupKind.ELLIPSE].points
