from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pymupdf
import pytest

from review.markups.errors import MarkupError
from review.markups.geometry import validate_markup
from review.markups.model import MarkupKind
from review.markups.pdf_annotations import annotate_pdf
from review.markups.records import AnnotatedMarkup
from tests.review.markups.shapes import EVERY_KIND, SHEET_H, SHEET_W

EXPECTED_TYPE = {
    MarkupKind.RECTANGLE: "Square",
    MarkupKind.ELLIPSE: "Circle",
    MarkupKind.CLOUD: "Polygon",
    MarkupKind.POLYGON: "Polygon",
    MarkupKind.POLYLINE: "PolyLine",
    MarkupKind.ARROW: "Line",
    MarkupKind.FREE_TEXT: "FreeText",
    MarkupKind.FREEHAND: "Ink",
    MarkupKind.HIGHLIGHT: "Highlight",
}


def blank_sheet(rotation: int = 0) -> bytes:
    with pymupdf.open() as document:
        page = document.new_page(width=SHEET_W, height=SHEET_H)
        page.insert_text((50, 50), "Liantu sheet")
        if rotation:
            page.set_rotation(rotation)
        return bytes(document.tobytes())


@pytest.fixture(scope="module")
def annotated() -> pymupdf.Document:
    records = [
        AnnotatedMarkup(
            markup=validate_markup(EVERY_KIND[kind], SHEET_W, SHEET_H),
            name=f"markup-{kind.value}",
            author="赵审查",
            subject="GB 50016-2014 5.5.17",
            contents=f"意见：{kind.value}",
            modified=datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        )
        for kind in MarkupKind
    ]
    return pymupdf.open(stream=annotate_pdf(blank_sheet(), 0, records), filetype="pdf")


def test_every_kind_becomes_its_pdf_annotation(annotated: pymupdf.Document) -> None:
    page = annotated[0]
    annots = list(page.annots())
    assert [a.type[1] for a in annots] == [EXPECTED_TYPE[k] for k in MarkupKind]
    for kind, annot in zip(MarkupKind, annots, strict=True):
        markup = EVERY_KIND[kind]
        assert annot.info["title"] == "赵审查"
        assert annot.info["subject"] == "GB 50016-2014 5.5.17"
        assert annot.info["content"] == (markup.text or f"意见：{kind.value}")
        assert annot.info["modDate"].startswith("D:20260302093000+08")
        b = markup.bounds
        # The annotation's rect holds the shape (plus stroke, arrow heads and callouts).
        assert annot.rect.x0 <= b.x0 + 0.01
        assert annot.rect.y0 <= b.y0 + 0.01
        assert annot.rect.x1 >= b.x1 - 0.01
        assert annot.rect.y1 >= b.y1 - 0.01
        assert annot.rect.width < b.x1 - b.x0 + 40
        nm = annotated.xref_get_key(annot.xref, "NM")
        assert nm == ("string", f"markup-{kind.value}")


def test_cloud_border_and_arrow_end_and_opacity(annotated: pymupdf.Document) -> None:
    page = annotated[0]
    annots = {a.info["content"]: a for a in page.annots()}
    assert annots["意见：cloud"].border["clouds"] == 1
    assert annots["意见：polygon"].border["clouds"] in (-1, 0)
    arrow = annots[EVERY_KIND[MarkupKind.ARROW].text]
    assert arrow.line_ends == (pymupdf.PDF_ANNOT_LE_NONE, pymupdf.PDF_ANNOT_LE_OPEN_ARROW)
    assert arrow.vertices == [(500.0, 500.0), (560.0, 440.0)]
    assert annots["意见：highlight"].opacity == pytest.approx(0.35)
    assert annots["意见：rectangle"].colors["stroke"] == pytest.approx((230 / 255, 0.0, 18 / 255), abs=0.01)


def test_free_text_renders_chinese(annotated: pymupdf.Document) -> None:
    box = EVERY_KIND[MarkupKind.FREE_TEXT].box
    assert box is not None
    pixmap = annotated[0].get_pixmap(clip=pymupdf.Rect(box.x0, box.y0, box.x1, box.y1), dpi=72)
    samples = pixmap.samples
    dark = sum(1 for i in range(0, len(samples), pixmap.n) if samples[i] < 128)
    assert dark > 50  # glyphs were drawn, not left blank


def test_rotated_page_keeps_displayed_position() -> None:
    markup = validate_markup(EVERY_KIND[MarkupKind.RECTANGLE], SHEET_H, SHEET_W)  # portrait as displayed
    data = annotate_pdf(blank_sheet(rotation=90), 0, [markup])
    with pymupdf.open(stream=data, filetype="pdf") as document:
        page = document[0]
        (annot,) = page.annots()
        shown = annot.rect * page.rotation_matrix
        assert shown.x0 == pytest.approx(100 - 1.5, abs=1)
        assert shown.y0 == pytest.approx(120 - 1.5, abs=1)


def test_bad_input_refused() -> None:
    with pytest.raises(MarkupError) as caught:
        annotate_pdf(b"not a pdf", 0, [])
    assert caught.value.code == "PDF_ANNOTATE_FAILED"
    with pytest.raises(MarkupError, match="no page 3"):
        annotate_pdf(blank_sheet(), 2, [])
